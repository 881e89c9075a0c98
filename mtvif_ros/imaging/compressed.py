"""sensor_msgs/CompressedImage payloads (image_transport's ``compressed`` plugin), without ROS.

Robot bags mostly hold ``…/image/compressed`` topics: visible cameras as JPEG, thermal ones
as PNG, which keeps 16-bit counts. ``format`` is what image_transport writes (``jpeg``,
``png``, ``bgr8; jpeg compressed bgr8``, ``mono16; png compressed``); the pixels come from
the payload itself. ``compressedDepth`` (a depth-specific header before the PNG) is not
a camera format and is refused.
"""

from __future__ import annotations

import cv2
import numpy as np

from mtvif_ros.imaging.encodings import EncodingError

TRANSPORTS = ("raw", "compressed")
JPEG_QUALITY = 95


def check_compressed(role: str, fmt: str, nbytes: int) -> None:
    """EncodingError unless ``fmt`` names a JPEG or PNG payload and there is one."""
    text = fmt.lower()
    if "compresseddepth" in text or not any(k in text for k in ("jpeg", "jpg", "png")):
        raise EncodingError(
            f"{role} compressed format {fmt[:40]!r} is not supported; publish jpeg or png "
            "(image_transport's compressed plugin)"
        )
    if nbytes == 0:
        raise EncodingError(f"{role} compressed image is empty; check the camera driver")


def decode_compressed(role: str, fmt: str, data) -> np.ndarray:
    """The payload as the engine takes it: IR H×W uint8/uint16; visible BGR or grey uint8."""
    buf = np.frombuffer(data, np.uint8)
    check_compressed(role, fmt, buf.size)
    arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise EncodingError(f"{role} {fmt[:40]!r} payload ({buf.size} bytes) cannot be decoded")
    if arr.ndim == 3:
        code = {
            ("ir", 3): cv2.COLOR_BGR2GRAY,
            ("ir", 4): cv2.COLOR_BGRA2GRAY,
            ("visible", 4): cv2.COLOR_BGRA2BGR,
        }.get((role, arr.shape[2]))
        arr = cv2.cvtColor(arr, code) if code is not None else arr
    if role == "visible" and arr.dtype != np.uint8:
        raise EncodingError(f"visible {fmt[:40]!r} image is {arr.dtype}; publish 8-bit colour")
    return arr


def encode_compressed(arr: np.ndarray, role: str) -> tuple[str, bytes]:
    """(format, payload) as image_transport writes them: IR as PNG (16-bit kept), visible
    as JPEG."""
    if role == "ir":
        enc = "mono16" if arr.dtype == np.uint16 else "mono8"
        ok, buf = cv2.imencode(".png", arr)
        fmt = f"{enc}; png compressed"
    else:
        enc = "bgr8" if arr.ndim == 3 else "mono8"
        ok, buf = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        fmt = f"{enc}; jpeg compressed {enc}"
    if not ok:
        raise EncodingError(f"{role} image {arr.shape} {arr.dtype} cannot be compressed")
    return fmt, buf.tobytes()
