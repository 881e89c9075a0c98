"""The report of an evaluation: metrics.csv, report.md (fusion table, segmentation IoU or
agreement, box-level scores) and bars.png, built from an ``evaluate.EvalResult``.

Building the Markdown text (``build_report``) writes nothing; ``write_outputs`` writes the
three files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtvif_ros.classes import MSRS_CLASSES
from mtvif_ros.metrics import FUSION_KEYS, BoxScores, ConfusionMatrix, box_table
from mtvif_ros.metrics.segmentation import MSRS_SHORT, iou_table_header, iou_table_row
from mtvif_ros.tables import finite_mean_std, write_csv

if TYPE_CHECKING:  # evaluate.py imports this module
    from mtvif_ros.evaluation.run import EvalResult


Summary = dict[str, dict[str, tuple[float, float, int]]]


def summarize(rows: list[dict[str, Any]]) -> Summary:
    """method → metric → (mean, std, number of finite values); NaNs (e.g. SCD of a copy)
        are left out of mean and std and counted (so are the fusion metrics a visible-only pair
    lacks)."""
    return {
        method: {
            key: finite_mean_std(r.get(key, math.nan) for r in rows if r["method"] == method)
            for key in (*FUSION_KEYS, "ms")
        }
        for method in dict.fromkeys(r["method"] for r in rows)
    }


@dataclass(frozen=True)
class ReportSpec:
    """What a report says about its data. ``agreement``: the labels are another model's
    predictions (scored as agreement, never accuracy). ``iou_classes`` narrows the
    segmentation section to those classes' IoU, their mean and pixel accuracy (labels with
    only some MSRS classes, e.g. CamVid). ``box_sources`` names the box variants (recall
    over the first)."""

    title: str
    n_pairs: int
    agreement: bool = False
    iou_classes: Sequence[int] | None = None
    box_sources: Sequence[str] = ()


def write_outputs(result: EvalResult, out: str | Path, spec: ReportSpec) -> str:
    """metrics.csv, report.md and bars.png (not without fusion metrics); returns the
    Markdown report."""
    out = Path(out)
    write_csv(out / "metrics.csv", result.rows)
    summary = summarize(result.rows)
    text = build_report(result, summary, spec)
    write_report(out, text, summary, spec.title)
    return text


def write_report(out: Path, text: str, summary: Summary, title: str) -> None:
    """report.md (the Markdown ``text``) and bars.png (the ``summary`` as bar charts,
    when it has a fusion metric to draw)."""
    (out / "report.md").write_text(text)
    if not summary or any(stats[k][2] for stats in summary.values() for k in FUSION_KEYS):
        _bars(summary, out / "bars.png", title)


def _visible_only(rows: list[dict[str, Any]]) -> bool:
    """True when rows exist and none has fusion metrics (every pair lacked IR)."""
    return bool(rows) and not any(FUSION_KEYS[0] in r for r in rows)


def build_report(result: EvalResult, summary: Summary, spec: ReportSpec) -> str:
    """The Markdown report: fusion metrics table, segmentation tables, object boxes,
    skipped inputs. Pure (writes nothing), so the text can be checked or reused without a
    folder."""
    title, agreement, n_pairs = spec.title, spec.agreement, spec.n_pairs
    iou_classes, box_sources = spec.iou_classes, spec.box_sources
    visible_only = _visible_only(result.rows)
    skipped = result.skipped
    n_done = max(0, n_pairs - skipped)
    what = _count(n_done, "image") if visible_only else f"{n_done} pairs"
    if skipped:
        what += f" ({skipped} of {n_pairs} skipped: see the end)"
    lines = [f"# {title}", "", f"{what}, {result.seconds:.1f} s in total.", ""]
    if visible_only:
        lines += _visible_only_note(summary)
    else:
        lines += fusion_table(result.rows, summary)
        lines += [
            "",
            "Mean ± std over pairs. Grey 0-255 conventions of the CDDFuse/EMMA evaluator: MI in "
            "nats, VIF/SSIM summed over the two sources, PSNR peak 255; IR-/visible-copy rows "
            "show what copying a source scores.",
        ]
    if result.confusion and iou_classes:
        lines += _class_iou_table(result.confusion, agreement, iou_classes)
    elif result.confusion:
        lines += _segmentation_tables(result.confusion, agreement)
    if result.boxes:
        lines += _box_section(result.boxes, box_sources)
    if result.problems:
        lines += ["", "## Skipped", ""] + [f"- {p}" for p in result.problems]
    return "\n".join(lines) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _visible_only_note(summary: Summary) -> list[str]:
    """What a visible-only run leaves out, and the time per image of each method."""
    lines = [
        "Visible-only input (no IR image): no fusion metrics (they compare the fused image "
        "with both sources) and no classical baselines (they fuse IR with visible). The "
        "networks run with the IR input set to zeros, the missing-IR convention of training.",
        "",
        "| method | ms/image |",
        "|---|---:|",
    ]
    return lines + [f"| {method} | {stats['ms'][0]:.0f} |" for method, stats in summary.items()]


def fusion_table(rows: list[dict[str, Any]], summary: Summary | None = None) -> list[str]:
    """The fusion metrics of ``rows`` (one per pair and ``method``, with ``ms``) as a
    Markdown table: mean ± std per method and metric; a cell says how many values were finite when
    some were not (e.g. SCD of a copy), and the last column is the mean time per pair.
    Every tool's fusion table (``mtvif-eval``, ``mtvif-bag eval``) is this one."""
    summary = summarize(rows) if summary is None else summary
    lines = ["| method | " + " | ".join(FUSION_KEYS) + " | ms/pair |"]
    lines.append("|---|" + "---:|" * (len(FUSION_KEYS) + 1))
    for method, stats in summary.items():
        total = sum(r["method"] == method for r in rows)
        cells = []
        for key in FUSION_KEYS:
            mean, std, n = stats[key]
            cell = "n/a" if n == 0 else f"{mean:.3f} ± {std:.3f}"
            if 0 < n < total:
                cell += f" ({n} finite)"
            cells.append(cell)
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {stats['ms'][0]:.0f} |")
    return lines


