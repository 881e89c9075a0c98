"""mtvif-init-weights: write a seeded, untrained MultiTaskVIF checkpoint to PATH.

The result is a random initialization of the default architecture (marked untrained; the
engine warns when it loads one), e.g. a starting point for training. PATH is required and
an existing file is kept unless --force is given, so the package's trained default
checkpoint is never overwritten by accident.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtvif_ros.model import PRESETS
from mtvif_ros.model.weights import DEFAULT_BACKBONE, write_untrained_checkpoint


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and write the checkpoint; exit code 0 when written, 2 when refused."""
    parser = argparse.ArgumentParser(
        prog="mtvif-init-weights",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", help="output .pt file")
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the initialization")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.add_argument(
        "--backbone",
        default=DEFAULT_BACKBONE,
        choices=tuple(PRESETS),
        help=f"architecture: that backbone's trained configuration (default {DEFAULT_BACKBONE})",
    )
    args = parser.parse_args(argv)
    if Path(args.path).exists() and not args.force:
        print(f"error: {args.path} exists; give --force to overwrite it", file=sys.stderr)
        return 2
    write_untrained_checkpoint(args.path, args.seed, args.backbone)
    print(f"wrote untrained checkpoint {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
