"""Classical fusion baselines, so a trained network is always compared with something.

Copying one source already scores well on several metrics (e.g. SD or MI of an IR copy),
and a pixel maximum or a Laplacian pyramid is what a network has to beat. Every method
fuses the visible luma with the IR image in [0, 1] and recombines the visible chroma, the
same convention as the network, and returns a BGR uint8 image.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from mtvif_ros.imaging import IRNormalization, normalize_ir, recombine_luma, split_luma


def laplacian_pyramid_fusion(y: np.ndarray, ir: np.ndarray, levels: int = 4) -> np.ndarray:
    """Burt & Adelson style: per level keep the band-pass coefficient of larger magnitude,
    average the coarsest Gaussian level, reconstruct. Inputs/outputs float32 in [0, 1]."""

    def pyramid(img: np.ndarray) -> list[np.ndarray]:
        gauss = [img]
        for _ in range(levels):
            gauss.append(cv2.pyrDown(gauss[-1]))
        lap = [
            g - cv2.pyrUp(gauss[i + 1], dstsize=(g.shape[1], g.shape[0]))
            for i, g in enumerate(gauss[:-1])
        ]
        return [*lap, gauss[-1]]

    pa, pb = pyramid(y), pyramid(ir)
    fused = [np.where(np.abs(a) >= np.abs(b), a, b) for a, b in zip(pa[:-1], pb[:-1], strict=True)]
    out = (pa[-1] + pb[-1]) / 2
    for band in reversed(fused):
        out = cv2.pyrUp(out, dstsize=(band.shape[1], band.shape[0])) + band
    return np.clip(out, 0, 1)


LumaFuser = Callable[[np.ndarray, np.ndarray], np.ndarray]
Fuser = Callable[[np.ndarray, np.ndarray, IRNormalization | None], np.ndarray]


def _copy_visible(ir: np.ndarray, vis: np.ndarray, norm: IRNormalization | None) -> np.ndarray:
    """The visible image itself (as BGR): the copy baseline has no luma round trip."""
    return vis.copy() if vis.ndim == 3 else cv2.cvtColor(vis, cv2.COLOR_GRAY2BGR)


def _on_luma(fuser: LumaFuser, keep_chroma: bool = True) -> Fuser:
    """A method fusing the visible luma with the IR image (resized to the visible size),
    recombined with the visible chroma, or grey without it (``keep_chroma=False``)."""

    def fuse(ir: np.ndarray, vis: np.ndarray, norm: IRNormalization | None) -> np.ndarray:
        y, chroma = split_luma(vis)
        ir01 = normalize_ir(ir, norm)
        if ir01.shape != y.shape:
            ir01 = cv2.resize(ir01, (y.shape[1], y.shape[0]), interpolation=cv2.INTER_LINEAR)
        return recombine_luma(fuser(y, ir01).astype(np.float32), chroma if keep_chroma else None)

    return fuse


# name → method (ir, vis, norm) → BGR uint8; the order is the report's row order
FUSERS: dict[str, Fuser] = {
    "visible": _copy_visible,  # an exact copy of the visible image
    "infrared": _on_luma(lambda y, ir: ir, keep_chroma=False),  # the grey IR image
    "average": _on_luma(lambda y, ir: (y + ir) / 2),
    "maximum": _on_luma(np.maximum),
    "laplacian": _on_luma(laplacian_pyramid_fusion),
}


def fuse_classical(
    method: str, ir: np.ndarray, vis: np.ndarray, norm: IRNormalization | None = None
) -> np.ndarray:
    """Fuse with a classical ``method`` (a key of FUSERS; KeyError otherwise).
    'visible' and 'infrared' are exact copies of a source (the copy baselines)."""
    return FUSERS[method](ir, vis, norm)