def _segmentation_tables(confusion: dict[str, ConfusionMatrix], agreement: bool) -> list[str]:
    """Per-class IoU and mIoU/pixel tables, worded as agreement when the labels are an
    independent segmenter's predictions rather than ground truth."""
    what = (
        "agreement with an independent segmenter's predictions (NOT accuracy)"
        if agreement
        else "IoU (%) against ground-truth labels"
    )
    pixel = "pixel agreement" if agreement else "pixel accuracy"
    lines = ["", f"## Segmentation: {what}", "", iou_table_header()]
    lines += [iou_table_row(method, cm) for method, cm in confusion.items()]
    lines += ["", f"| method | mIoU (9 classes) | mIoU w/o unlabelled | {pixel} |"]
    lines.append("|---|---:|---:|---:|")
    for method, cm in confusion.items():
        sc = cm.scores()
        lines.append(
            f"| {method} | {100 * sc['mIoU']:.1f} | {100 * sc['mIoU_no_unlabelled']:.1f} | "
            f"{100 * sc['pixel_accuracy']:.1f} |"
        )
    return lines


def _class_iou_table(
    confusion: dict[str, ConfusionMatrix], agreement: bool, classes: Sequence[int]
) -> list[str]:
    """IoU of the given classes, their mean and pixel accuracy, per method; pixel accuracy
    counts every labelled pixel (ignore skipped), so a class the labels lack is an error."""
    names = [MSRS_CLASSES[c] for c in classes]
    what = (
        "agreement with an independent segmenter's predictions (NOT accuracy)"
        if agreement
        else "IoU (%) against ground-truth labels"
    )
    pixel = "pixel agreement" if agreement else "pixel accuracy"
    lines = ["", f"## Segmentation: {what}, {', '.join(names)}", ""]
    lines.append(
        "| method | "
        + " | ".join(MSRS_SHORT[c] for c in classes)
        + f" | mean ({len(classes)} classes) | {pixel} |"
    )
    lines.append("|---|" + "---:|" * (len(classes) + 2))
    for method, cm in confusion.items():
        iou = cm.iou()[list(classes)]
        cells = ["-" if np.isnan(v) else f"{100 * v:.1f}" for v in iou]
        mean = f"{100 * np.nanmean(iou):.1f}" if np.isfinite(iou).any() else "-"
        acc = cm.scores()["pixel_accuracy"]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {mean} | {100 * acc:.1f} |")
    lines += [
        "",
        "IoU from one confusion matrix over all images; pixel accuracy over every labelled "
        "pixel (ignored ones skipped), so predicting a class these labels do not have counts "
        "as an error.",
    ]
    return lines


def _box_section(boxes: dict[str, BoxScores], sources: Sequence[str]) -> list[str]:
    """The object-box table and how to read it (definitions in ``metrics.boxes``)."""
    first = next(iter(boxes.values()))
    recall_src = f"`{sources[0]}`" if sources else "the first box variant"
    union_src = ", ".join(f"`{s}`" for s in sources) if sources else "all box variants"
    n = first.images
    lines = ["", "## Objects: box recall and pixel precision", ""]
    lines += box_table(boxes)
    lines += [
        "",
        f"{_count(n['all'], 'image')} ({n['day']} day, {n['night']} night, from the name "
        "suffix D/N). "
        f"Recall (%, found/boxes): share of the {recall_src} boxes at least "
        f"{first.min_height:g} px tall in which at least {100 * first.coverage:g} % of the "
        "pixels are predicted as the box's class. Precision (%): share of the pixels "
        "predicted as a class that lie inside a box of that class (union of "
        f"{union_src}), pooled over images. Boxes are not masks; neither number is IoU.",
    ]
    return lines


def _bars(summary: Summary, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(summary)
    fig, axes = plt.subplots(3, 4, figsize=(14, 8))
    for ax, key in zip(axes.ravel(), FUSION_KEYS, strict=False):
        means = [summary[m][key][0] for m in methods]
        stds = [summary[m][key][1] for m in methods]
        ax.bar(range(len(methods)), means, yerr=stds, color="tab:blue", alpha=0.8)
        ax.set_xticks(range(len(methods)), methods, rotation=45, ha="right", fontsize=7)
        ax.set_title(key)
    axes.ravel()[-1].axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
