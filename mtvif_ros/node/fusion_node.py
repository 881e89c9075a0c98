"""The fusion node: IR + visible images in, fused image and semantic labels out.

Thin by design: the phases and callbacks live in ``node.core`` (shared with the managed
node, ``node.managed``), inputs and pairing in ``node.inputs``, outputs in
``node.outputs``, names and QoS in ``node.interfaces``, and the frame itself
(registration, inference) in the pure-Python ``mtvif_ros.pipeline`` shared with the
offline bag evaluation.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from mtvif_ros.model import CheckpointError
from mtvif_ros.node.core import FusionCore
from mtvif_ros.node.interfaces import NODE_NAME, StartupError
from mtvif_ros.settings import SettingsError

__all__ = ["FusionNode", "StartupError", "run"]

STARTUP_ERRORS = (SettingsError, CheckpointError, ValueError, ParameterException)


class FusionNode(FusionCore, Node):
    """Fuses every synchronized IR/visible pair and publishes fused and label images.

    Construction configures and activates, so a node that exists is ready; any bad
    parameter or checkpoint raises ``StartupError`` with the one line to show the user.
    """

    def __init__(self, **kwargs: Any) -> None:
        Node.__init__(self, NODE_NAME, **kwargs)
        try:
            self.configure()
            self.activate()
        except StartupError:
            Node.destroy_node(self)  # release what was created; the context must not see it
            raise
        except STARTUP_ERRORS as exc:
            Node.destroy_node(self)
            raise StartupError(str(exc)) from None

    def destroy_node(self) -> None:
        """Stop the worker (it finishes the frame in hand) and release the node."""
        self._stop_worker()
        super().destroy_node()


def one_line(exc: BaseException) -> str:
    """An exception as the one line a user is shown."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return first if isinstance(exc, StartupError) else f"{type(exc).__name__}: {first}"


def run(argv: list[str], managed: bool = False) -> int:
    """Spin the node until shutdown (``mtvif_ros.node.main`` is the entry point). Returns the
    exit code: 0 after Ctrl-C or a shutdown request, 2 when the node cannot start, with one
    line saying why (a bad parameter, a missing checkpoint, a CUDA or compile error in
    warm-up), never a traceback. ``managed``: the lifecycle node, which starts
    unconfigured and reports failures through its transitions instead."""
    rclpy.init(args=argv)
    node = None
    try:
        try:
            if managed:
                from mtvif_ros.node.managed import ManagedFusionNode

                node = ManagedFusionNode()
            else:
                node = FusionNode()
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
