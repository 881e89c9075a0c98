"""The node's entry point (``fusion_node``, ``python -m mtvif_ros.node``).

It decides the host memory setting before torch, numpy and rclpy are imported: glibc binds
each thread to a malloc arena once, and only if the inference worker shares the main heap
are its freed activations reused instead of faulted in again (``mtvif_ros.host_memory``).
The setting is applied only when the requested device means CPU inference, read from the
ROS arguments (``-p model.device:=…``, ``--params-file``) without starting anything.
"""

from __future__ import annotations

import sys

from mtvif_ros.host_memory import keep_freed_memory_for
from mtvif_ros.ros_args import requested_parameter


def main(argv: list[str] | None = None) -> int:
    """Run the fusion node until shutdown; the process exit code (2: could not start)."""
    argv = sys.argv if argv is None else argv
    keep_freed_memory_for(requested_parameter(argv, "model.device"))
    managed = str(requested_parameter(argv, "lifecycle")).lower() in ("true", "1", "yes")
    from mtvif_ros.node.fusion_node import run

    return run(argv, managed=managed)
