"""camera_info for the outputs: the visible camera's calibration, stamped like each output.

The outputs are at the visible image's size, in its frame, so their intrinsics are the
visible camera's. If the latest visible camera_info was calibrated at another resolution
than the image it accompanies, K and P are scaled to the image (a pure resize; the
distortion coefficients are resolution-free). rviz2's Camera display, image_proc and any
projection of the label image use it.
"""

from __future__ import annotations

import copy
import threading

from sensor_msgs.msg import CameraInfo


def scaled_info(info: CameraInfo, width: int, height: int, header) -> CameraInfo:
    """``info`` for an image of ``width``×``height`` with ``header``."""
    out = copy.deepcopy(info)
    out.header = header
    if info.width and info.height and (info.width, info.height) != (width, height):
        sx, sy = width / info.width, height / info.height
        k, p = list(info.k), list(info.p)
        for m, row in ((k, 3), (p, 4)):
            m[0] *= sx  # fx
            m[2] *= sx  # cx
            m[row + 1] *= sy  # fy
            m[row + 2] *= sy  # cy
        out.k, out.p = k, p
        out.roi.x_offset = round(info.roi.x_offset * sx)
        out.roi.y_offset = round(info.roi.y_offset * sy)
        out.roi.width = round(info.roi.width * sx)
        out.roi.height = round(info.roi.height * sy)
    out.width, out.height = width, height
    return out


class LatestInfo:
    """The newest camera_info of each camera, written by the executor, read by the worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._info: dict[str, CameraInfo] = {}

    def put(self, role: str, info: CameraInfo) -> None:
        with self._lock:
            self._info[role] = info

    def get(self, role: str) -> CameraInfo | None:
        with self._lock:
            return self._info.get(role)
