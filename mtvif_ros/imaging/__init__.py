"""Pure numpy/OpenCV image helpers shared by the engine, the node and the offline tools."""

from mtvif_ros.imaging.color import bgr_to_ycrcb, recombine_luma, split_luma, ycrcb_to_bgr
from mtvif_ros.imaging.ir import IR_NORMALIZATIONS, IRNormalization, normalize_ir
from mtvif_ros.imaging.palette import colorize, label_lut, overlay
from mtvif_ros.imaging.registration import warp_ir

__all__ = [
    "IR_NORMALIZATIONS",
    "IRNormalization",
    "bgr_to_ycrcb",
    "colorize",
    "label_lut",
    "normalize_ir",
    "overlay",
    "recombine_luma",
    "split_luma",
    "warp_ir",
    "ycrcb_to_bgr",
]
