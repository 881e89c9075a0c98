"""mtvif-eval: compare MultiTaskVIF (and the cascade, and classical baselines) on a dataset.

    mtvif-eval --manifest ../shared/data/manifest.csv --sets msrs --out eval/msrs
    mtvif-eval --manifest ../shared/data/manifest.csv --sets msrs --labels-dir teacher_labels \
        --out eval/msrs_agreement        # scored as AGREEMENT with a teacher, not accuracy
    mtvif-eval --msrs /data/MSRS --split test --out eval/msrs_full   # with real labels
    mtvif-eval --folder my_pairs/ --out eval/mine       # ir/ vi/ [labels/] by file name
    mtvif-eval --sample 8 --out eval/sample             # the built-in labelled scenes

Writes OUT/metrics.csv (per pair and method), OUT/report.md (mean ± std per method; IoU
table where labels exist), OUT/fused/<method>/*.png, OUT/labels/<method>/*.png,
OUT/grid.png (IR | VIS | each method [| labels]) and OUT/bars.png.
"""

from __future__ import annotations

import argparse
import logging
import sys

from mtvif_ros.data import SyntheticScenes, folder_pairs, manifest_pairs, msrs_pairs
from mtvif_ros.engine import FusionEngine
from mtvif_ros.evaluate import CLASSICAL, Method, evaluate, write_outputs
from mtvif_ros.host_memory import keep_freed_memory
from mtvif_ros.model import CheckpointError
from mtvif_ros.tools.demo import parse_size

DEFAULT_METHODS = ("multitaskvif", "cascade", *CLASSICAL)


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()
    ap = argparse.ArgumentParser(
        prog="mtvif-eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest", help="manifest CSV (set,name,ir_path,vi_path,...,split)")
    src.add_argument("--msrs", help="MSRS release root ({train,test}/{ir,vi,Segmentation_labels})")
    src.add_argument("--folder", help="folder with ir/, vi/ and optional labels/")
    src.add_argument("--sample", type=int, help="N built-in labelled sample scenes")
    ap.add_argument("--sets", nargs="*", default=None, help="manifest sets (default: all)")
    ap.add_argument("--split", default=None, help="manifest split / MSRS split (test)")
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
    ap.add_argument("--limit", type=int, default=0, help="evaluate only the first N pairs")
    ap.add_argument("--grid", type=int, default=6, help="pairs shown in grid.png")
    ap.add_argument("--no-images", action="store_true", help="do not write fused/label images")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[%(levelname)s] %(name)s: %(message)s")

    unknown = sorted(set(args.methods) - set(DEFAULT_METHODS))
    if unknown:
        ap.error(
            f"unknown method(s) {', '.join(unknown)}; choose from {' '.join(DEFAULT_METHODS)}"
        )
    agreement = False
    try:
        if args.manifest:
            data = manifest_pairs(args.manifest, args.sets, args.split, args.labels_dir)
            agreement = bool(args.labels_dir) and not args.ground_truth
            title = f"{args.manifest} {' '.join(args.sets or ['all sets'])}"
        elif args.msrs:
            data = msrs_pairs(args.msrs, args.split or "test")
            title = f"MSRS {args.split or 'test'}"
        elif args.folder:
            data = folder_pairs(args.folder)
            title = args.folder
        else:
            data = SyntheticScenes(args.sample, 240, 320, seed=50_000)  # disjoint from training
            title = f"{args.sample} built-in sample scenes"
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.limit:
        data = _Limited(data, args.limit)
    if len(data) == 0:
        print(f"error: no pairs found in {title}", file=sys.stderr)
        return 2

    methods = []
    try:
        for name in args.methods:
            if name == "multitaskvif":
                methods.append(
                    Method(name, FusionEngine(args.checkpoint, args.device, size=args.size))
                )
            elif name == "cascade":
                if args.cascade_checkpoint:
                    methods.append(
                        Method(
                            name,
                            FusionEngine(args.cascade_checkpoint, args.device, size=args.size),
                        )
                    )
                else:
                    print("note: no --cascade-checkpoint given; the cascade row is skipped")
            else:
                methods.append(Method(name))
    except (CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = evaluate(data, methods, args.out, args.grid, not args.no_images, not args.no_progress)
    report = write_outputs(result, args.out, f"Evaluation on {title}", agreement, len(data))
    print(report)
    print(f"wrote {args.out}/report.md, metrics.csv, grid.png, bars.png")
    return 0


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
