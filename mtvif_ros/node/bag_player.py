"""Play a bag's IR/visible topics over ROS with their recorded stamps (and /clock).

For machines with rclpy but no ``ros2 bag``; on a full ROS install,
``ros2 bag play BAG --clock`` does the same.
"""

from __future__ import annotations

import time
from pathlib import Path

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image

from mtvif_ros.bags.io import COMPRESSED, camera_topic, open_reader
from mtvif_ros.runtime.stamps import split_ns


class BagPlayer(Node):
    """Publishes every message of ``topics`` at the recorded pace divided by ``rate``. A
    camera topic recorded only as ``<topic>/compressed`` is played as that (its type from
    the bag: Image or CompressedImage); a topic not in the bag is a ValueError."""

    def __init__(
        self, bag: str | Path, topics: list[str], rate: float = 1.0, clock: bool = False
    ) -> None:
        super().__init__("mtvif_bag_player")
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.bag, self.rate = bag, rate
        reader = open_reader(bag)
        try:
            present = {c.topic: c.msgtype for c in reader.connections}
        finally:
            reader.close()
        self.topics = [camera_topic(present, t) for t in topics]
        missing = [t for t in self.topics if t not in present]
        if missing:
            raise ValueError(f"topics {', '.join(sorted(missing))} are not in {bag}")
        self.types = {
            t: CompressedImage if present[t] == COMPRESSED else Image for t in self.topics
        }
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pubs = {t: self.create_publisher(self.types[t], t, qos) for t in self.topics}
        self.clock_pub = self.create_publisher(Clock, "/clock", 10) if clock else None
        self.published = 0

    def play(self) -> int:
        reader = open_reader(self.bag)
        conns = [c for c in reader.connections if c.topic in self.pubs]
        start_wall, start_bag = time.monotonic(), None
        try:
            for conn, t_ns, raw in reader.messages(connections=conns):
                start_bag = t_ns if start_bag is None else start_bag
                wait = (t_ns - start_bag) / 1e9 / self.rate - (time.monotonic() - start_wall)
                if wait > 0:
                    time.sleep(wait)
                if not rclpy.ok():
                    break
                if self.clock_pub is not None:
                    clock = Clock()
                    clock.clock.sec, clock.clock.nanosec = split_ns(t_ns)
                    self.clock_pub.publish(clock)
                self.pubs[conn.topic].publish(deserialize_message(raw, self.types[conn.topic]))
                self.published += 1
        finally:
            reader.close()
        return self.published
