"""mtvif-eval: compare MultiTaskVIF (and the cascade, and classical baselines) on a dataset.

    mtvif-eval --manifest ../shared/data/manifest.csv --sets msrs --out eval/msrs
    mtvif-eval --manifest ../shared/data/manifest.csv --sets msrs --labels-dir teacher_labels \
        --out eval/msrs_agreement        # scored as AGREEMENT with a teacher, not accuracy
    mtvif-eval --manifest ../shared/data/manifest.csv --sets msrs --split test \
        --boxes boxes boxes_visible --out eval/msrs_boxes   # + box recall/pixel precision
    mtvif-eval --msrs /data/MSRS --split test --out eval/msrs_full   # with real labels
    mtvif-eval --camvid ../shared/data/camvid --split test --out eval/camvid  # visible only
    mtvif-eval --folder my_pairs/ --out eval/mine       # ir/ vi/ [labels/] by file name
    mtvif-eval --sample 8 --out eval/sample             # the built-in labelled scenes

Writes OUT/metrics.csv (per pair and method), OUT/report.md (mean ± std per method; IoU
table where labels exist; object-box table with --boxes), OUT/fused/<method>/*.png,
OUT/labels/<method>/*.png, OUT/grid.png (IR | VIS | each method [| labels]) and
OUT/bars.png. CamVid has no IR: its report has the networks' car/person/bike IoU and
pixel accuracy, no fusion metrics and no classical baselines.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, NamedTuple

from mtvif_ros.data import SyntheticScenes, folder_pairs, manifest_pairs, msrs_pairs
from mtvif_ros.data.boxes import BOX_CLASSES
from mtvif_ros.data.camvid import CamVid
from mtvif_ros.engine import FusionEngine
from mtvif_ros.evaluation.report import ReportSpec, write_outputs
from mtvif_ros.evaluation.run import CLASSICAL, Method, evaluate
from mtvif_ros.host_memory import keep_freed_memory_for
from mtvif_ros.model import CheckpointError
from mtvif_ros.tools.demo import parse_size

DEFAULT_METHODS = ("multitaskvif", "cascade", *CLASSICAL)


def main(argv: list[str] | None = None) -> int:
    """Run mtvif-eval; exit code 0, or 2 for a missing dataset, checkpoint or bad input."""
    ap = _parser()
    args = ap.parse_args(argv)
    keep_freed_memory_for(args.device)
    logging.basicConfig(level=logging.WARNING, format="[%(levelname)s] %(name)s: %(message)s")

    _check_arguments(ap, args)
    try:
        source = _dataset(args)
    except FileNotFoundError as exc:
        return _error(str(exc))
    data = _Limited(source.data, args.limit) if args.limit else source.data
    if len(data) == 0:
        return _error(f"no pairs found in {source.title}")
    try:
        methods = _methods(args, source.visible_only)
    except (CheckpointError, ValueError) as exc:
        return _error(str(exc))
    _run(args, data, methods, source)
    return 0


def _check_arguments(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse (exit 2 via argparse) unknown methods and options of another source."""
    unknown = sorted(set(args.methods) - set(DEFAULT_METHODS))
    if unknown:
        ap.error(
            f"unknown method(s) {', '.join(unknown)}; choose from {' '.join(DEFAULT_METHODS)}"
        )
    if args.boxes and not args.manifest:
        ap.error("--boxes needs --manifest (box files live in <set>/<dir>/ beside the images)")
    if not 0.0 < args.box_coverage <= 1.0:
        ap.error("--box-coverage must be in (0, 1]")


