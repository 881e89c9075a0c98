"""Thermal image normalization: raw counts or temperatures to [0, 1].

Thermal cameras deliver 14-bit counts in mono16 or temperatures in 32FC1 whose useful range
is a small slice of the type's range, so the network input must be stretched per frame
(``percentile``, robust to hot pixels; ``minmax``) or with a fixed calibrated window
(``fixed``). 8-bit IR is taken as already display-normalized and only scaled by 1/255.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

IR_NORMALIZATIONS = ("percentile", "minmax", "fixed")


@dataclass(frozen=True)
class IRNormalization:
    """How to map a non-8-bit IR frame to [0, 1].

    ``percentile_low``/``percentile_high`` (in %) bound the stretch for ``percentile``;
    ``min``/``max`` (in the image's own units) for ``fixed``.
    """

    method: str = "percentile"
    percentile_low: float = 1.0
    percentile_high: float = 99.0
    min: float = 0.0
    max: float = 65535.0

    def __post_init__(self) -> None:
        # worded by field name: Settings shows them as the ir.* parameters
        if self.method not in IR_NORMALIZATIONS:
            raise ValueError(
                f"normalization '{self.method}' is unknown; use one of "
                f"{', '.join(IR_NORMALIZATIONS)}"
            )
        if not 0.0 <= self.percentile_low < self.percentile_high <= 100.0:
            raise ValueError(
                f"percentile_low {self.percentile_low} and percentile_high "
                f"{self.percentile_high} must satisfy 0 <= low < high <= 100"
            )
        if not (np.isfinite(self.min) and np.isfinite(self.max) and self.min < self.max):
            raise ValueError(
                f"min {self.min} must be a finite number below max {self.max} (the fixed window)"
            )


def normalize_ir(
    ir: np.ndarray, norm: IRNormalization | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """Return IR as float32 in [0, 1], same H×W (written into ``out`` when given).

    uint8 is scaled by 1/255 whatever the method. For other types the window comes from
    ``norm``; non-finite pixels (NaN/inf in 32FC1) are ignored when estimating the window
    and set to 0. A constant frame maps to all zeros rather than dividing by zero.
    """
    if ir.ndim != 2:
        raise ValueError(f"IR image must be H×W (one channel), got shape {ir.shape}")
    out = np.empty(ir.shape, np.float32) if out is None else out
    if ir.dtype == np.uint8:
        return np.multiply(ir, np.float32(1.0 / 255.0), out=out)
    norm = norm or IRNormalization()
    finite = None
    if ir.dtype.kind == "f":
        finite = np.isfinite(ir)
        if finite.all():
            finite = None
    valid = ir if finite is None else ir[finite]
    if valid.size == 0:
        out[...] = 0.0
        return out
    if norm.method == "fixed":
        lo, hi = norm.min, norm.max
    elif norm.method == "minmax":
        lo, hi = float(valid.min()), float(valid.max())
    elif ir.dtype == np.uint16 and ir.size < 2**24:  # histogram counts are exact below
        lo, hi = percentiles_uint16(ir, (norm.percentile_low, norm.percentile_high))
    else:
        lo, hi = np.percentile(
            valid.astype(np.float32, copy=False), (norm.percentile_low, norm.percentile_high)
        )
    if not hi > lo:
        out[...] = 0.0
        return out
    np.subtract(ir, np.float32(lo), out=out, dtype=np.float32)
    np.multiply(out, np.float32(1.0 / (hi - lo)), out=out)
    np.clip(out, 0.0, 1.0, out=out)
    if finite is not None:
        out[~finite] = 0.0
    return out


def percentiles_uint16(img: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """``np.percentile(img, qs)`` (linear interpolation) of a uint16 image from its
    histogram: one counting pass instead of a copy and a partition per frame."""
    hist = cv2.calcHist([np.ascontiguousarray(img)], [0], None, [65536], [0, 65536])
    cdf = np.cumsum(hist.ravel(), dtype=np.int64)
    n = img.size
    result = []
    for q in qs:
        pos = q / 100.0 * (n - 1)
        i = int(pos)
        lo = int(np.searchsorted(cdf, i, side="right"))  # the i-th smallest value (0-based)
        hi = int(np.searchsorted(cdf, min(i + 1, n - 1), side="right"))
        result.append(lo + (pos - i) * (hi - lo))
    return result
