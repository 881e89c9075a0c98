"""Faults injected into a running node over real DDS, one test each: what the node must do,
checked. (SIGTERM during inference: test_node_cli; the IR camera dropping out with the
visible-only fallback: test_node.)"""

from __future__ import annotations

import re
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is installed by make test")

from ros_harness import Rig  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from mtvif_ros.data import make_scene  # noqa: E402
from mtvif_ros.node.interfaces import OUTPUT_TOPICS, make_qos  # noqa: E402

pytestmark = pytest.mark.usefixtures("ros_context")
SEC = 1_000_000_000
H, W = 48, 64


@pytest.fixture()
def rig():
    rigs = []

    def make(**kw) -> Rig:
        rigs.append(Rig(**kw))
        return rigs[-1]

    yield make
    for r in rigs:
        r.close()


def _stream(r: Rig, scene, start_ns: int, n: int, period_s: float = 0.05, ir_offset_ns: int = 0):
    """``n`` pairs at ``period_s``, stamps from ``start_ns`` (IR shifted by ``ir_offset_ns``)."""
    for i in range(n):
        t = start_ns + int(i * period_s * SEC)
        r.send(scene.ir, scene.vis, t + ir_offset_ns, t)
        time.sleep(period_s)


def _accounted(snap) -> bool:
    """Every pair reached an end: processed, superseded, paused or failed."""
    done = snap.processed + snap.superseded + snap.paused + snap.inference_errors
    return done == snap.pairs + snap.visible_only


def test_a_camera_that_stops_for_5_s_and_resumes(rig):
    """IR silent for 5 s: no outputs meanwhile (no fallback), the visible frames counted as
    unmatched, the no-pair warning explains it; pairs resume with IR."""
    r = rig(params={"sync.warn_after": 1.0, "qos.reliability": "reliable", "qos.depth": 20})
    s, t0 = make_scene(0, H, W), time.time_ns()
    _stream(r, s, t0, 5)
    assert r.wait(lambda: r.node.snapshot().pairs == 5)
    assert r.wait(lambda: _accounted(r.node.snapshot()))  # nothing in flight any more
    assert r.wait(lambda: len(r.outputs("labels")) == r.node.snapshot().processed)
    n_out = len(r.outputs("labels"))
    for _ in range(50):  # 5 s of visible only, 10 Hz, stamped at capture
        r.publish("visible", s.vis, time.time_ns())
        time.sleep(0.1)
    assert len(r.outputs("labels")) == n_out  # visible frames alone publish nothing
    reason = r.node.inputs.no_pair_reason(5.0)  # the camera, not the clocks, is blamed
    assert "none on /ir/image for" in reason and "has the ir camera stopped" in reason
    _stream(r, s, time.time_ns(), 5)
    assert r.wait(lambda: r.node.snapshot().pairs == 10)
    assert r.wait(lambda: _accounted(r.node.snapshot()))
    assert r.node.snapshot().unmatched_visible >= 40


def test_the_ir_clock_jumping_back_10_s(rig):
    r = rig(params={"qos.reliability": "reliable", "qos.depth": 20})
    s, t0 = make_scene(1, H, W), time.time_ns()
    _stream(r, s, t0, 5)
    assert r.wait(lambda: r.node.snapshot().pairs == 5)
    _stream(r, s, t0 - 10 * SEC, 5)  # both cameras' clock stepped back 10 s
    assert r.wait(lambda: r.node.snapshot().pairs == 10)
    assert r.node.snapshot().clock_jumps >= 1
    # the IR clock alone 10 s behind: nothing pairs across 10 s, the warning says why
    _stream(r, s, t0 - 9 * SEC, 5, ir_offset_ns=-10 * SEC)
    time.sleep(0.3)
    assert r.node.snapshot().pairs == 10
    reason = r.node.inputs.no_pair_reason(1.0)  # the clocks are blamed, by about 10 s
    assert re.search(r"IR-visible stamp offset is -(8|9|10)\.\d+ s, larger than", reason), reason
    _stream(r, s, t0 - 8 * SEC, 5)  # and back in step: pairs again
    assert r.wait(lambda: r.node.snapshot().pairs >= 14)


