"""Publish image pairs (by default the built-in sample sequence) as IR and visible topics.

Used by the demo and the tests to drive the node over real DDS, with a chosen rate, a
constant IR-visible stamp offset and random per-camera stamp jitter, as two unsynchronized
cameras produce.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from mtvif_ros.node.conversions import array_to_image
from mtvif_ros.node.interfaces import INPUT_TOPICS, make_qos


class PairPlayer(Node):
    """Publishes ``frames`` (a sequence of (ir, vis) arrays) at ``rate_hz`` once, or looping.

    IR stamps are visible stamps + ``offset_s`` + N(0, ``jitter_s``); visible stamps are the
    node clock at publish time + N(0, ``jitter_s``). ``ir_encoding`` is picked from the IR
    dtype unless given; visible arrays are sent as bgr8 (or mono8 when 2-D).
    """

    def __init__(
        self,
        frames: Sequence[tuple[np.ndarray, np.ndarray]],
        rate_hz: float = 10.0,
        offset_s: float = 0.0,
        jitter_s: float = 0.0,
        loop: bool = False,
        seed: int = 0,
        reliability: str = "reliable",
        name: str = "mtvif_player",
    ) -> None:
        super().__init__(name)
        qos = make_qos(reliability, 10)
        self.pub_ir = self.create_publisher(Image, INPUT_TOPICS["ir"], qos)
        self.pub_vis = self.create_publisher(Image, INPUT_TOPICS["visible"], qos)
        self.frames = list(frames)
        self.offset_ns = int(offset_s * 1e9)
        self.jitter_s = jitter_s
        self.loop = loop
        self.rng = np.random.default_rng(seed)
        self.index = 0
        self.sent_stamps: list[tuple[int, int]] = []  # (ir, visible) stamps in ns
        self._msgs = [self._encode(ir, vis) for ir, vis in self.frames]
        self.timer = self.create_timer(1.0 / rate_hz, self._tick)

    @staticmethod
    def _encode(ir: np.ndarray, vis: np.ndarray) -> tuple[Image, Image]:
        ir_enc = {np.dtype(np.uint8): "mono8", np.dtype(np.uint16): "mono16"}.get(
            ir.dtype, "32FC1"
        )
        return array_to_image(ir, ir_enc), array_to_image(
            vis, "bgr8" if vis.ndim == 3 else "mono8"
        )

    @property
    def done(self) -> bool:
        return not self.loop and self.index >= len(self._msgs)

    def _tick(self) -> None:
        if self.done:
            return
        ir_msg, vis_msg = self._msgs[self.index % len(self._msgs)]
        self.index += 1
        base = self.get_clock().now().nanoseconds
        jitter = (
            (self.rng.normal(0.0, self.jitter_s, 2) * 1e9).astype(np.int64)
            if self.jitter_s
            else (0, 0)
        )
        vis_ns = base + int(jitter[1])
        ir_ns = vis_ns + self.offset_ns + int(jitter[0])
        ir_msg.header = Header(stamp=Time(nanoseconds=ir_ns).to_msg(), frame_id="ir_camera")
        vis_msg.header = Header(stamp=Time(nanoseconds=vis_ns).to_msg(), frame_id="camera")
        self.pub_ir.publish(ir_msg)
        self.pub_vis.publish(vis_msg)
        self.sent_stamps.append((ir_ns, vis_ns))
