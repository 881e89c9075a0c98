"""Pure numpy/OpenCV image helpers shared by the engine, the node and the offline tools."""

from mtvif_ros.imaging.color import (
    as_bgr_or_grey,
    bgr_to_ycrcb,
    luma,
    recombine_luma,
    replace_luma,
    split_luma,
    ycrcb_to_bgr,
)
from mtvif_ros.imaging.ir import (
    IR_NORMALIZATIONS,
    IRNormalization,
    normalize_ir,
    percentiles_uint16,
)
from mtvif_ros.imaging.palette import colorize, label_lut, overlay
from mtvif_ros.imaging.registration import warp_ir

__all__ = [
    "IR_NORMALIZATIONS",
    "IRNormalization",
    "as_bgr_or_grey",
    "bgr_to_ycrcb",
    "colorize",
    "label_lut",
    "luma",
    "normalize_ir",
    "overlay",
    "percentiles_uint16",
    "recombine_luma",
    "replace_luma",
    "split_luma",
    "warp_ir",
    "ycrcb_to_bgr",
]
