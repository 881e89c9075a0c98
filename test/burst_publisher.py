"""Publishes a burst of IR/visible pairs from its own process (used by test_faults):
``python burst_publisher.py N SECONDS START_NS``. Waits for a subscriber first."""

from __future__ import annotations

import sys
import time

import rclpy
from sensor_msgs.msg import Image

from mtvif_ros.data import make_scene
from mtvif_ros.node.conversions import array_to_image
from mtvif_ros.node.interfaces import INPUT_TOPICS, make_qos

SEC = 1_000_000_000


def main() -> int:
    n, seconds, start = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    rclpy.init()
    node = rclpy.create_node("burst_publisher")
    qos = make_qos("reliable", n)
    pubs = {r: node.create_publisher(Image, t, qos) for r, t in INPUT_TOPICS.items()}
    end = time.monotonic() + 20
    while time.monotonic() < end and not all(p.get_subscription_count() for p in pubs.values()):
        time.sleep(0.02)
    s = make_scene(0, 48, 64)
    msgs = {
        "ir": array_to_image(s.ir, "mono16" if s.ir.dtype.itemsize == 2 else "mono8"),
        "visible": array_to_image(s.vis, "bgr8"),
    }
    t0 = time.monotonic()
    for i in range(n):
        stamp = start + i * int(seconds * SEC) // n
        for role, msg in msgs.items():
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, SEC)
            pubs[role].publish(msg)
        time.sleep(max(0.0, t0 + (i + 1) * seconds / n - time.monotonic()))
    print(f"published {n} pairs in {time.monotonic() - t0:.2f} s", flush=True)
    time.sleep(1.0)  # let reliable delivery finish before the writer goes away
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
