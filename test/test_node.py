"""The fusion node over real DDS (rclpy + Fast DDS from the pip wheels).

A probe node publishes IR/visible images and subscribes to the outputs; the fusion node
runs in the same process on CPU with small images so each inference takes milliseconds.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is installed by make test")

from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import ReliabilityPolicy  # noqa: E402
from ros_harness import Rig  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_srvs.srv import SetBool  # noqa: E402

from mtvif_ros.data import make_scene  # noqa: E402
from mtvif_ros.engine import FusionEngine  # noqa: E402
from mtvif_ros.imaging import warp_ir  # noqa: E402
from mtvif_ros.node.conversions import array_to_image  # noqa: E402
from mtvif_ros.node.fusion_node import FusionNode, StartupError  # noqa: E402
from mtvif_ros.node.interfaces import OUTPUT_TOPICS  # noqa: E402
from mtvif_ros.params.settings import DEFAULTS  # noqa: E402

H, W = 48, 64
SEC = 1_000_000_000


pytestmark = pytest.mark.usefixtures("ros_context")


@pytest.fixture(scope="module")
def scenes():
    return [make_scene(i, H, W, night=bool(i % 2)) for i in range(4)]


@pytest.fixture(params=["builtin", "message_filters"])
def rig(request):
    """Makes rigs whose node pairs with the built-in pairer, then (where the package is
    installed) with message_filters: every node behaviour is checked on both."""
    from mtvif_ros.node.interfaces import message_filters_available

    if request.param == "message_filters" and not message_filters_available():
        pytest.skip("message_filters is not installed (a ROS 2 install or ../shared/ros_wheels)")
    rigs = []

    def make(**kw) -> Rig:
        kw["params"] = {"sync.backend": request.param, **kw.get("params", {})}
        rigs.append(Rig(**kw))
        assert rigs[-1].node.inputs.backend == request.param
        return rigs[-1]

    yield make
    for r in rigs:
        r.close()


def _base_ns() -> int:
    return time.time_ns()


def test_pairs_give_one_fused_and_one_label_image_each_with_the_visible_header(rig, scenes):
    r = rig()  # reliable publisher → best-effort subscriber (the node's default QoS)
    base = _base_ns()
    for i, s in enumerate(scenes):
        r.send(s.ir, s.vis, base + i * SEC // 10)
        assert r.wait(lambda i=i: len(r.outputs("labels")) == i + 1)
    time.sleep(0.3)
    fused, labels = r.outputs("fused"), r.outputs("labels")
    assert len(fused) == len(labels) == len(scenes)  # exactly one output per input pair
    for i, (f, lab) in enumerate(zip(fused, labels, strict=True)):
        stamp = base + i * SEC // 10
        for m in (f, lab):
            assert m.header.frame_id == "camera_optical"
            assert m.header.stamp.sec * SEC + m.header.stamp.nanosec == stamp
            assert (m.height, m.width) == (H, W)
        assert f.encoding == "bgr8" and lab.encoding == "mono8"
        assert max(lab.data) < 9
    assert r.node.snapshot().processed == len(scenes)


def test_node_output_equals_the_engine_on_the_same_pair(rig, scenes):
    """Node and offline tools share the engine: identical labels and fused pixels."""
    r = rig()
    s = scenes[1]
    r.send(s.ir, s.vis, _base_ns())
    assert r.wait(lambda: len(r.outputs("labels")) == 1)
    expected = FusionEngine(device="cpu").run(s.ir, s.vis)
    lab = np.frombuffer(bytes(r.outputs("labels")[0].data), np.uint8).reshape(H, W)
    fused = np.frombuffer(bytes(r.outputs("fused")[0].data), np.uint8).reshape(H, W, 3)
    assert np.array_equal(lab, expected.labels) and np.array_equal(fused, expected.fused)


def test_min_confidence_set_at_runtime_reaches_the_published_labels(rig, scenes):
    """labels.min_confidence, changed with a parameter while running, gives the labels the
    engine gives with it: fewer labelled pixels, the rest unchanged."""
    r = rig()
    s, engine = scenes[1], FusionEngine(device="cpu")
    r.send(s.ir, s.vis, _base_ns())
    assert r.wait(lambda: len(r.outputs("labels")) == 1)
    assert r.node.set_parameters([Parameter("labels.min_confidence", value=0.9)])[0].successful
    r.send(s.ir, s.vis, _base_ns())
    assert r.wait(lambda: len(r.outputs("labels")) == 2)
    plain, strict = (
        np.frombuffer(bytes(m.data), np.uint8).reshape(H, W) for m in r.outputs("labels")
    )
    assert np.array_equal(plain, engine.run(s.ir, s.vis).labels)
    assert np.array_equal(strict, engine.run(s.ir, s.vis, min_confidence=0.9).labels)
    assert (strict > 0).sum() < (plain > 0).sum()


def test_jitter_within_slop_pairs_and_offset_beyond_slop_does_not(rig, scenes):
    r = rig(params={"sync.slop": 0.02, "sync.warn_after": 0.5})
    base = _base_ns()
    s = scenes[0]
    jitter = [7, -9, 12, -15]  # ms, all within the 20 ms slop
    for i, j in enumerate(jitter):
        t = base + i * SEC // 10
        r.send(s.ir, s.vis, t + j * 1_000_000, t)
        assert r.wait(lambda i=i: len(r.outputs("labels")) == i + 1), f"jitter {j} ms"
    n = r.node.snapshot().pairs
    # 30 ms offset at 10 Hz: beyond the slop, no pair may form
    for i in range(8):
        t = base + (10 + i) * SEC // 10
        r.send(s.ir, s.vis, t + 30_000_000, t)
        time.sleep(0.1)
    time.sleep(0.3)
    assert r.node.snapshot().pairs == n and len(r.outputs("labels")) == len(jitter)
    reason = r.node.inputs.no_pair_reason(1.0)
    assert "+0.030 s" in reason and "larger than sync.slop 0.020 s" in reason


def test_stamps_looping_back_pair_as_often_in_every_loop(rig, scenes):
    """A bag played with --loop (or a simulator reset): 12 Hz visible, 4 Hz IR 5 ms later,
    stamps restarting every 2.5 s. Each loop must pair all of its 10 IR frames."""
    r = rig(params={"sync.slop": 0.02, "qos.reliability": "reliable", "qos.depth": 100})
    s, base, per_loop = scenes[0], _base_ns(), []
    received = 0
    for _ in range(3):
        before = r.node.snapshot().pairs
        for k in range(30):
            t = base + k * SEC // 12
            r.publish("visible", s.vis, t)
            received += 1
            if k % 3 == 0:
                r.publish("ir", s.ir, t + 5_000_000)
                received += 1
                # in step with the node: the probe's 10-deep history never overwrites
                assert r.wait(lambda n=received: _received(r) >= n, 10.0)
        assert r.wait(lambda b=before: r.node.snapshot().pairs - b >= 10, 10.0), (
            per_loop,
            r.node.snapshot(),
        )
        time.sleep(0.2)
        per_loop.append(r.node.snapshot().pairs - before)
    assert per_loop == [10, 10, 10]
    assert r.node.snapshot().counts()["clock_jumps"] >= 2


def test_a_simulator_reset_on_clock_restarts_pairing_at_once(rig, scenes):
    """use_sim_time and /clock going back 0.2 s (far less than the 2 s the stamps alone
    must jump): the frames queued before the reset are dropped at the reset (counted), so
    an IR frame of the new run pairs with its own visible frame, not an old one, even one
    stamped before the time the clock went back to."""
    from rclpy.time import Time
    from rosgraph_msgs.msg import Clock

    r = rig(params={"use_sim_time": True, "qos.reliability": "reliable", "qos.depth": 20})
    clock = r.probe.create_publisher(Clock, "/clock", 10)
    assert r.wait(lambda: clock.get_subscription_count() > 0)

    def set_clock(ns: int) -> None:
        clock.publish(Clock(clock=Time(nanoseconds=ns).to_msg()))
        assert r.wait(lambda: r.node.get_clock().now().nanoseconds == ns)

    t0, old, new = 100 * SEC, scenes[0], scenes[1]
    set_clock(t0)
    r.send(old.ir, old.vis, t0)
    assert r.wait(lambda: r.node.snapshot().pairs == 1)
    for k in (1, 2, 3):  # visible frames whose IR partners never come: queued
        set_clock(t0 + k * SEC // 10)
        r.publish("visible", old.vis, t0 + k * SEC // 10)
    assert r.wait(lambda: _received(r) == 5)
    set_clock(t0 + SEC // 10)  # the simulator restarts 0.2 s back
    assert r.wait(lambda: r.node.snapshot().clock_jumps == 1)
    assert r.node.snapshot().unmatched_visible == 3
    r.publish("ir", new.ir, t0 + SEC // 10)  # the new run's frame at t0 + 0.1 s
    assert r.wait(lambda: _received(r) == 6)
    time.sleep(0.2)
    assert r.node.snapshot().pairs == 1  # not paired with the old run's t0 + 0.1 s frame
    r.publish("visible", new.vis, t0 + SEC // 10)
    assert r.wait(lambda: r.node.snapshot().pairs == 2)


def _received(r) -> int:
    snap = r.node.snapshot()
    return snap.ir_received + snap.visible_received


def _latest_diagnostics(r) -> dict[str, str]:
    diags = r.outputs("diag")
    return {kv.key: kv.value for kv in diags[-1].status[0].values} if diags else {}


def test_ir_dropout_falls_back_to_visible_only_and_returns_to_pairs(rig, scenes):
    """The thermal camera stops for 1.5 s and resumes: labels keep coming from the visible
    image (with it as the fused image), /diagnostics says so, and pairs resume with IR."""
    params = {
        "sync.fallback": "visible_only",
        "sync.fallback_after": 0.5,
        "diagnostics.period": 0.2,
        "qos.reliability": "reliable",
        "qos.depth": 20,
    }
    r = rig(params=params)
    s, base = scenes[0], _base_ns()
    r.send(s.ir, s.vis, base)
    assert r.wait(lambda: len(r.outputs("labels")) == 1)
    assert r.node.snapshot().visible_only == 0
    stamps = []
    for i in range(1, 16):  # IR stops; the visible camera goes on at 10 Hz
        stamps.append(base + i * SEC // 10)
        r.publish("visible", s.vis, stamps[-1])
        time.sleep(0.1)
    assert r.wait(lambda: r.node.snapshot().visible_only >= 5, 5)
    assert r.wait(lambda: _latest_diagnostics(r).get("mode") == "visible-only", 5)
    diag = r.outputs("diag")[-1].status[0]
    assert diag.level == DiagnosticStatus.WARN
    assert "no IR for" in diag.message
    assert float(_latest_diagnostics(r)["time since last IR frame (s)"]) >= 0.5
    alone = r.node.snapshot().visible_only
    assert 5 <= alone <= 13  # not before fallback_after (0.5 s = the first ~4 frames)
    out = r.outputs("fused")[-1]
    t_out = out.header.stamp.sec * SEC + out.header.stamp.nanosec
    assert t_out in stamps  # stamped like the visible frame it came from
    fused = np.frombuffer(bytes(out.data), np.uint8).reshape(H, W, 3)
    assert np.array_equal(fused, s.vis)  # the visible image stands in for the fused one
    pairs = r.node.snapshot().pairs
    for i in range(16, 22):  # IR is back
        r.send(s.ir, s.vis, base + i * SEC // 10)
        time.sleep(0.1)
    assert r.wait(lambda: r.node.snapshot().pairs >= pairs + 4, 5)
    assert not r.node.inputs.dropout.active
    # a visible frame delivered just before the first IR one may still go out alone
    assert r.node.snapshot().visible_only <= alone + 1
    assert r.wait(lambda: _latest_diagnostics(r).get("mode") == "pairs", 5)


def test_without_fallback_a_silent_ir_camera_stops_the_outputs(rig, scenes):
    r = rig(params={"sync.fallback_after": 0.2})  # sync.fallback: none (the default)
    s, base = scenes[0], _base_ns()
    for i in range(8):
        r.publish("visible", s.vis, base + i * SEC // 10)
        time.sleep(0.1)
    time.sleep(0.3)
    assert r.outputs("labels") == [] and r.node.snapshot().visible_only == 0


def test_incompatible_qos_is_counted_and_named_instead_of_blaming_the_remap(rig, scenes):
    """Cameras publishing BEST_EFFORT into a RELIABLE visible subscription: nothing arrives.
    The node counts the event, says which side is which, and per-input QoS applies."""
    params = {
        "qos.visible.reliability": "reliable",
        "qos.ir.depth": 3,
        "sync.warn_after": 0.3,
        "diagnostics.period": 0.2,
    }
    r = rig(params=params, pub_reliability="best_effort", inputs_match=False)
    subs = r.node.inputs.subscriptions
    assert subs["ir"].qos_profile.depth == 3 and subs["visible"].qos_profile.depth == 5
    assert subs["visible"].qos_profile.reliability == ReliabilityPolicy.RELIABLE
    assert subs["ir"].qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
    base = _base_ns()
    for i in range(8):
        r.send(scenes[0].ir, scenes[0].vis, base + i * SEC // 10)
        time.sleep(0.1)
    assert r.wait(lambda: r.node.snapshot().incompatible_qos_visible >= 1, 5)
    assert r.node.snapshot().incompatible_qos_ir == 0 and r.outputs("labels") == []
    reason = r.node.inputs.no_pair_reason(1.0)
    assert "visible publisher on /visible/image is BEST_EFFORT, subscription RELIABLE" in reason
    assert "remapping" not in reason
    assert r.wait(lambda: int(_latest_diagnostics(r).get("incompatible qos visible", 0)) >= 1)


def test_standard_qos_overrides_apply_to_inputs_and_outputs(rig):
    r = rig(
        params={
            "qos_overrides./visible/image.subscription.reliability": "reliable",
            "qos_overrides./fused/image.publisher.depth": 7,
        }
    )
    subs = r.node.inputs.subscriptions
    assert subs["visible"].qos_profile.reliability == ReliabilityPolicy.RELIABLE
    assert subs["ir"].qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
    assert r.node.outputs.pubs["fused"].qos_profile.depth == 7


def test_outputs_carry_the_visible_camera_info_scaled_and_stamped(rig, scenes):
    from sensor_msgs.msg import CameraInfo

    from mtvif_ros.node.interfaces import INPUT_INFO_TOPICS, OUTPUT_INFO_TOPICS, make_qos

    r = rig()
    got = {k: [] for k in OUTPUT_INFO_TOPICS}
    for kind, topic in OUTPUT_INFO_TOPICS.items():
        r.probe.create_subscription(CameraInfo, topic, got[kind].append, make_qos("reliable", 10))
    info_pub = r.probe.create_publisher(
        CameraInfo, INPUT_INFO_TOPICS["visible"], make_qos("reliable", 10)
    )
    assert r.wait(lambda: info_pub.get_subscription_count() > 0)
    calib = CameraInfo(width=4 * W, height=4 * H, distortion_model="plumb_bob")
    calib.k = [400.0, 0.0, 128.0, 0.0, 410.0, 96.0, 0.0, 0.0, 1.0]
    calib.p = [400.0, 0.0, 128.0, 0.0, 0.0, 410.0, 96.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    calib.d = [0.1, -0.2, 0.0, 0.0, 0.0]
    info_pub.publish(calib)
    assert r.wait(lambda: r.node.camera_info.get("visible") is not None)
    t = _base_ns()
    r.send(scenes[0].ir, scenes[0].vis, t)
    assert r.wait(lambda: all(got.values()) and len(r.outputs("fused")) == 1)
    for kind in OUTPUT_INFO_TOPICS:
        info = got[kind][0]
        assert info.header == r.outputs("fused")[0].header  # stamp and frame of the image
        assert (info.width, info.height) == (W, H)  # the published images' size
        assert list(info.k) == [100.0, 0.0, 32.0, 0.0, 102.5, 24.0, 0.0, 0.0, 1.0]
        assert list(info.p)[:7] == [100.0, 0.0, 32.0, 0.0, 0.0, 102.5, 24.0]
        assert list(info.d) == [0.1, -0.2, 0.0, 0.0, 0.0]


def test_compressed_cameras_replayed_from_a_bag_are_fused(rig, tmp_path):
    """A bag recorded with compressed topics (IR PNG 16-bit, visible JPEG) under the robot's
    own names, replayed into a node with ``*.transport: compressed`` and the image topic
    remapped: it subscribes to <remapped topic>/compressed and fuses every pair."""
    pytest.importorskip("rosbags", reason="rosbags is installed by make test")
    from mtvif_ros.bags.make import make_bag
    from mtvif_ros.data import SyntheticScenes
    from mtvif_ros.node.bag_player import BagPlayer

    scenes = SyntheticScenes(4, H, W, seed=3)
    make_bag(
        scenes,
        tmp_path / "robot",
        rate_hz=10,
        offset_ms=5,
        ir_topic="/thermal/image_raw",
        compressed=True,
    )
    r = rig(
        params={
            "ir.transport": "compressed",
            "visible.transport": "compressed",
            "qos.reliability": "reliable",
            "qos.depth": 20,
        },
        remap={"ir/image": "/thermal/image_raw"},
        inputs_match=False,
    )
    assert r.node.inputs.subscriptions["ir"].topic_name == "/thermal/image_raw/compressed"
    assert r.node.inputs.subscriptions["visible"].topic_name == "/visible/image/compressed"
    player = BagPlayer(tmp_path / "robot", ["/thermal/image_raw", "/visible/image"], rate=2.0)
    try:
        assert r.wait(lambda: all(p.get_subscription_count() for p in player.pubs.values())), {
            t: p.get_subscription_count() for t, p in player.pubs.items()
        }
        assert player.play() == 8
        assert r.wait(lambda: r.node.snapshot().pairs == 4, 10), r.node.snapshot()
        done = lambda: r.node.snapshot().processed + r.node.snapshot().superseded == 4  # noqa: E731
        assert r.wait(done, 10), r.node.snapshot()
    finally:
        player.destroy_node()
    snap = r.node.snapshot()
    assert snap.bad_ir == snap.bad_visible == 0 and snap.processed >= 1
    assert r.wait(lambda: len(r.outputs("labels")) == snap.processed)
    assert len({_stamp(m) for m in r.outputs("labels")}) == snap.processed


def _stamp(msg) -> int:
    return msg.header.stamp.sec * SEC + msg.header.stamp.nanosec


def test_faster_publisher_than_inference_keeps_latency_bounded(rig):
    """Pairs at 50 Hz into a ~100+ ms model: only the newest pair waits; drops are counted."""
    big = make_scene(0, 240, 320)
    # no DDS loss: every pair must be accounted, even when the loaded machine delays the
    # node's callbacks (a 5-deep keep-last reader would overwrite samples then)
    r = rig(params={"qos.reliability": "reliable", "qos.depth": 50})
    base = _base_ns()
    n = 40
    for i in range(n):
        r.send(big.ir, big.vis, base + i * SEC // 50)
        time.sleep(0.02)
    last_stamp = base + (n - 1) * SEC // 50
    node = r.node

    def drained() -> bool:
        c = node.snapshot()
        return c.pairs == n and c.processed + c.superseded == n

    assert r.wait(drained, timeout=60)
    c = node.snapshot()
    assert c.superseded > 0 and c.processed < n
    # no queue: the last output is the last pair published, not a stale one
    assert r.wait(lambda: len(r.outputs("labels")) == c.processed, timeout=30)
    final = r.outputs("labels")[-1].header.stamp
    assert final.sec * SEC + final.nanosec == last_stamp


def test_best_effort_publisher_also_works(rig, scenes):
    r = rig(pub_reliability="best_effort")
    r.send(scenes[0].ir, scenes[0].vis, _base_ns())
    assert r.wait(lambda: len(r.outputs("fused")) == 1)


def _bad_messages(s):
    ir16 = array_to_image(s.ir, "mono16")
    truncated = array_to_image(s.ir, "mono16")
    truncated.data = truncated.data[: len(truncated.data) // 2]
    wrong_enc = array_to_image(s.vis, "rgb8")
    empty = array_to_image(np.zeros((0, 0), np.uint16), "mono16")
    padded_bad_step = array_to_image(s.ir, "mono16")
    padded_bad_step.step = 10  # smaller than width * 2
    return [
        ("wrong encoding", wrong_enc, s.vis, "bad_ir"),
        ("step/data mismatch", truncated, s.vis, "bad_ir"),
        ("zero-sized", empty, s.vis, "bad_ir"),
        ("step too small", padded_bad_step, s.vis, "bad_ir"),
        ("visible 16-bit", ir16, array_to_image(s.ir, "16UC1"), "bad_visible"),
    ]


def test_every_bad_input_is_dropped_counted_and_the_next_good_pair_processed(rig, scenes):
    r = rig()
    s = scenes[0]
    base = _base_ns()
    t = base
    for i, (what, ir, vis, counter) in enumerate(_bad_messages(s)):
        before = getattr(r.node.snapshot(), counter)
        r.send(ir, vis, t)
        assert r.wait(lambda c=counter, b=before: getattr(r.node.snapshot(), c) > b), what
        t += SEC // 10
        r.send(s.ir, s.vis, t)  # a good pair right after
        assert r.wait(lambda i=i: len(r.outputs("labels")) == i + 1), what
        t += SEC // 10
    # zero stamps cannot be synchronized: dropped and counted
    before = r.node.snapshot().bad_ir
    r.send(s.ir, s.vis, 0)
    assert r.wait(lambda: r.node.snapshot().bad_ir == before + 1)
    # NaN/inf temperatures and IR of another size are processed, and counted
    temps = (s.ir.astype(np.float32) / 100 - 40).copy()
    temps[0, :5] = [np.nan, np.inf, -np.inf, np.nan, np.nan]
    n = len(r.outputs("labels"))
    r.send(temps, s.vis, t)
    assert r.wait(lambda: len(r.outputs("labels")) == n + 1)
    assert r.node.snapshot().nonfinite_ir == 1
    r.send(s.ir[::2, ::2].copy(), s.vis, t + SEC // 10)
    assert r.wait(lambda: len(r.outputs("labels")) == n + 2)
    assert r.node.snapshot().size_mismatch == 1
    assert r.node.snapshot().inference_errors == 0


@pytest.mark.parametrize(
    ("ir_enc", "vis_enc"), [("mono8", "rgb8"), ("16UC1", "bgra8"), ("32FC1", "mono8")]
)
def test_supported_encodings_end_to_end(rig, scenes, ir_enc, vis_enc):
    s = scenes[2]
    ir = {
        "mono8": (s.ir // 64).astype(np.uint8),
        "16UC1": s.ir,
        "32FC1": s.ir.astype(np.float32) / 100,
    }[ir_enc]
    vis = {
        "rgb8": s.vis[:, :, ::-1].copy(),
        "bgra8": np.dstack([s.vis, np.full((H, W), 255, np.uint8)]),
        "mono8": s.vis[:, :, 1].copy(),
    }[vis_enc]
    r = rig()
    r.send(ir, vis, _base_ns(), ir_encoding=ir_enc, vis_encoding=vis_enc)
    assert r.wait(lambda: len(r.outputs("fused")) == 1)
    assert r.outputs("fused")[0].encoding == "bgr8"


def test_color_and_overlay_are_published_only_while_subscribed(rig, scenes):
    r = rig(subscribe=("labels",))
    node = r.node
    outputs = node.outputs
    assert outputs.wanted("overlay", node.settings) is None
    assert outputs.wanted("color", node.settings) is None
    assert outputs.wanted("labels", node.settings) is not None
    for kind in ("color", "overlay"):
        r.probe.create_subscription(Image, OUTPUT_TOPICS[kind], r._keep(kind), 10)
    assert r.wait(lambda: outputs.pubs["overlay"].get_subscription_count() > 0)
    assert r.wait(lambda: outputs.pubs["color"].get_subscription_count() > 0)
    r.send(scenes[0].ir, scenes[0].vis, _base_ns())
    assert r.wait(lambda: len(r.outputs("color")) == 1 and len(r.outputs("overlay")) == 1)
    assert r.outputs("color")[0].encoding == "rgb8"
    assert r.outputs("overlay")[0].encoding == "bgr8"


def _call(node, client, request):
    assert client.wait_for_service(timeout_sec=5)
    future = client.call_async(request)
    end = time.monotonic() + 10
    while not future.done() and time.monotonic() < end:
        time.sleep(0.01)
    return future.result()


def test_enable_service_pauses_and_resumes_without_resubscribing(rig, scenes):
    r = rig()
    client = r.probe.create_client(SetBool, "/mtvif_fusion/enable")
    res = _call(r.probe, client, SetBool.Request(data=False))
    assert res.success and "paused" in res.message
    base = _base_ns()
    r.send(scenes[0].ir, scenes[0].vis, base)
    assert r.wait(lambda: r.node.snapshot().paused == 1)
    time.sleep(0.2)
    assert r.outputs("labels") == []
    assert _call(r.probe, client, SetBool.Request(data=True)).success
    r.send(scenes[0].ir, scenes[0].vis, base + SEC // 10)
    assert r.wait(lambda: len(r.outputs("labels")) == 1)


def test_diagnostics_report_rates_drops_latency_and_device(rig, scenes):
    r = rig(params={"diagnostics.period": 0.2})
    base = _base_ns()
    for i in range(3):
        r.send(scenes[0].ir, scenes[0].vis, base + i * SEC // 10)
        time.sleep(0.1)
    assert r.wait(lambda: len(r.outputs("labels")) == 3)

    def latest():
        diags = r.outputs("diag")
        return {kv.key: kv.value for kv in diags[-1].status[0].values} if diags else {}

    assert r.wait(lambda: latest().get("processed") == "3", timeout=5)
    values = latest()
    for key in (
        "ir rate (Hz)",
        "visible rate (Hz)",
        "pair rate (Hz)",
        "superseded",
        "unmatched ir",
        "bad ir",
        "inference latency mean (ms)",
        "inference latency p95 (ms)",
        "end-to-end latency p95 (ms)",
        "device",
        "precision",
    ):
        assert key in values, key
    assert values["device"] == "cpu" and values["precision"] == "fp32"
    assert float(values["inference latency p95 (ms)"]) > 0
    # the process's setting (the entry point's decision; importing the node changes nothing)
    from mtvif_ros.host_memory import memory_is_kept

    assert values["host memory"] == ("kept for reuse" if memory_is_kept() else "glibc defaults")


def test_integers_are_accepted_for_float_parameters_and_limits_are_described(rig):
    hom = [1, 0, 0, 0, 1, 0, 0, 0, 1]
    r = rig(params={"sync.slop": 1, "ir.max": 16383, "registration.homography": hom})
    assert r.node.get_parameter("sync.slop").type_ == Parameter.Type.DOUBLE
    assert r.node.settings["sync.slop"] == 1.0 and r.node.settings["ir.max"] == 16383.0
    assert r.node.get_parameter("registration.homography").value == [float(v) for v in hom]
    assert r.node.set_parameters([Parameter("sync.slop", value=2)])[0].successful
    assert r.node.settings["sync.slop"] == 2.0 and r.node.inputs.settings["sync.slop"] == 2.0
    refused = r.node.set_parameters([Parameter("overlay.alpha", value=2.0)])[0]
    assert not refused.successful and r.node.settings["overlay.alpha"] == 0.5
    slop = r.node.describe_parameters(["sync.slop"])[0]
    assert slop.floating_point_range[0].to_value == 10.0 and "exclusive" in slop.description
    assert r.node.describe_parameters(["qos.depth"])[0].integer_range[0].from_value == 1


def test_parameter_changes_are_validated_at_runtime(rig):
    r = rig()
    client = r.probe.create_client(SetParameters, "/mtvif_fusion/set_parameters")

    def set_(name, value):
        req = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        return _call(r.probe, client, req).results[0]

    bad = set_("sync.slop", -1.0)
    assert not bad.successful and "sync.slop out of range Min: 0.0" in bad.reason
    zero = set_("sync.slop", 0.0)  # within the declared limits, refused by the settings
    assert not zero.successful and "sync.slop must be a positive" in zero.reason
    ro = set_("model.device", "cuda")
    assert not ro.successful
    bad_palette = set_("palette.override", "1,2,3")
    assert not bad_palette.successful and "9 classes" in bad_palette.reason
    ok = set_("sync.slop", 0.2)
    assert ok.successful
    assert r.node.inputs.pairing.slop_s == 0.2
    assert set_("ir.normalization", "minmax").successful
    assert r.node.settings.ir_normalization.method == "minmax"


def test_homography_registers_ir_before_inference(rig, scenes):
    hom = [1.0, 0.0, 4.0, 0.0, 1.0, -3.0, 0.0, 0.0, 1.0]
    r = rig(params={"registration.homography": hom})
    s = scenes[3]
    r.send(s.ir, s.vis, _base_ns())
    assert r.wait(lambda: len(r.outputs("labels")) == 1)
    got = np.frombuffer(bytes(r.outputs("labels")[0].data), np.uint8).reshape(H, W)
    engine = FusionEngine(device="cpu")
    assert np.array_equal(got, engine.run(warp_ir(s.ir, hom, (H, W)), s.vis).labels)
    assert not np.array_equal(got, engine.run(s.ir, s.vis).labels)


def test_registration_derived_from_both_camera_infos(rig, scenes):
    """registration.source camera_info: the homography of a plane 10 m away, from both
    cameras' intrinsics and the extrinsic; before the camera_infos arrive, unregistered."""
    from sensor_msgs.msg import CameraInfo

    from mtvif_ros.imaging.registration import plane_homography
    from mtvif_ros.node.interfaces import INPUT_INFO_TOPICS, make_qos

    extrinsic = [0.4, -0.2, 0.0, 0.0, 0.0, 0.02]
    r = rig(
        params={
            "registration.source": "camera_info",
            "registration.extrinsic": extrinsic,
            "registration.plane_distance": 10.0,
        }
    )
    k_ir = [90.0, 0.0, 32.0, 0.0, 90.0, 24.0, 0.0, 0.0, 1.0]
    k_vis = [100.0, 0.0, 31.0, 0.0, 100.0, 23.0, 0.0, 0.0, 1.0]
    pubs = {
        role: r.probe.create_publisher(CameraInfo, topic, make_qos("reliable", 1))
        for role, topic in INPUT_INFO_TOPICS.items()
    }
    s, engine = scenes[2], FusionEngine(device="cpu")
    r.send(s.ir, s.vis, _base_ns())  # no camera_info yet: fused unregistered
    assert r.wait(lambda: len(r.outputs("labels")) == 1)
    first = np.frombuffer(bytes(r.outputs("labels")[0].data), np.uint8).reshape(H, W)
    assert np.array_equal(first, engine.run(s.ir, s.vis).labels)
    for role, k in (("ir", k_ir), ("visible", k_vis)):
        assert r.wait(lambda role=role: pubs[role].get_subscription_count() > 0)
        pubs[role].publish(CameraInfo(width=W, height=H, k=k))
    assert r.wait(
        lambda: None not in (r.node.camera_info.get("ir"), r.node.camera_info.get("visible"))
    )
    r.send(s.ir, s.vis, _base_ns())
    assert r.wait(lambda: len(r.outputs("labels")) == 2)
    got = np.frombuffer(bytes(r.outputs("labels")[1].data), np.uint8).reshape(H, W)
    hom = plane_homography(k_ir, k_vis, extrinsic, 10.0)
    assert np.array_equal(got, engine.run(warp_ir(s.ir, hom, (H, W)), s.vis).labels)
    assert not np.array_equal(got, first)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("model.precision", "fp16", "fp16' needs a CUDA device"),
        ("sync.slop", -0.1, "sync.slop -0.1 is outside its range [0, 10]"),
        ("sync.slop", 0.0, "sync.slop must be a positive"),
        ("model.checkpoint", "/nonexistent/model.pt", "file not found"),
        ("sync.backend", "message_filters", None),
    ],
)
def test_invalid_startup_parameters_fail_with_one_clear_message(name, value, message):
    from mtvif_ros.node.interfaces import message_filters_available

    if name == "sync.backend" and message_filters_available():
        pytest.skip("message_filters is installed: the rig tests run with it instead")
    with pytest.raises(StartupError) as exc:
        FusionNode(parameter_overrides=[Parameter(name, value=value)])
    text = str(exc.value)
    assert "\n" not in text
    assert (message or "message_filters package is not installed") in text


def test_every_parameter_is_declared_with_a_description(rig):
    r = rig()
    rclpy_own = {"use_sim_time", "start_type_description_service"}
    names = {n for n in r.node._parameters if not n.startswith("qos_overrides.")} - rclpy_own
    assert names == set(DEFAULTS)
    # the standard QoS overrides of every input and output topic exist (read-only)
    assert "qos_overrides./visible/image.subscription.reliability" in r.node._parameters
    assert "qos_overrides./segmentation/labels.publisher.depth" in r.node._parameters
    for name in DEFAULTS:
        assert r.node.describe_parameter(name).description
