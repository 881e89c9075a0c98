"""sensor_msgs/Image encodings ↔ numpy, without ROS (the built-in converter's core).

Handles row padding (``step`` larger than ``width × pixel size``) and big-endian data. The
checks are split from decoding so a node can reject a malformed message cheaply when it
arrives and decode only the messages it actually processes.
"""

from __future__ import annotations

import cv2
import numpy as np

# encoding → (dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
}
IR_ENCODINGS = ("mono8", "8UC1", "mono16", "16UC1", "32FC1")
VISIBLE_ENCODINGS = ("bgr8", "rgb8", "bgra8", "rgba8", "mono8", "8UC1")


class EncodingError(ValueError):
    """An image message cannot be used; the message says what is wrong and the fix."""


def check_layout(
    role: str, encoding: str, height: int, width: int, step: int, nbytes: int
) -> None:
    """Raise EncodingError if the message's metadata cannot describe a usable image.

    ``role`` is 'ir' or 'visible' and selects the accepted encodings.
    """
    allowed = IR_ENCODINGS if role == "ir" else VISIBLE_ENCODINGS
    if encoding not in allowed:
        raise EncodingError(
            f"{role} encoding {encoding[:40]!r} is not supported; "
            f"publish one of {', '.join(allowed)}"
        )
    if height <= 0 or width <= 0:
        raise EncodingError(f"{role} image is empty ({width}x{height}); check the camera driver")
    dtype, channels = ENCODINGS[encoding]
    row = width * channels * dtype.itemsize
    if step < row:
        raise EncodingError(
            f"{role} step {step} is smaller than width×pixel size {row} for {encoding}; "
            "fix the publisher's step field"
        )
    if nbytes < step * height:
        raise EncodingError(
            f"{role} data has {nbytes} bytes but step×height needs {step * height}; "
            "the message is truncated or its step/height are wrong"
        )


def decode(
    encoding: str, height: int, width: int, step: int, is_bigendian: bool, data
) -> np.ndarray:
    """Message fields → H×W (one channel) or H×W×C array in native byte order.

    ``data`` is anything exposing the buffer protocol (bytes, array.array, memoryview).
    The result never aliases ``data``.
    """
    dtype, channels = ENCODINGS[encoding]
    row = width * channels * dtype.itemsize
    buf = np.frombuffer(data, np.uint8, count=step * height).reshape(height, step)
    if step != row:
        buf = buf[:, :row]
    wire = dtype.newbyteorder(">" if is_bigendian else "<")
    # rows stay strided (no copy) until the single astype copy into native order
    arr = buf.view(wire).reshape(height, width, channels).astype(dtype)
    return arr[:, :, 0] if channels == 1 else arr


def to_visible_bgr(arr: np.ndarray, encoding: str) -> np.ndarray:
    """A decoded visible image → BGR (H×W×3) or grey (H×W), as the engine takes."""
    if encoding == "rgb8":
        return cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    if encoding == "rgba8":
        return cv2.cvtColor(arr, cv2.COLOR_RGBA2BGR)
    if encoding == "bgra8":
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2BGR)
    return arr


def encode(arr: np.ndarray, encoding: str) -> tuple[int, memoryview]:
    """Array → (step, little-endian bytes as a memoryview) for ``encoding`` (no row
    padding). No copy when the array is already contiguous little-endian."""
    dtype, channels = ENCODINGS[encoding]
    shape_ok = arr.ndim == 2 if channels == 1 else arr.ndim == 3 and arr.shape[2] == channels
    if not shape_ok or arr.dtype != dtype:
        raise EncodingError(
            f"cannot encode a {arr.dtype} array of shape {arr.shape} as {encoding}"
        )
    data = np.ascontiguousarray(arr, dtype=dtype.newbyteorder("<"))
    return arr.shape[1] * channels * dtype.itemsize, memoryview(data.reshape(-1).view(np.uint8))
