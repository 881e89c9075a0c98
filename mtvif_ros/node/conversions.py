"""sensor_msgs/Image ↔ numpy, through cv_bridge where it works, else the built-in converter.

Apt's cv_bridge is compiled against the distribution's NumPy 1.x and fails (at import or at
the first conversion) under NumPy 2; it is also absent from pip-only installs. The check
runs one tiny round trip, and the converter says which backend it uses.
"""

from __future__ import annotations

import array

import numpy as np
from sensor_msgs.msg import Image

from mtvif_ros.imaging.encodings import check_layout, decode, encode, to_visible_bgr


def _working_cv_bridge():
    try:
        from cv_bridge import CvBridge

        bridge = CvBridge()
        probe = np.arange(6, dtype=np.uint16).reshape(2, 3)
        back = bridge.imgmsg_to_cv2(bridge.cv2_to_imgmsg(probe, "mono16"), "passthrough")
        if not np.array_equal(np.asarray(back), probe):
            return None, "cv_bridge round trip changed the data"
        return bridge, ""
    except Exception as exc:  # ImportError, ABI errors (NumPy 2), AttributeError, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, first[:120]


class ImageConverter:
    """Decode input messages to arrays and build output messages.

    ``backend`` is 'cv_bridge' or 'builtin'; ``reason`` says why cv_bridge is not used.
    """

    def __init__(self, use_cv_bridge: bool = True) -> None:
        self.bridge, self.reason = _working_cv_bridge() if use_cv_bridge else (None, "disabled")
        self.backend = "cv_bridge" if self.bridge is not None else "builtin"

    @staticmethod
    def check(msg: Image, role: str) -> None:
        """Cheap validation of a message's metadata (EncodingError with the reason)."""
        check_layout(role, msg.encoding, msg.height, msg.width, msg.step, len(msg.data))

    def to_array(self, msg: Image, role: str) -> np.ndarray:
        """IR → H×W (uint8/uint16/float32); visible → BGR H×W×3 or grey H×W.

        ``msg`` must have passed ``check`` (the node checks each message once, on arrival).
        """
        if self.bridge is not None:
            arr = np.array(self.bridge.imgmsg_to_cv2(msg, "passthrough"))
        else:
            arr = decode(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)
        return arr if role == "ir" else to_visible_bgr(arr, msg.encoding)

    def to_msg(self, arr: np.ndarray, encoding: str, header) -> Image:
        """Array → Image carrying ``header`` unchanged."""
        if self.bridge is not None:
            msg = self.bridge.cv2_to_imgmsg(arr, encoding)
            msg.header = header
            return msg
        return array_to_image(arr, encoding, header)


def array_to_image(arr: np.ndarray, encoding: str, header=None) -> Image:
    """Build an Image with the built-in encoder (also used by players and tests)."""
    step, data = encode(arr, encoding)
    msg = Image(
        height=arr.shape[0], width=arr.shape[1], encoding=encoding, is_bigendian=0, step=step
    )
    if header is not None:
        msg.header = header
    buf = array.array("B")
    buf.frombytes(data)  # one copy; array.array is the generated setter's fast path
    msg.data = buf
    return msg
