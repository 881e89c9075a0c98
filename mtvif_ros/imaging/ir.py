"""Thermal image normalization: raw counts or temperatures to [0, 1].

Thermal cameras deliver 14-bit counts in mono16 or temperatures in 32FC1 whose useful range
is a small slice of the type's range, so the network input must be stretched per frame
(``percentile``, robust to hot pixels; ``minmax``) or with a fixed calibrated window
(``fixed``). 8-bit IR is taken as already display-normalized and only scaled by 1/255.
"""

from __future__ import annotations

from dataclasses import dataclass

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
        if self.method not in IR_NORMALIZATIONS:
            raise ValueError(
                f"IR normalization '{self.method}' is unknown; use one of "
                f"{', '.join(IR_NORMALIZATIONS)}"
            )
        if not 0.0 <= self.percentile_low < self.percentile_high <= 100.0:
            raise ValueError(
                f"IR percentiles ({self.percentile_low}, {self.percentile_high}) are invalid; "
                "need 0 <= low < high <= 100"
            )
        if not (np.isfinite(self.min) and np.isfinite(self.max) and self.min < self.max):
            raise ValueError(
                f"IR fixed range ({self.min}, {self.max}) is invalid; need finite min < max"
            )


def normalize_ir(ir: np.ndarray, norm: IRNormalization | None = None) -> np.ndarray:
    """Return IR as float32 in [0, 1], same H×W.

    uint8 is scaled by 1/255 whatever the method. For other types the window comes from
    ``norm``; non-finite pixels (NaN/inf in 32FC1) are ignored when estimating the window
    and set to 0. A constant frame maps to all zeros rather than dividing by zero.
    """
    if ir.ndim != 2:
        raise ValueError(f"IR image must be H×W (one channel), got shape {ir.shape}")
    if ir.dtype == np.uint8:
        return ir.astype(np.float32) * np.float32(1.0 / 255.0)
    norm = norm or IRNormalization()
    x = ir.astype(np.float32, copy=False)
    finite = np.isfinite(x)
    all_finite = bool(finite.all())
    valid = x if all_finite else x[finite]
    if valid.size == 0:
        return np.zeros(ir.shape, np.float32)
    if norm.method == "fixed":
        lo, hi = norm.min, norm.max
    elif norm.method == "minmax":
        lo, hi = float(valid.min()), float(valid.max())
    else:
        lo, hi = np.percentile(valid, (norm.percentile_low, norm.percentile_high))
    if not hi > lo:
        return np.zeros(ir.shape, np.float32)
    out = (x - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    np.clip(out, 0.0, 1.0, out=out)
    if not all_finite:
        out[~finite] = 0.0
    return out
