"""The managed (lifecycle) fusion node: ``fusion_node --ros-args -p lifecycle:=true``.

For nav2-style bring-up by a lifecycle manager. It starts unconfigured, holding nothing
but its parameters; ``configure`` loads and warms the model, ``activate`` opens the topics
and starts inference, ``deactivate`` closes them (the model stays loaded), ``cleanup``
releases the model and empties the CUDA cache. A transition that cannot be made returns
FAILURE with its one-line reason logged, and the node stays where it was.
"""

from __future__ import annotations

from typing import Any

from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn

from mtvif_ros.node.core import FusionCore
from mtvif_ros.node.fusion_node import one_line
from mtvif_ros.node.interfaces import NODE_NAME

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


class ManagedFusionNode(FusionCore, LifecycleNode):
    """The fusion node driven by lifecycle transitions (``change_state``/``get_state``)."""

    def __init__(self, **kwargs: Any) -> None:
        LifecycleNode.__init__(self, NODE_NAME, **kwargs)
        self.active = False

    def _transition(self, name: str, step) -> TransitionCallbackReturn:
        try:
            step()
        except Exception as exc:  # one line, and the node stays in its state
            self.get_logger().error(f"cannot {name}: {one_line(exc)}")
            return FAILURE
        return SUCCESS

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        result = self._transition("configure", self.configure)
        if result != SUCCESS:
            self.cleanup()
        return result

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        result = self._transition("activate", self.activate)
        if result == SUCCESS:
            self.active = True
            super().on_activate(state)
        else:
            self.deactivate()
        return result

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self.active = False
        super().on_deactivate(state)
        return self._transition("deactivate", self.deactivate)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        return self._transition("clean up", self.cleanup)

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        return self._transition("shut down", self._release)

    def on_error(self, state: State) -> TransitionCallbackReturn:
        return self._transition("recover", self._release)

    def _release(self) -> None:
        if self.active:
            self.deactivate()
            self.active = False
        self.cleanup()

    def destroy_node(self) -> None:
        self._release()
        super().destroy_node()
