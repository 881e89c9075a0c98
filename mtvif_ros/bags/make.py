"""Build a rosbag2 bag of IR + visible sensor_msgs/Image topics from image pairs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mtvif_ros.bags.boxes import BoxFolderWriter
from mtvif_ros.bags.io import (
    COMPRESSED,
    IMAGE,
    TYPESTORE,
    make_compressed,
    make_image,
    open_writer,
    serialize,
)
from mtvif_ros.data.datasets import Pair
from mtvif_ros.imaging import normalize_ir


def ir_for_encoding(ir: np.ndarray, encoding: str) -> np.ndarray:
    """IR as the chosen encoding: mono16 keeps 16-bit counts (8-bit sources are scaled to
    14-bit counts ×64), mono8 is the display-normalized image."""
    if encoding == "mono16":
        return ir if ir.dtype == np.uint16 else ir.astype(np.uint16) * 64
    if encoding == "mono8":
        return ir if ir.dtype == np.uint8 else (normalize_ir(ir) * 255 + 0.5).astype(np.uint8)
    raise ValueError(f"IR encoding '{encoding}' is not offered; use mono8 or mono16")


def make_bag(
    pairs: Sequence[Pair],
    path: str | Path,
    storage: str = "mcap",
    rate_hz: float = 10.0,
    offset_ms: float = 0.0,
    jitter_ms: float = 0.0,
    ir_encoding: str = "mono16",
    ir_topic: str = "/ir/image",
    visible_topic: str = "/visible/image",
    labels_topic: str | None = "/segmentation/labels_gt",
    start_ns: int = 1_700_000_000_000_000_000,
    seed: int = 0,
    boxes_out: str | Path | None = None,
    box_variants: Sequence[str] = (),
    compressed: bool = False,
) -> dict[str, int]:
    """Write the pairs at ``rate_hz``; IR stamps = visible stamps + offset + N(0, jitter),
    visible stamps get their own N(0, jitter). Bag (receive) time = stamp + 1 ms. Ground-truth
    labels, where a pair has them, go on ``labels_topic`` with the visible stamp; its boxes,
    with ``boxes_out``, into ``boxes_out/<variant>/<visible stamp>.txt`` (``bags.boxes``).
    ``compressed``: the cameras as CompressedImage on ``<topic>/compressed`` (IR as PNG in
    ``ir_encoding``'s depth, visible as JPEG), as robots usually record them."""
    rng = np.random.default_rng(seed)
    counts = {"pairs": 0, "labels": 0, "boxes": 0}
    box_writer = BoxFolderWriter(boxes_out, box_variants) if boxes_out is not None else None
    period = int(1e9 / rate_hz)
    with open_writer(path, storage) as writer:
        cam_type, suffix = (COMPRESSED, "/compressed") if compressed else (IMAGE, "")
        c_ir = writer.add_connection(ir_topic + suffix, cam_type, typestore=TYPESTORE)
        c_vis = writer.add_connection(visible_topic + suffix, cam_type, typestore=TYPESTORE)
        c_lab = (
            writer.add_connection(labels_topic, IMAGE, typestore=TYPESTORE)
            if labels_topic
            else None
        )
        for i in range(len(pairs)):
            pair = pairs[i]
            j_ir, j_vis = (
                (rng.normal(0, jitter_ms, 2) * 1e6).astype(np.int64) if jitter_ms else (0, 0)
            )
            vis_ns = start_ns + i * period + int(j_vis)
            ir_ns = vis_ns + int(offset_ms * 1e6) + int(j_ir)
            ir_msg, vis_msg = _camera_messages(pair, ir_ns, vis_ns, ir_encoding, compressed)
            msgs = [(c_ir, ir_ns, ir_msg, cam_type), (c_vis, vis_ns, vis_msg, cam_type)]
            if c_lab is not None and pair.labels is not None:
                label_msg = make_image(pair.labels, "mono8", vis_ns, "camera")
                msgs.append((c_lab, vis_ns, label_msg, IMAGE))
                counts["labels"] += 1
            if box_writer is not None and pair.box_variants is not None:
                box_writer.add(vis_ns, pair.name, pair.box_variants, pair.vis.shape[:2])
                counts["boxes"] += 1
            for conn, stamp, msg, msgtype in sorted(msgs, key=lambda m: m[1]):
                writer.write(conn, stamp + 1_000_000, serialize(msg, msgtype))
            counts["pairs"] += 1
    if box_writer is not None:
        box_writer.close()
    return counts


def _camera_messages(pair: Pair, ir_ns: int, vis_ns: int, ir_encoding: str, compressed: bool):
    """The IR and visible messages of one pair: Image, or CompressedImage (IR as PNG in
    ``ir_encoding``'s depth, visible as JPEG)."""
    ir = ir_for_encoding(pair.ir, ir_encoding)
    if compressed:
        return (
            make_compressed(ir, "ir", ir_ns, "ir_camera"),
            make_compressed(pair.vis, "visible", vis_ns, "camera"),
        )
    vis_encoding = "bgr8" if pair.vis.ndim == 3 else "mono8"
    return (
        make_image(ir, ir_encoding, ir_ns, "ir_camera"),
        make_image(pair.vis, vis_encoding, vis_ns, "camera"),
    )
