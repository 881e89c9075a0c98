"""The managed (lifecycle) node over real DDS, driven through its lifecycle services."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is installed by make test")

from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from mtvif_ros.data import make_scene  # noqa: E402
from mtvif_ros.node.conversions import array_to_image  # noqa: E402
from mtvif_ros.node.fusion_node import FusionNode  # noqa: E402
from mtvif_ros.node.interfaces import INPUT_TOPICS, make_qos  # noqa: E402
from mtvif_ros.node.recorder import wait_until  # noqa: E402

pytestmark = pytest.mark.usefixtures("ros_context")
SEC = 1_000_000_000


class _Manager:
    """A lifecycle manager's view: the node's change_state/get_state services, a camera
    pair publisher and a fused-image subscriber."""

    def __init__(self, node_name: str = "/mtvif_fusion") -> None:
        self.node = rclpy.create_node("lifecycle_manager")
        self.change = self.node.create_client(ChangeState, f"{node_name}/change_state")
        self.get = self.node.create_client(GetState, f"{node_name}/get_state")
        qos = make_qos("reliable", 10)
        self.pub = {r: self.node.create_publisher(Image, t, qos) for r, t in INPUT_TOPICS.items()}
        self.fused: list[Image] = []
        self.node.create_subscription(Image, "fused/image", self.fused.append, qos)
        self.executor = MultiThreadedExecutor(num_threads=2)
        self.executor.add_node(self.node)
        self._spin = threading.Thread(target=self.executor.spin, daemon=True)
        self._spin.start()
        assert self.change.wait_for_service(timeout_sec=20)
        assert self.get.wait_for_service(timeout_sec=20)

    def _call(self, client, request):
        future = client.call_async(request)
        assert wait_until(future.done, 60), "no answer from the node"
        return future.result()

    def state(self) -> int:
        return self._call(self.get, GetState.Request()).current_state.id

    def transition(self, transition_id: int) -> bool:
        request = ChangeState.Request()
        request.transition.id = transition_id
        return self._call(self.change, request).success

    def send_pair(self, stamp_ns: int) -> None:
        s = make_scene(0, 48, 64)
        for role, arr, enc in (("ir", s.ir, None), ("visible", s.vis, "bgr8")):
            enc = enc or {"uint8": "mono8", "uint16": "mono16"}.get(str(arr.dtype), "32FC1")
            msg = array_to_image(arr, enc)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, SEC)
            self.pub[role].publish(msg)

    def close(self) -> None:
        self.executor.shutdown()
        self._spin.join(timeout=10)
        self.node.destroy_node()


@pytest.fixture()
def managed():
    nodes = []

    def make(**params):
        overrides = {"model.device": "cpu", **params}
        node = FusionNode(
            autostart=False,
            parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()],
        )
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(node)
        thread = threading.Thread(target=executor.spin, daemon=True)
        thread.start()
        nodes.append((node, executor, thread))
        return node

    yield make
    for node, executor, thread in nodes:
        executor.shutdown()
        thread.join(timeout=10)
        node.destroy_node()


def test_configure_activate_deactivate_cleanup_over_the_lifecycle_services(managed):
    node = managed()
    m = _Manager()
    try:
        assert m.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert node.engine is None and m.pub["ir"].get_subscription_count() == 0
        assert m.transition(Transition.TRANSITION_CONFIGURE)
        assert m.state() == State.PRIMARY_STATE_INACTIVE
        assert node.engine is not None  # loaded and warmed up, still no topics
        assert m.pub["ir"].get_subscription_count() == 0
        assert m.transition(Transition.TRANSITION_ACTIVATE)
        assert m.state() == State.PRIMARY_STATE_ACTIVE
        assert wait_until(lambda: m.pub["ir"].get_subscription_count() > 0, 10)
        base = time.time_ns()
        for i in range(20):  # until the output's discovery has happened
            m.send_pair(base + i * SEC // 10)
            if wait_until(lambda: len(m.fused) > 0, 0.3):
                break
        assert m.fused, "no output while active"
        assert m.transition(Transition.TRANSITION_DEACTIVATE)
        assert m.state() == State.PRIMARY_STATE_INACTIVE
        assert wait_until(lambda: m.pub["ir"].get_subscription_count() == 0, 10)
        n = len(m.fused)
        m.send_pair(base + 30 * SEC // 10)
        time.sleep(0.5)
        assert len(m.fused) == n  # inactive: nothing in, nothing out
        assert m.transition(Transition.TRANSITION_ACTIVATE)  # and back
        assert wait_until(lambda: m.pub["ir"].get_subscription_count() > 0, 10)
        for i in range(40, 60):
            m.send_pair(base + i * SEC // 10)
            if wait_until(lambda: len(m.fused) > n, 0.3):
                break
        assert len(m.fused) > n
        assert m.transition(Transition.TRANSITION_DEACTIVATE)
        assert m.transition(Transition.TRANSITION_CLEANUP)
        assert m.state() == State.PRIMARY_STATE_UNCONFIGURED and node.engine is None
        assert m.transition(Transition.TRANSITION_CONFIGURE)  # configurable again
        assert m.state() == State.PRIMARY_STATE_INACTIVE
    finally:
        m.close()


def test_a_configure_that_fails_returns_failure_and_stays_unconfigured(managed, caplog):
    managed(**{"model.checkpoint": "/nonexistent/model.pt"})
    m = _Manager()
    try:
        assert not m.transition(Transition.TRANSITION_CONFIGURE)
        assert m.state() == State.PRIMARY_STATE_UNCONFIGURED
    finally:
        m.close()


def test_an_activate_that_fails_returns_failure_stays_inactive_and_leaves_no_topic(managed):
    """A QoS override rclpy refuses makes activation fail midway (after the outputs and
    the IR subscription exist): FAILURE, the node stays inactive with its model loaded and
    every topic made so far released."""
    node = managed(**{"qos_overrides./visible/image.subscription.reliability": "sometimes"})
    m = _Manager()
    try:
        assert m.transition(Transition.TRANSITION_CONFIGURE)
        assert not m.transition(Transition.TRANSITION_ACTIVATE)
        assert m.state() == State.PRIMARY_STATE_INACTIVE and node.engine is not None
        topics = {t for e in node._own_entities() for t in [getattr(e, "topic_name", "")]}
        assert not topics & {"/ir/image", "/visible/image", "/fused/image", "/diagnostics"}
    finally:
        m.close()


def _start_managed(name: str, *params: str) -> subprocess.Popen:
    """``python -m mtvif_ros.node --ros-args -p lifecycle:=true`` named ``name``."""
    args = [a for p in ("lifecycle:=true", *params) for a in ("-p", p)]
    return subprocess.Popen(
        [sys.executable, "-m", "mtvif_ros.node", "--ros-args", *args, "-r", f"__node:={name}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_the_executable_with_lifecycle_true_starts_unconfigured():
    """``fusion_node --ros-args -p lifecycle:=true``: the same executable, managed."""
    proc = _start_managed("managed_cli", "model.device:=cpu")
    m = None
    try:
        m = _Manager("/managed_cli")
        assert m.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert m.transition(Transition.TRANSITION_CONFIGURE)
        assert m.transition(Transition.TRANSITION_ACTIVATE)
        assert m.state() == State.PRIMARY_STATE_ACTIVE
        assert wait_until(lambda: m.pub["visible"].get_subscription_count() > 0, 10)
    finally:
        if m is not None:
            m.close()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "ready:" in err


def test_a_failed_configure_is_one_line_in_the_log_and_the_process_lives_on():
    proc = _start_managed("managed_bad", "model.checkpoint:=/nonexistent/model.pt")
    m = None
    try:
        m = _Manager("/managed_bad")
        assert not m.transition(Transition.TRANSITION_CONFIGURE)
        assert m.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert proc.poll() is None  # a failed transition does not end the node
    finally:
        if m is not None:
            m.close()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    lines = [ln for ln in err.splitlines() if "cannot configure" in ln]
    assert len(lines) == 1 and "/nonexistent/model.pt" in lines[0], err
    assert "Traceback" not in err and proc.returncode == 0
