"""The node's entry point (``fusion_node``, ``python -m mtvif_ros.node``).

It decides the host memory setting before torch, numpy and rclpy are imported: glibc binds
each thread to a malloc arena once, and only if the inference worker shares the main heap
are its freed activations reused instead of faulted in again (``mtvif_ros.host_memory``).
The setting is applied only when the requested device means CPU inference, read from the
ROS arguments (``-p model.device:=…``, ``--params-file``) without starting anything.
"""

from __future__ import annotations

import signal
import sys
import threading

from mtvif_ros.host_memory import keep_freed_memory_for
from mtvif_ros.params.ros_args import requested_parameter


def main(argv: list[str] | None = None) -> int:
    """Run the fusion node until shutdown; the process exit code (2: could not start)."""
    argv = sys.argv if argv is None else argv
    keep_freed_memory_for(requested_parameter(argv, "model.device"))
    managed = str(requested_parameter(argv, "lifecycle")).lower() in ("true", "1", "yes")
    return run(argv, managed=managed)


def run(argv: list[str], managed: bool = False) -> int:
    """Spin the node until shutdown. Returns the exit code: 0 after Ctrl-C or a shutdown
    request, 2 when the node cannot start, with one line saying why (a bad parameter, a
    missing checkpoint, a CUDA or compile error in warm-up), never a traceback.
    ``managed``: left unconfigured for a lifecycle manager, which sees failures as
    FAILURE transitions instead."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from mtvif_ros.node.fusion_node import FusionNode, one_line
    from mtvif_ros.node.interfaces import NODE_NAME

    rclpy.init(args=argv)
    node = None
    try:
        try:
            node = FusionNode(autostart=not managed)
        except Exception as exc:  # StartupError; torch.compile, CUDA, driver errors too
            rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {one_line(exc)}")
            return 2
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        _ignore_further_interrupts()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def _ignore_further_interrupts() -> None:
    """A second Ctrl-C (``ros2 launch`` forwards one, the user presses another) must not
    interrupt the clean-up with a traceback."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
