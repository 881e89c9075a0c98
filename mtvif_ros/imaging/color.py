"""Luma/chroma split and recombination, the field's colour convention for fusion.

The network fuses the visible luma Y with IR; the fused Y is put back with the visible
image's own chroma to give a colour fused image. OpenCV's YCrCb (BT.601, chroma offset
0.5) is used, computed in float32 so a split/recombine round trip is exact to rounding.
"""

from __future__ import annotations

import cv2
import numpy as np


def bgr_to_ycrcb(bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 H×W×3 → float32 H×W×3 (Y, Cr, Cb), all in [0, 1]."""
    return cv2.cvtColor(bgr.astype(np.float32) * np.float32(1.0 / 255.0), cv2.COLOR_BGR2YCrCb)


def ycrcb_to_bgr(ycrcb: np.ndarray) -> np.ndarray:
    """float32 (Y, Cr, Cb) in [0, 1] → BGR uint8, rounded and clipped."""
    bgr = cv2.cvtColor(ycrcb.astype(np.float32, copy=False), cv2.COLOR_YCrCb2BGR)
    return np.clip(bgr * 255.0 + 0.5, 0, 255).astype(np.uint8)


def split_luma(vis: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Visible image → (Y float32 H×W in [0, 1], chroma float32 H×W×2 or None for grey).

    Accepts BGR uint8 H×W×3 or grey uint8 H×W (or H×W×1).
    """
    if vis.dtype != np.uint8:
        raise ValueError(f"visible image must be uint8, got {vis.dtype}")
    if vis.ndim == 3 and vis.shape[2] == 1:
        vis = vis[:, :, 0]
    if vis.ndim == 2:
        return vis.astype(np.float32) * np.float32(1.0 / 255.0), None
    if vis.ndim != 3 or vis.shape[2] != 3:
        raise ValueError(f"visible image must be H×W×3 BGR or H×W grey, got shape {vis.shape}")
    ycrcb = bgr_to_ycrcb(vis)
    return np.ascontiguousarray(ycrcb[:, :, 0]), ycrcb[:, :, 1:]


def recombine_luma(y: np.ndarray, chroma: np.ndarray | None) -> np.ndarray:
    """Fused luma (uint8, or float in [0, 1]) + visible chroma → BGR uint8 H×W×3.

    Without chroma (grey visible input) the luma is replicated into three channels.
    """
    if chroma is None:
        y8 = y if y.dtype == np.uint8 else np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return cv2.cvtColor(y8, cv2.COLOR_GRAY2BGR)
    yf = y.astype(np.float32) * np.float32(1.0 / 255.0) if y.dtype == np.uint8 else y
    return ycrcb_to_bgr(np.dstack((yf.astype(np.float32, copy=False), chroma)))
