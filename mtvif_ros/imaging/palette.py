"""Class-id images to colour: a palette lookup and a blended overlay for display."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def label_lut(palette: Sequence[Sequence[int]]) -> np.ndarray:
    """256×3 uint8 RGB lookup table; ids beyond the palette map to black."""
    lut = np.zeros((256, 3), np.uint8)
    colours = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[:256]
    lut[: len(colours)] = colours
    return lut


def colorize(labels: np.ndarray, palette: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """H×W uint8 class ids → H×W×3 RGB uint8 using ``palette`` (RGB rows, or a LUT)."""
    lut = (
        palette
        if isinstance(palette, np.ndarray) and palette.shape == (256, 3)
        else label_lut(palette)
    )
    return lut[labels]


def overlay(
    bgr: np.ndarray,
    labels: np.ndarray,
    palette: Sequence[Sequence[int]] | np.ndarray,
    alpha: float = 0.5,
    background: int = 0,
) -> np.ndarray:
    """Blend class colours over a BGR image (uint8); pixels of class ``background`` stay as-is."""
    if bgr.ndim == 2:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
    colour_bgr = colorize(labels, palette)[:, :, ::-1]
    blended = cv2.addWeighted(bgr, 1.0 - alpha, colour_bgr, alpha, 0.0)
    mask = labels != background
    out = bgr.copy()
    out[mask] = blended[mask]
    return out
