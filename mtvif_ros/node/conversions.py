"""sensor_msgs/Image ↔ numpy: the built-in converter, and cv_bridge only where it adds
something.

The built-in converter (``mtvif_ros.imaging.encodings``) decodes every encoding the node
documents, row padding and big-endian data included, and encodes every output, so it is
always used for them. cv_bridge is used only to turn visible encodings the built-in one
does not know (Bayer patterns, YUV 4:2:2) into bgr8, and only after a probe with a padded
colour image and a big-endian mono16 one: the cases apt's cv_bridge has got wrong (padded
rows decoded with a ``step / itemsize / channels`` stride; ``ndarray.newbyteorder``, gone
in NumPy 2). Without a cv_bridge that passes, those encodings are refused with the list
of supported ones.
"""

from __future__ import annotations

import array

import numpy as np
from sensor_msgs.msg import CompressedImage, Image

from mtvif_ros.imaging.compressed import check_compressed, decode_compressed
from mtvif_ros.imaging.encodings import (
    ENCODINGS,
    EncodingError,
    check_layout,
    decode,
    encode,
    to_visible_bgr,
)

# visible encodings cv_bridge converts to bgr8 and the built-in converter does not
BRIDGE_VISIBLE = (
    "bayer_rggb8",
    "bayer_bggr8",
    "bayer_gbrg8",
    "bayer_grbg8",
    "yuv422",
    "yuv422_yuy2",
)


def _probe_messages() -> list[tuple[Image, np.ndarray]]:
    """(message, expected array): a bgr8 image with padded rows, a big-endian mono16 one."""
    colour = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    row = colour.shape[1] * 3
    padded = Image(height=2, width=3, encoding="bgr8", is_bigendian=0, step=row + 5)
    padded.data = b"".join(colour[r].tobytes() + bytes(5) for r in range(2))
    grey = (np.arange(6, dtype=np.uint16) * 4099).reshape(2, 3)
    big = Image(height=2, width=3, encoding="mono16", is_bigendian=1, step=6)
    big.data = grey.astype(">u2").tobytes()
    return [(padded, colour), (big, grey)]


def _working_cv_bridge():
    """(CvBridge, "") if cv_bridge imports and decodes the probes right, else (None, why)."""
    try:
        from cv_bridge import CvBridge

        bridge = CvBridge()
        for msg, expected in _probe_messages():
            got = np.asarray(bridge.imgmsg_to_cv2(msg, "passthrough"))
            if got.shape != expected.shape or not np.array_equal(got, expected):
                kind = "padded colour rows" if msg.encoding == "bgr8" else "big-endian data"
                return None, f"cv_bridge mis-decodes {kind}"
        return bridge, ""
    except Exception as exc:  # ImportError, ABI errors (NumPy 2), AttributeError, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, first[:120]


class ImageConverter:
    """Check and decode input messages, build output messages.

    ``backend`` is 'builtin', or 'builtin+cv_bridge' where a probed cv_bridge decodes the
    extra visible encodings (``BRIDGE_VISIBLE``); ``reason`` says why it does not.
    """

    def __init__(self, use_cv_bridge: bool = True) -> None:
        self.bridge, self.reason = _working_cv_bridge() if use_cv_bridge else (None, "disabled")
        self.backend = "builtin" if self.bridge is None else "builtin+cv_bridge"

    @property
    def description(self) -> str:
        """What converts which input, for the node's startup log."""
        if self.bridge is not None:
            return "built-in; cv_bridge for Bayer/YUV input"
        return f"built-in (cv_bridge not used for Bayer/YUV input: {self.reason})"

    def check(self, msg: Image | CompressedImage, role: str) -> None:
        """Cheap validation of a message's metadata (EncodingError with the reason); a
        compressed image's pixels are only known once decoded (by the worker)."""
        if isinstance(msg, CompressedImage):
            check_compressed(role, msg.format, len(msg.data))
            return
        if self.bridge is not None and role == "visible" and msg.encoding in BRIDGE_VISIBLE:
            if msg.height <= 0 or msg.width <= 0 or len(msg.data) < msg.step * msg.height:
                raise EncodingError(
                    f"visible {msg.encoding} image is empty or truncated "
                    f"({msg.width}x{msg.height}, step {msg.step}, {len(msg.data)} bytes)"
                )
            return
        check_layout(role, msg.encoding, msg.height, msg.width, msg.step, len(msg.data))

    def to_array(self, msg: Image | CompressedImage, role: str) -> np.ndarray:
        """IR → H×W (uint8/uint16/float32); visible → BGR H×W×3 or grey H×W.

        ``msg`` must have passed ``check`` (the node checks each message once, on arrival).
        """
        if isinstance(msg, CompressedImage):
            return decode_compressed(role, msg.format, msg.data)
        if msg.encoding not in ENCODINGS:  # only BRIDGE_VISIBLE passes check
            try:
                return np.array(self.bridge.imgmsg_to_cv2(msg, "bgr8"))
            except Exception as exc:  # cv_bridge's own errors: one bad message, not the node
                raise EncodingError(f"cv_bridge cannot convert {msg.encoding}: {exc}") from None
        arr = decode(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)
        return arr if role == "ir" else to_visible_bgr(arr, msg.encoding)

    def to_msg(self, arr: np.ndarray, encoding: str, header) -> Image:
        """Array → Image carrying ``header`` unchanged (the built-in encoder)."""
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
