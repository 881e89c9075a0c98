"""``python -m mtvif_ros.train`` and ``torchrun -m mtvif_ros.train``: the mtvif-train CLI."""

import sys

from mtvif_ros.train.cli import main

if __name__ == "__main__":
    sys.exit(main())
