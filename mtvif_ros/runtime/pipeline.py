"""One frame, as the node and the offline bag evaluation both process it.

Decoded IR and visible arrays in; registration (the homography of the parameters), the
checks that are reported rather than refused (non-finite IR, IR of another size) and the
engine call happen here, once, so "offline == live" rests on one function instead of two
copies of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtvif_ros.engine import FusionEngine, FusionResult
from mtvif_ros.imaging import warp_ir
from mtvif_ros.params.settings import Settings


@dataclass
class Frame:
    """The outputs of one pair and what was noticed on the way.

    ``ir`` is the IR image as the engine received it (after registration), which is what
    fusion metrics must compare against (None for a visible-only frame). ``nonfinite_ir``:
    a 32FC1 image had NaN/inf pixels (fused as the coldest value). ``size_mismatch``: the
    IR (w, h) and visible (w, h) when they differed without a homography (IR was resized),
    else None.
    """

    result: FusionResult
    ir: np.ndarray | None
    nonfinite_ir: bool = False
    size_mismatch: tuple[tuple[int, int], tuple[int, int]] | None = None

    def warnings(self) -> dict[str, str]:
        """Counter name → a one-line warning for each thing noticed (empty when clean)."""
        out = {}
        if self.nonfinite_ir:
            out["nonfinite_ir"] = (
                "IR 32FC1 image has NaN/inf pixels; they are fused as the coldest value"
            )
        if self.size_mismatch is not None:
            (iw, ih), (vw, vh) = self.size_mismatch
            out["size_mismatch"] = (
                f"IR is {iw}x{ih} but visible is {vw}x{vh}; IR is resized to the visible size "
                "(set registration.homography to align them)"
            )
        return out


class FramePipeline:
    """Register IR into the visible frame and run the engine with one set of settings.

    A caller whose settings change while it runs (the node: parameters are set on the
    executor thread, frames run on the worker) passes the settings of each frame to
    ``run``, read once, so a frame never mixes old and new values.
    """

    def __init__(self, engine: FusionEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def run(
        self, ir: np.ndarray | None, vis: np.ndarray, settings: Settings | None = None
    ) -> Frame:
        """Fuse one decoded pair (IR H×W, visible BGR or grey) at the visible size, with
        ``settings`` (default: the pipeline's); ``ir=None`` runs on the visible image alone."""
        settings = settings or self.settings
        nonfinite = ir is not None and ir.dtype == np.float32 and not np.isfinite(ir).all()
        mismatch = None
        if ir is None:
            pass
        elif settings.homography is not None:
            ir = warp_ir(ir, settings.homography, vis.shape[:2])
        elif ir.shape[:2] != vis.shape[:2]:
            mismatch = ((ir.shape[1], ir.shape[0]), (vis.shape[1], vis.shape[0]))
        result = self.engine.run(
            ir, vis, settings.ir_normalization, settings["labels.min_confidence"]
        )
        return Frame(result, ir, bool(nonfinite), mismatch)
