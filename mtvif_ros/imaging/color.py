"""Luma/chroma split and recombination, the field's colour convention for fusion.

The network fuses the visible luma Y with IR; the fused Y is put back with the visible
image's own chroma to give a colour fused image. OpenCV's YCrCb (BT.601, chroma offset
0.5) is used, computed in float32 so a split/recombine round trip is exact to rounding.

The engine's per-frame path uses ``luma`` and ``replace_luma``, which give the same result
without materializing chroma: YCrCb → BGR is linear and adds Y with weight 1 to every
channel, so keeping the chroma and changing Y is adding ΔY to B, G and R. Both write into
caller-owned buffers, so a steady stream of frames allocates only its outputs.
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


def as_bgr_or_grey(vis: np.ndarray) -> np.ndarray:
    """Check a visible image (uint8 H×W×3 BGR, H×W or H×W×1 grey); H×W×1 comes back H×W."""
    if vis.dtype != np.uint8:
        raise ValueError(f"visible image must be uint8, got {vis.dtype}")
    if vis.ndim == 3 and vis.shape[2] == 1:
        vis = vis[:, :, 0]
    if vis.ndim not in (2, 3) or (vis.ndim == 3 and vis.shape[2] != 3):
        raise ValueError(f"visible image must be H×W×3 BGR or H×W grey, got shape {vis.shape}")
    return vis


def luma(
    vis: np.ndarray, out: np.ndarray | None = None, scratch: np.ndarray | None = None
) -> np.ndarray:
    """BT.601 luma of a BGR (or grey) uint8 image as float32 H×W in [0, 1].

    Equal to ``split_luma(vis)[0]`` to float rounding. ``out`` (float32 H×W) receives the
    result and ``scratch`` (float32 H×W×3) holds the float copy of a colour image; both are
    allocated when not given.
    """
    vis = as_bgr_or_grey(vis)
    h, w = vis.shape[:2]
    out = np.empty((h, w), np.float32) if out is None else out
    if vis.ndim == 2:
        return np.multiply(vis, np.float32(1.0 / 255.0), out=out)
    scratch = np.empty((h, w, 3), np.float32) if scratch is None else scratch
    np.multiply(vis, np.float32(1.0 / 255.0), out=scratch)
    result = cv2.cvtColor(scratch, cv2.COLOR_BGR2GRAY, dst=out)
    if not np.shares_memory(result, out):  # OpenCV reallocates a dst it cannot use
        out[...] = result
    return out


def replace_luma(
    vis: np.ndarray,
    y_vis: np.ndarray,
    y_new: np.ndarray,
    scratch: np.ndarray | None = None,
    plane: np.ndarray | None = None,
) -> np.ndarray:
    """The visible image with its luma ``y_vis`` (float32, [0, 1]) replaced by ``y_new``
    (uint8): BGR + ΔY per channel, saturated. A grey visible image gives ``y_new`` in
    three channels. ``scratch`` (float32 H×W×3) and ``plane`` (float32 H×W) are reused
    when given.

    ΔY is rounded to a whole grey level once per pixel, halves toward zero, before it is
    added: the sum is then integer arithmetic, which every OpenCV major saturates alike
    (OpenCV 5 rounds a uint8 + float32 tie to even where 4.x did not), and ``vis`` comes
    back exactly when ``y_new`` is ``y_vis`` rounded to the nearest level by either tie
    rule (|ΔY| ≤ 0.5). Equal to ``recombine_luma(y_new, split_luma(vis)[1])`` within one
    grey level.
    """
    vis = as_bgr_or_grey(vis)
    if vis.ndim == 2:
        return cv2.cvtColor(y_new, cv2.COLOR_GRAY2BGR)
    h, w = vis.shape[:2]
    scratch = np.empty((h, w, 3), np.float32) if scratch is None else scratch
    delta = np.multiply(y_vis, np.float32(-255.0), out=plane)
    delta += y_new
    # the sign plane borrows the first H×W floats of scratch, overwritten just after
    _round_half_toward_zero(delta, scratch.reshape(-1)[: h * w].reshape(h, w))
    delta_bgr = cv2.cvtColor(delta, cv2.COLOR_GRAY2BGR, dst=scratch)
    return cv2.add(vis, delta_bgr, dtype=cv2.CV_8U)


def _round_half_toward_zero(x: np.ndarray, sign: np.ndarray) -> None:
    """Round float32 ``x`` in place to whole numbers, ties toward zero (±0.5 → 0);
    ``sign`` (float32, ``x``'s shape) is scratch space."""
    np.sign(x, out=sign)
    np.abs(x, out=x)
    x -= np.float32(0.5)
    np.ceil(x, out=x)
    x *= sign


def split_luma(vis: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Visible image → (Y float32 H×W in [0, 1], chroma float32 H×W×2 or None for grey).

    Accepts BGR uint8 H×W×3 or grey uint8 H×W (or H×W×1).
    """
    vis = as_bgr_or_grey(vis)
    if vis.ndim == 2:
        return vis.astype(np.float32) * np.float32(1.0 / 255.0), None
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
