"""Image message ↔ numpy: every encoding, row padding, big-endian data, bad layouts."""

from __future__ import annotations

import array
from typing import ClassVar

import numpy as np
import pytest
from sensor_msgs.msg import Image

from mtvif_ros.imaging.encodings import EncodingError, check_layout, decode, encode
from mtvif_ros.node.conversions import ImageConverter, array_to_image

RNG = np.random.default_rng(3)
SAMPLES = {
    "mono8": RNG.integers(0, 256, (5, 7), dtype=np.uint8),
    "8UC1": RNG.integers(0, 256, (5, 7), dtype=np.uint8),
    "mono16": RNG.integers(0, 16384, (5, 7), dtype=np.uint16),
    "16UC1": RNG.integers(0, 65536, (5, 7), dtype=np.uint16),
    "32FC1": RNG.normal(30, 5, (5, 7)).astype(np.float32),
    "rgb8": RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
    "bgr8": RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
    "rgba8": RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8),
    "bgra8": RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8),
}


@pytest.mark.parametrize("encoding", list(SAMPLES))
def test_round_trip(encoding: str) -> None:
    arr = SAMPLES[encoding]
    step, data = encode(arr, encoding)
    out = decode(encoding, arr.shape[0], arr.shape[1], step, False, data)
    assert out.dtype == arr.dtype and np.array_equal(out, arr)


@pytest.mark.parametrize("encoding", ["mono16", "32FC1", "rgb8"])
def test_row_padding_and_big_endian(encoding: str) -> None:
    arr = SAMPLES[encoding]
    h, w = arr.shape[:2]
    be = arr.astype(arr.dtype.newbyteorder(">"))
    row = be.reshape(h, -1).view(np.uint8)
    step = row.shape[1] + 5
    raw = np.full((h, step), 0xAB, np.uint8)
    raw[:, : row.shape[1]] = row
    out = decode(encoding, h, w, step, True, array.array("B", raw.tobytes()))
    assert out.dtype == arr.dtype and out.dtype.isnative and np.array_equal(out, arr)


def test_decode_never_aliases_the_message_buffer() -> None:
    buf = array.array("B", bytes(12))
    out = decode("mono8", 3, 4, 4, False, buf)
    out[0, 0] = 9
    assert buf[0] == 0


@pytest.mark.parametrize(
    ("role", "enc", "h", "w", "step", "n", "message"),
    [
        ("ir", "rgb8", 2, 2, 6, 12, "ir encoding 'rgb8' is not supported"),
        ("visible", "16UC1", 2, 2, 4, 8, "visible encoding '16UC1' is not supported"),
        ("ir", "mono16", 0, 4, 8, 0, "empty"),
        ("ir", "mono16", 2, 4, 6, 12, "step 6 is smaller than"),
        ("visible", "bgr8", 4, 4, 12, 40, "truncated"),
    ],
)
def test_bad_layouts_are_one_line_errors(role, enc, h, w, step, n, message) -> None:
    with pytest.raises(EncodingError, match=message) as exc:
        check_layout(role, enc, h, w, step, n)
    assert "\n" not in str(exc.value)


def test_converter_builtin_visible_to_bgr_and_messages() -> None:
    conv = ImageConverter(use_cv_bridge=False)
    assert conv.backend == "builtin"
    rgb = SAMPLES["rgb8"]
    msg = array_to_image(rgb, "rgb8")
    assert isinstance(msg, Image) and msg.step == 21 and len(msg.data) == 105
    assert np.array_equal(conv.to_array(msg, "visible"), rgb[:, :, ::-1])
    bgra = array_to_image(SAMPLES["bgra8"], "bgra8")
    assert np.array_equal(conv.to_array(bgra, "visible"), SAMPLES["bgra8"][:, :, :3])
    out = conv.to_msg(SAMPLES["mono16"], "mono16", msg.header)
    assert out.encoding == "mono16" and out.is_bigendian == 0 and out.step == 14
    assert np.array_equal(conv.to_array(out, "ir"), SAMPLES["mono16"])


def test_converter_reports_why_cv_bridge_is_not_used() -> None:
    conv = ImageConverter()
    if conv.backend == "builtin":
        assert conv.reason  # e.g. "No module named 'cv_bridge'" or the NumPy ABI error


class _UpstreamStyleBridge:
    """cv_bridge's Python decode as released for Humble: rows strided by
    ``step / itemsize / channels`` (wrong when rows are padded), byte order fixed with
    ``ndarray.newbyteorder`` (removed in NumPy 2)."""

    def imgmsg_to_cv2(self, msg, desired_encoding="passthrough"):
        dtype, channels = {"bgr8": (np.uint8, 3), "mono16": (np.uint16, 1)}[msg.encoding]
        dtype = np.dtype(dtype)
        cols = int(msg.step / dtype.itemsize / channels)
        im = np.ndarray((msg.height, cols, channels), dtype, bytes(msg.data))
        im = np.ascontiguousarray(im[:, : msg.width])
        if msg.is_bigendian:
            im = im.byteswap().newbyteorder()
        return im[:, :, 0] if channels == 1 else im


class _CorrectBridge:
    """A cv_bridge that decodes right (the built-in decoder) and demosaics Bayer input."""

    calls: ClassVar[list[str]] = []

    def imgmsg_to_cv2(self, msg, desired_encoding="passthrough"):
        import cv2

        self.calls.append(msg.encoding)
        if msg.encoding == "bayer_rggb8":
            raw = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
            return cv2.cvtColor(raw[:, : msg.width], cv2.COLOR_BayerRG2BGR)
        return decode(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)


def _with_bridge(monkeypatch, cls) -> ImageConverter:
    import sys
    import types

    module = types.ModuleType("cv_bridge")
    module.CvBridge = cls
    monkeypatch.setitem(sys.modules, "cv_bridge", module)
    return ImageConverter()


def test_a_cv_bridge_that_mis_decodes_padded_rows_is_not_used(monkeypatch) -> None:
    conv = _with_bridge(monkeypatch, _UpstreamStyleBridge)
    assert conv.backend == "builtin" and conv.reason == "cv_bridge mis-decodes padded colour rows"
    bayer = Image(height=4, width=4, encoding="bayer_rggb8", step=4, data=bytes(16))
    with pytest.raises(EncodingError, match="visible encoding 'bayer_rggb8' is not supported"):
        conv.check(bayer, "visible")


def test_a_working_cv_bridge_only_adds_bayer_and_yuv_input(monkeypatch) -> None:
    conv = _with_bridge(monkeypatch, _CorrectBridge)
    assert conv.backend == "builtin+cv_bridge"
    _CorrectBridge.calls.clear()
    bgr = SAMPLES["bgr8"]
    padded = array_to_image(bgr, "bgr8")
    conv.check(padded, "visible")
    assert np.array_equal(conv.to_array(padded, "visible"), bgr)
    assert _CorrectBridge.calls == []  # documented encodings never go through cv_bridge
    bayer = Image(height=4, width=6, encoding="bayer_rggb8", step=6, data=bytes(range(24)))
    conv.check(bayer, "visible")
    assert conv.to_array(bayer, "visible").shape == (4, 6, 3)
    assert _CorrectBridge.calls == ["bayer_rggb8"]
    with pytest.raises(EncodingError, match="ir encoding 'bayer_rggb8' is not supported"):
        conv.check(bayer, "ir")
    truncated = Image(height=4, width=6, encoding="bayer_rggb8", step=6, data=bytes(10))
    with pytest.raises(EncodingError, match="empty or truncated"):
        conv.check(truncated, "visible")