def test_the_publisher_switching_resolution_mid_stream(rig):
    r = rig(params={"qos.reliability": "reliable", "qos.depth": 20})
    t0 = time.time_ns()
    _stream(r, make_scene(0, H, W), t0, 3, period_s=0.1)
    assert r.wait(lambda: len(r.outputs("labels")) >= 1)
    big = make_scene(0, 2 * H, 2 * W)
    _stream(r, big, t0 + SEC, 3, period_s=0.1)
    assert r.wait(lambda: r.outputs("labels")[-1].height == 2 * H, 10)
    last = r.outputs("fused")[-1]
    assert (last.height, last.width) == (2 * H, 2 * W)
    assert r.node.snapshot().inference_errors == 0


def test_a_burst_of_200_pairs_in_one_second(rig):
    """200 pairs in 1 s from another process: the node keeps only the newest pair waiting,
    survives, accounts for every pair, and what it publishes last is one of the newest."""
    import subprocess
    import sys
    from pathlib import Path

    r = rig(params={"qos.reliability": "reliable", "qos.depth": 200})
    t0 = time.time_ns()
    burst = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("burst_publisher.py")),
            "200",
            "1.0",
            str(t0),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert burst.returncode == 0, burst.stderr
    assert r.wait(lambda: r.node.snapshot().pairs == 200, 20), r.node.snapshot()
    assert r.wait(lambda: _accounted(r.node.snapshot()), 20), r.node.snapshot()
    snap = r.node.snapshot()
    assert snap.superseded > 0 and snap.processed >= 1
    assert r.wait(lambda: len(r.outputs("labels")) == snap.processed)
    last = r.outputs("labels")[-1]
    stamp = last.header.stamp.sec * SEC + last.header.stamp.nanosec
    assert stamp >= t0 + 150 * SEC // 200  # one of the newest, not one from the queue's head


def test_the_engine_raising_on_one_frame(rig):
    """One frame fails inside inference: counted, warned, and the next frame is fine."""
    r = rig(params={"qos.reliability": "reliable", "qos.depth": 20})
    pipeline = r.node.pipeline
    real_run, calls = pipeline.run, {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real_run(*args, **kwargs)

    pipeline.run = flaky
    s, t0 = make_scene(0, H, W), time.time_ns()
    for i in range(4):
        r.send(s.ir, s.vis, t0 + i * SEC // 10)
        assert r.wait(
            lambda i=i: r.node.snapshot().processed + r.node.snapshot().inference_errors == i + 1,
            10,
        )
    snap = r.node.snapshot()
    assert snap.inference_errors == 1 and snap.processed == 3
    assert r.wait(lambda: len(r.outputs("labels")) == 3)


def test_the_output_subscriber_disappearing_and_returning(rig):
    """Nobody listening costs nothing and breaks nothing; a subscriber that leaves and comes
    back gets outputs again."""
    r = rig(subscribe=(), params={"qos.reliability": "reliable", "qos.depth": 20})
    s, t0 = make_scene(0, H, W), time.time_ns()
    _stream(r, s, t0, 3, period_s=0.1)
    assert r.wait(lambda: r.node.snapshot().processed == 3)

    def subscribe() -> tuple[list[Image], object]:
        got: list[Image] = []
        sub = r.probe.create_subscription(
            Image, OUTPUT_TOPICS["labels"], got.append, make_qos("reliable", 10)
        )
        return got, sub

    def stream_until_received(got: list[Image], start: int) -> None:
        for i in range(50):  # until discovery has matched the new subscription
            _stream(r, s, t0 + (start + i) * SEC // 10, 1, period_s=0.1)
            if r.wait(lambda: len(got) >= 2, 0.2):
                return
        raise AssertionError("the subscriber got no outputs")

    first, sub = subscribe()
    stream_until_received(first, 10)
    r.probe.destroy_subscription(sub)  # gone
    n = r.node.snapshot().processed
    _stream(r, s, t0 + 100 * SEC // 10, 3, period_s=0.1)
    assert r.wait(lambda: r.node.snapshot().processed == n + 3)
    again, _ = subscribe()  # and back
    stream_until_received(again, 200)
    assert r.node.snapshot().inference_errors == 0
    assert all(m.height == H for m in first + again)
