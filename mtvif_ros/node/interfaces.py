"""The node's contract with the outside: its names on the ROS graph, its QoS and how it
refuses to start, which launch files, players, recorders and tests must agree on."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

NODE_NAME = "mtvif_fusion"
INPUT_TOPICS = {"ir": "ir/image", "visible": "visible/image"}
OUTPUT_TOPICS = {
    "fused": "fused/image",
    "labels": "segmentation/labels",
    "color": "segmentation/color",
    "overlay": "segmentation/overlay",
}
# optional calibration of the cameras; the outputs carry the visible one's
INPUT_INFO_TOPICS = {"ir": "ir/camera_info", "visible": "visible/camera_info"}
OUTPUT_INFO_TOPICS = {"fused": "fused/camera_info", "labels": "segmentation/camera_info"}
DIAGNOSTICS_TOPIC = "/diagnostics"
ENABLE_SERVICE = "~/enable"


class StartupError(RuntimeError):
    """The node cannot start; the message is the one line to show the user."""


_RELIABILITY = {
    "best_effort": ReliabilityPolicy.BEST_EFFORT,
    "reliable": ReliabilityPolicy.RELIABLE,
    "system_default": ReliabilityPolicy.SYSTEM_DEFAULT,
}


def make_qos(reliability: str, depth: int) -> QoSProfile:
    """Keep-last, volatile QoS with the given reliability (a ``qos.reliability`` value)."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=_RELIABILITY[reliability],
        durability=DurabilityPolicy.VOLATILE,
    )


def message_filters_available() -> bool:
    """True where the ROS-standard synchronizer is installed (every ROS 2 install)."""
    try:
        import message_filters  # noqa: F401
    except ImportError:
        return False
    return True
