"""IR→visible registration with a fixed 3×3 homography (cameras rigidly mounted side by side)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def warp_ir(ir: np.ndarray, homography: Sequence[float], size_hw: tuple[int, int]) -> np.ndarray:
    """Map IR pixels into the visible image's frame (``size_hw`` = visible H, W).

    Pixels that fall outside the IR image become 0. The homography is row-major and maps
    IR pixel coordinates to visible pixel coordinates. Bilinear: OpenCV 4.x quantizes the
    source coordinates to 1/32 px, 5.x does not, so the two majors differ by up to 1/32 of
    the local IR gradient.
    """
    h = np.asarray(homography, dtype=np.float64).reshape(3, 3)
    return cv2.warpPerspective(
        ir, h, (size_hw[1], size_hw[0]), flags=cv2.INTER_LINEAR, borderValue=0
    )


def rotation_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """3×3 rotation of fixed-axis roll, pitch, yaw (radians), ROS's convention:
    R = Rz(yaw) · Ry(pitch) · Rx(roll)."""
    cr, sr, cp, sp, cy, sy = (f(a) for a in (roll, pitch, yaw) for f in (np.cos, np.sin))
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def plane_homography(
    k_ir: Sequence[float],
    k_vis: Sequence[float],
    extrinsic: Sequence[float],
    distance_m: float,
) -> list[float]:
    """The homography mapping IR pixels to visible pixels for a scene that is a plane
    ``distance_m`` in front of the IR camera, facing it (normal = its optical axis).

    ``k_ir``, ``k_vis``: the cameras' row-major 3×3 intrinsics (camera_info ``k``);
    ``extrinsic``: ``[x, y, z, roll, pitch, yaw]`` of the IR camera's optical frame in the
    visible camera's optical frame (metres, radians), i.e. X_vis = R X_ir + t. With the
    plane nᵀX = d in the IR frame, X_vis = (R + t nᵀ / d) X_ir, so
    H = K_vis (R + t nᵀ / d) K_ir⁻¹. Exact for points on that plane; anything nearer or
    farther is off by the parallax baseline·f·|1/z − 1/d| pixels.
    """
    if not distance_m > 0:
        raise ValueError(f"plane distance must be > 0 m, got {distance_m}")
    kir = np.asarray(k_ir, dtype=np.float64).reshape(3, 3)
    kvis = np.asarray(k_vis, dtype=np.float64).reshape(3, 3)
    if abs(np.linalg.det(kir)) < 1e-12 or abs(np.linalg.det(kvis)) < 1e-12:
        raise ValueError("camera_info k is singular (an uncalibrated camera?)")
    x, y, z, roll, pitch, yaw = (float(v) for v in extrinsic)
    n = np.array([[0.0, 0.0, 1.0]])
    m = rotation_rpy(roll, pitch, yaw) + np.array([[x], [y], [z]]) @ n / distance_m
    h = kvis @ m @ np.linalg.inv(kir)
    return (h / h[2, 2]).ravel().tolist()
