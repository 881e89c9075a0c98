"""MSRS semantic classes and their colour palette.

The MSRS/MFNet label convention is what published fusion+segmentation tables use, so it is
the default for checkpoints; a checkpoint may carry its own names and palette instead.
"""

from __future__ import annotations

MSRS_CLASSES: tuple[str, ...] = (
    "unlabelled",
    "car",
    "person",
    "bike",
    "curve",
    "car_stop",
    "guardrail",
    "color_cone",
    "bump",
)

# RGB, one row per class id.
MSRS_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (64, 0, 128),
    (64, 64, 0),
    (0, 128, 192),
    (0, 0, 192),
    (128, 128, 0),
    (64, 64, 128),
    (192, 128, 128),
    (192, 64, 0),
)

# Label value excluded from losses and metrics.
IGNORE_INDEX = 255
