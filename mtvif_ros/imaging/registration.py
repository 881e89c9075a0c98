"""IR→visible registration with a fixed 3×3 homography (cameras rigidly mounted side by side)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def warp_ir(ir: np.ndarray, homography: Sequence[float], size_hw: tuple[int, int]) -> np.ndarray:
    """Map IR pixels into the visible image's frame (``size_hw`` = visible H, W).

    Pixels that fall outside the IR image become 0. The homography is row-major and maps
    IR pixel coordinates to visible pixel coordinates.
    """
    h = np.asarray(homography, dtype=np.float64).reshape(3, 3)
    return cv2.warpPerspective(
        ir, h, (size_hw[1], size_hw[0]), flags=cv2.INTER_LINEAR, borderValue=0
    )
