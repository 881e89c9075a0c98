"""Evaluate fusion methods on a dataset: per-image metrics, a Markdown report, images, plots.

Used by ``mtvif-eval``; pure Python (no rclpy). The network methods run through the same
FusionEngine as the node. Metrics compare the fused image with the *8-bit* IR image the
method saw (16-bit IR is normalized once, with the engine's settings) and the visible image.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mtvif_ros.baselines import FUSERS, fuse_classical
from mtvif_ros.engine import FusionEngine
from mtvif_ros.imaging import normalize_ir
from mtvif_ros.metrics import FUSION_KEYS, ConfusionMatrix, fusion_metrics
from mtvif_ros.metrics.segmentation import iou_table_header, iou_table_row
from mtvif_ros.tables import finite_mean_std, write_csv

TABLE_KEYS = FUSION_KEYS  # EN SD SF AG MI SCD VIF Qabf SSIM PSNR CC
CLASSICAL = tuple(FUSERS)


@dataclass
class Method:
    """A named fusion method: a network (engine) or a classical baseline."""

    name: str
    engine: FusionEngine | None = None

    def run(self, ir: np.ndarray, vis: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if self.engine is not None:
            r = self.engine.run(ir, vis)
            return r.fused, r.labels
        return fuse_classical(self.name, ir, vis), None


@dataclass
class EvalResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    confusion: dict[str, ConfusionMatrix] = field(default_factory=dict)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def ir_as_uint8(ir: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The 8-bit IR image metrics compare against (normalized, at the visible size)."""
    ir8 = ir if ir.dtype == np.uint8 else (normalize_ir(ir) * 255 + 0.5).astype(np.uint8)
    if ir8.shape != shape:
        ir8 = cv2.resize(ir8, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return ir8


def _safe(name: str) -> str:
    return name.replace("/", "_").replace("\\", "_")


def evaluate(
    dataset: Sequence[Any],
    methods: Sequence[Method],
    out: str | Path,
    grid_count: int = 6,
    save_images: bool = True,
    progress: bool = True,
) -> EvalResult:
    """Run every method on every pair; write images and the grid; return rows and IoUs."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = EvalResult(problems=list(getattr(dataset, "problems", [])))
    grid_rows = []
    t_start = time.perf_counter()
    indices = range(len(dataset))
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc="evaluate", unit="pair")
    for i in indices:
        try:
            pair = dataset[i]
        except OSError as exc:  # unreadable file: report by name, go on
            result.problems.append(str(exc))
            continue
        ir8 = ir_as_uint8(pair.ir, pair.vis.shape[:2])
        grid = [cv2.cvtColor(ir8, cv2.COLOR_GRAY2BGR), _bgr(pair.vis)]
        for m in methods:
            t0 = time.perf_counter()
            fused, labels = m.run(pair.ir, pair.vis)
            ms = 1e3 * (time.perf_counter() - t0)
            row = {"image": pair.name, "method": m.name, "ms": ms}
            row.update(fusion_metrics(fused, ir8, pair.vis))
            result.rows.append(row)
            grid.append(fused)
            if labels is not None:
                if pair.labels is not None:
                    cm = result.confusion.setdefault(
                        m.name, ConfusionMatrix(m.engine.checkpoint.config.num_classes)
                    )
                    cm.update(labels, pair.labels)
                grid.append(cv2.cvtColor(m.engine.colorize(labels), cv2.COLOR_RGB2BGR))
                if save_images:
                    _write(out / "labels" / m.name / f"{_safe(pair.name)}.png", labels)
            if save_images:
                _write(out / "fused" / m.name / f"{_safe(pair.name)}.png", fused)
        if len(grid_rows) < grid_count:
            grid_rows.append(_grid_row(grid))
    result.seconds = time.perf_counter() - t_start
    if grid_rows:
        cv2.imwrite(str(out / "grid.png"), np.vstack(grid_rows))
    return result


def _bgr(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


def _grid_row(images: list[np.ndarray], box: tuple[int, int] = (160, 213)) -> np.ndarray:
    """Tiles letterboxed into equal boxes, so rows of differently sized pairs stack."""
    bh, bw = box
    tiles = []
    for img in images:
        img = _bgr(img)
        scale = min(bh / img.shape[0], bw / img.shape[1])
        h, w = max(1, round(img.shape[0] * scale)), max(1, round(img.shape[1] * scale))
        tile = np.zeros((bh, bw, 3), np.uint8)
        top, left = (bh - h) // 2, (bw - w) // 2
        tile[top : top + h, left : left + w] = cv2.resize(
            img, (w, h), interpolation=cv2.INTER_AREA
        )
        tiles.append(tile)
    return np.hstack(tiles)


def _write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


Summary = dict[str, dict[str, tuple[float, float, int]]]


def summarize(rows: list[dict[str, Any]]) -> Summary:
    """method → metric → (mean, std, number of finite values); NaNs (e.g. SCD of a copy)
    are left out of mean and std and counted."""
    return {
        method: {
            key: finite_mean_std(r[key] for r in rows if r["method"] == method)
            for key in (*TABLE_KEYS, "ms")
        }
        for method in dict.fromkeys(r["method"] for r in rows)
    }


def write_outputs(
    result: EvalResult, out: str | Path, title: str, agreement: bool, n_pairs: int
) -> str:
    """metrics.csv, report.md and bars.png; returns the Markdown report."""
    out = Path(out)
    write_csv(out / "metrics.csv", result.rows)
    summary = summarize(result.rows)
    text = build_report(result, summary, title, agreement, n_pairs)
    write_report(out, text, summary, title)
    return text


def write_report(out: Path, text: str, summary: Summary, title: str) -> None:
    """report.md (the Markdown ``text``) and bars.png (the ``summary`` as bar charts)."""
    (out / "report.md").write_text(text)
    _bars(summary, out / "bars.png", title)


def build_report(
    result: EvalResult, summary: Summary, title: str, agreement: bool, n_pairs: int
) -> str:
    """The Markdown report: fusion metrics table, segmentation tables, skipped inputs.
    Pure (writes nothing), so the text can be checked or reused without a folder."""
    lines = [f"# {title}", "", f"{n_pairs} pairs, {result.seconds:.1f} s in total.", ""]
    lines += _fusion_table(result.rows, summary)
    lines += [
        "",
        "Mean ± std over pairs. Grey 0-255 conventions of the CDDFuse/EMMA evaluator: MI in "
        "nats, VIF/SSIM summed over the two sources, PSNR peak 255; IR-/visible-copy rows "
        "show what copying a source scores.",
    ]
    if result.confusion:
        lines += _segmentation_tables(result.confusion, agreement)
    if result.problems:
        lines += ["", "## Skipped", ""] + [f"- {p}" for p in result.problems]
    return "\n".join(lines) + "\n"


def _fusion_table(rows: list[dict[str, Any]], summary: Summary) -> list[str]:
    """Mean ± std per method and metric; a cell says how many values were finite when
    some were not (e.g. SCD of a copy), and the last column is the mean time per pair."""
    lines = ["| method | " + " | ".join(TABLE_KEYS) + " | ms/pair |"]
    lines.append("|---|" + "---:|" * (len(TABLE_KEYS) + 1))
    for method, stats in summary.items():
        total = sum(r["method"] == method for r in rows)
        cells = []
        for key in TABLE_KEYS:
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


def _bars(summary: Summary, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(summary)
    fig, axes = plt.subplots(3, 4, figsize=(14, 8))
    for ax, key in zip(axes.ravel(), TABLE_KEYS, strict=False):
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