def _error(message: str) -> int:
    """Print ``message`` as one error line on stderr; the exit code of a refused run."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def _parser() -> argparse.ArgumentParser:
    """The mtvif-eval command line: one data source, the methods and the outputs."""
    ap = argparse.ArgumentParser(
        prog="mtvif-eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_arguments(ap)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument(
        "--methods",
        nargs="*",
        default=list(DEFAULT_METHODS),
        help=f"any of {' '.join(DEFAULT_METHODS)} (default: all)",
    )
    ap.add_argument(
        "--checkpoint", default=None, help="MultiTaskVIF checkpoint (default: packaged)"
    )
    ap.add_argument(
        "--cascade-checkpoint",
        default=None,
        help="cascade checkpoint (the cascade row is skipped without one)",
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--size",
        type=parse_size,
        default=None,
        metavar="HxW",
        help="network inference size (default: native)",
    )
    ap.add_argument(
        "--min-confidence",
        type=float,
        default=0.0,
        metavar="P",
        help="label a pixel unlabelled when its class probability is below P (the node's "
        "labels.min_confidence; default 0: plain argmax)",
    )
    ap.add_argument("--limit", type=int, default=0, help="evaluate only the first N pairs")
    ap.add_argument("--grid", type=int, default=6, help="pairs shown in grid.png")
    ap.add_argument("--no-images", action="store_true", help="do not write fused/label images")
    ap.add_argument("--no-progress", action="store_true")
    return ap


def _add_data_arguments(ap: argparse.ArgumentParser) -> None:
    """The data source (exactly one of four) and its manifest/MSRS selection options."""
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest", help="manifest CSV (set,name,ir_path,vi_path,...,split)")
    src.add_argument("--msrs", help="MSRS release root ({train,test}/{ir,vi,Segmentation_labels})")
    src.add_argument("--folder", help="folder with ir/, vi/ and optional labels/")
    src.add_argument("--sample", type=int, help="N built-in labelled sample scenes")
    src.add_argument(
        "--camvid",
        help="CamVid folder or its index.csv: visible-only scenes with car/person/bike labels",
    )
    ap.add_argument("--sets", nargs="*", default=None, help="manifest sets (default: all)")
    ap.add_argument(
        "--split", default=None, help="manifest split / MSRS or CamVid split (default test)"
    )
    ap.add_argument(
        "--labels-dir",
        default=None,
        help="manifest only: label folder inside each set (e.g. teacher_labels)",
    )
    ap.add_argument(
        "--ground-truth",
        action="store_true",
        help="manifest labels are ground truth (default: scored as agreement)",
    )
    _add_box_arguments(ap)


def _add_box_arguments(ap: argparse.ArgumentParser) -> None:
    """Object boxes as weak real labels: folders and the recall rule."""
    ap.add_argument(
        "--boxes",
        nargs="+",
        default=None,
        metavar="DIR",
        help="manifest only: YOLO box folders inside each set (e.g. boxes boxes_visible); "
        "box recall over the first, pixel precision against the union",
    )
    ap.add_argument(
        "--box-coverage",
        type=float,
        default=0.25,
        help="share of a box's pixels that must carry its class for the box to count as "
        "found (default 0.25)",
    )
    ap.add_argument(
        "--box-min-height",
        type=float,
        default=16.0,
        help="boxes shorter than this (px) are left out of recall (default 16)",
    )


class _Source(NamedTuple):
    """The chosen data and how to report it: ``agreement`` when the labels are another
    segmenter's predictions; ``visible_only`` for scenes without IR (CamVid)."""

    data: Any
    title: str
    agreement: bool = False
    visible_only: bool = False


def _dataset(args: argparse.Namespace) -> _Source:
    """The chosen source; FileNotFoundError names a missing one."""
    if args.manifest:
        data = manifest_pairs(
            args.manifest, args.sets, args.split, args.labels_dir, args.boxes or ()
        )
        agreement = bool(args.labels_dir) and not args.ground_truth
        return _Source(data, f"{args.manifest} {' '.join(args.sets or ['all sets'])}", agreement)
    if args.msrs:
        return _Source(msrs_pairs(args.msrs, args.split or "test"), f"MSRS {args.split or 'test'}")
    if args.folder:
        return _Source(folder_pairs(args.folder), args.folder)
    if args.camvid:
        split = args.split or "test"
        return _Source(CamVid(args.camvid, split), f"CamVid {split} (visible only)", False, True)
    data = SyntheticScenes(args.sample, 240, 320, seed=50_000)  # disjoint from training
    return _Source(data, f"{args.sample} built-in sample scenes")


def _methods(args: argparse.Namespace, visible_only: bool = False) -> list[Method]:
    """The requested methods in order; networks load their checkpoints here, so a bad one
    raises CheckpointError before any pair is evaluated. The cascade needs its checkpoint;
    classical baselines need IR, so a visible-only source skips them."""
    methods = []
    skipped = [n for n in args.methods if n not in ("multitaskvif", "cascade") and visible_only]
    if skipped:
        print(f"note: visible-only data; classical baselines skipped ({' '.join(skipped)})")
    for name in args.methods:
        if name in skipped:
            continue
        if name not in ("multitaskvif", "cascade"):
            methods.append(Method(name))
        elif name == "cascade" and not args.cascade_checkpoint:
            print("note: no --cascade-checkpoint given; the cascade row is skipped")
        else:
            checkpoint = args.checkpoint if name == "multitaskvif" else args.cascade_checkpoint
            engine = FusionEngine(
                checkpoint, args.device, size=args.size, min_confidence=args.min_confidence
            )
            methods.append(Method(name, engine))
    if visible_only and not methods:
        raise ValueError("visible-only data needs a network method (multitaskvif or cascade)")
    return methods


def _run(args: argparse.Namespace, data: Any, methods: list[Method], source: _Source) -> None:
    """Evaluate, write the outputs and print the report and where it went."""
    result = evaluate(
        data,
        methods,
        args.out,
        args.grid,
        not args.no_images,
        not args.no_progress,
        box_coverage=args.box_coverage,
        box_min_height=args.box_min_height,
    )
    spec = ReportSpec(
        f"Evaluation on {source.title}",
        len(data),
        source.agreement,
        BOX_CLASSES if source.visible_only else None,
        args.boxes or (),
    )
    print(write_outputs(result, args.out, spec))
    plots = "grid.png" if source.visible_only else "grid.png, bars.png"
    print(f"wrote {args.out}/report.md, metrics.csv, {plots}")


class _Limited:
    def __init__(self, data, n: int) -> None:
        self.data, self.n = data, min(n, len(data))
        self.problems = getattr(data, "problems", [])

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return self.data[i]


if __name__ == "__main__":
    sys.exit(main())
