"""Shared bag plumbing: the type store, storage formats, Image and CompressedImage messages
↔ numpy."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from mtvif_ros.imaging.compressed import decode_compressed, encode_compressed
from mtvif_ros.imaging.encodings import check_layout, decode, encode, to_visible_bgr
from mtvif_ros.runtime.stamps import split_ns

TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)  # Image/Header are identical in later distros
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
Image = TYPESTORE.types[IMAGE]
CompressedImage = TYPESTORE.types[COMPRESSED]
Header = TYPESTORE.types["std_msgs/msg/Header"]
Time = TYPESTORE.types["builtin_interfaces/msg/Time"]
FORMATS = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
BAG_VERSION = 8  # QoS profiles as strings: the layout Humble's parser reads too (9 is not)


class BagError(RuntimeError):
    """A bag cannot be used as asked; the message says what and how to fix it."""


def open_writer(path: str | Path, storage: str = "mcap") -> Writer:
    if storage not in FORMATS:
        raise BagError(f"storage '{storage}' is unknown; use mcap or sqlite3")
    if Path(path).exists():
        raise BagError(f"{path} exists; rosbag2 writes a new folder, choose another path")
    return Writer(path, version=BAG_VERSION, storage_plugin=FORMATS[storage])


def open_reader(path: str | Path) -> Reader:
    if not Path(path).exists():
        raise BagError(f"bag {path} not found")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:  # rosbags raises its own errors for bad metadata/storage
        raise BagError(f"bag {path} cannot be opened ({_first_line(exc)})") from None
    return reader


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def make_image(arr: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Any:
    """numpy → a rosbags sensor_msgs/Image."""
    step, data = encode(arr, encoding)
    sec, nanosec = split_ns(stamp_ns)
    header = Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)
    return Image(
        header=header,
        height=arr.shape[0],
        width=arr.shape[1],
        encoding=encoding,
        is_bigendian=0,
        step=step,
        data=np.frombuffer(data, np.uint8),
    )


def make_compressed(arr: np.ndarray, role: str, stamp_ns: int, frame_id: str) -> Any:
    """numpy → a rosbags sensor_msgs/CompressedImage (IR as PNG, visible as JPEG)."""
    fmt, payload = encode_compressed(arr, role)
    sec, nanosec = split_ns(stamp_ns)
    header = Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)
    return CompressedImage(header=header, format=fmt, data=np.frombuffer(payload, np.uint8))


def image_array(msg: Any, role: str) -> np.ndarray:
    """A rosbags Image or CompressedImage → numpy as the engine takes it (visible: BGR or
    grey), validated like the node does (EncodingError if unusable)."""
    data = np.asarray(msg.data, dtype=np.uint8)
    if hasattr(msg, "format"):
        return decode_compressed(role, msg.format, data)
    check_layout(role, msg.encoding, msg.height, msg.width, msg.step, data.size)
    arr = decode(msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian), data)
    return arr if role == "ir" else to_visible_bgr(arr, msg.encoding)


def camera_topic(present: Iterable[str], topic: str) -> str:
    """``topic``, or its image_transport sibling ``topic/compressed`` when only that one
    was recorded (most robot bags)."""
    present = set(present)
    compressed = topic.rstrip("/") + "/compressed"
    return compressed if topic not in present and compressed in present else topic


def serialize(msg: Any, msgtype: str = IMAGE) -> bytes:
    return TYPESTORE.serialize_cdr(msg, msgtype)


def deserialize(raw: bytes, msgtype: str) -> Any:
    return TYPESTORE.deserialize_cdr(raw, msgtype)
