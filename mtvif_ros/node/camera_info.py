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


def _scale(info: CameraInfo, width: int, height: int) -> tuple[float, float]:
    """(sx, sy) from the calibration's resolution to ``width``×``height`` (1, 1 if unknown)."""
    if not (info.width and info.height):
        return 1.0, 1.0
    return width / info.width, height / info.height


def _scaled(matrix, row: int, sx: float, sy: float) -> list[float]:
    """K (row 3) or P (row 4) with fx, cx scaled by ``sx`` and fy, cy by ``sy``."""
    m = list(matrix)
    m[0], m[2], m[row + 1], m[row + 2] = m[0] * sx, m[2] * sx, m[row + 1] * sy, m[row + 2] * sy
    return m


def intrinsics_at(info: CameraInfo, width: int, height: int) -> list[float]:
    """The camera's K for an image of ``width``×``height`` (no message copy)."""
    return _scaled(info.k, 3, *_scale(info, width, height))


def scaled_info(info: CameraInfo, width: int, height: int, header) -> CameraInfo:
    """``info`` for an image of ``width``×``height`` with ``header``."""
    out = copy.deepcopy(info)
    out.header = header
    sx, sy = _scale(info, width, height)
    if (sx, sy) != (1.0, 1.0):
        out.k, out.p = _scaled(info.k, 3, sx, sy), _scaled(info.p, 4, sx, sy)
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


class CameraRegistration:
    """``registration.source: camera_info``: the IR→visible homography derived from both
    cameras' calibration, the extrinsic and the plane distance (``imaging.plane_homography``),
    computed again only when one of those changes."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._homography: list[float] | None = None
        self.problem = ""  # why the last homography could not be made ('' if it could)

    def homography(
        self, infos: tuple[CameraInfo, CameraInfo], ir_shape, vis_shape, settings
    ) -> list[float] | None:
        """The homography for IR of ``ir_shape`` into visible of ``vis_shape`` (None, with
        ``problem`` set, when the calibration cannot give one)."""
        from mtvif_ros.imaging.registration import plane_homography

        (ir_h, ir_w), (vis_h, vis_w) = ir_shape[:2], vis_shape[:2]
        k_ir, k_vis = intrinsics_at(infos[0], ir_w, ir_h), intrinsics_at(infos[1], vis_w, vis_h)
        key = (
            tuple(k_ir),
            tuple(k_vis),
            tuple(settings["registration.extrinsic"]),
            settings["registration.plane_distance"],
        )
        if self._key != key:
            self._key, self.problem = key, ""
            try:
                self._homography = plane_homography(k_ir, k_vis, *key[2:])
            except ValueError as exc:
                self._homography, self.problem = None, f"registration from camera_info: {exc}"
        return self._homography
