"""ROS time stamps (``sec``, ``nanosec``) ↔ integer nanoseconds, for rclpy and rosbags
messages alike: pairing, latency and bag tools all compare stamps as one integer."""

from __future__ import annotations

from typing import Any

NS_PER_S = 1_000_000_000


def stamp_ns(sec: int, nanosec: int) -> int:
    """builtin_interfaces/Time fields → integer nanoseconds."""
    return int(sec) * NS_PER_S + int(nanosec)


def header_ns(msg: Any) -> int:
    """The stamp of any message with a ``header`` (rclpy or rosbags) in nanoseconds."""
    return stamp_ns(msg.header.stamp.sec, msg.header.stamp.nanosec)


def split_ns(ns: int) -> tuple[int, int]:
    """Integer nanoseconds → (sec, nanosec) for a builtin_interfaces/Time."""
    return divmod(int(ns), NS_PER_S)
