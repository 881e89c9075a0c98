"""The fusion node: IR + visible images in, fused image and semantic labels out.

Thin by design: parameters, QoS, subscriptions, publishers, diagnostics and threading live
here; pairing (``mtvif_ros.sync``), the mailbox, conversions and inference (the engine)
live in pure-Python modules shared with the offline tools.

Threads: ROS callbacks run in the executor and only validate, pair and post the newest
pair to a one-slot mailbox; one worker thread decodes, runs the engine and publishes. A
slow model therefore drops superseded pairs (counted) instead of queueing them.
"""

from __future__ import annotations

import sys
import threading
import time
from functools import partial
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.duration import Duration
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from std_srvs.srv import SetBool

from mtvif_ros.engine import FusionEngine
from mtvif_ros.host_memory import keep_freed_memory, memory_is_kept
from mtvif_ros.imaging import label_lut, overlay, warp_ir
from mtvif_ros.imaging.encodings import EncodingError
from mtvif_ros.mailbox import LatestMailbox
from mtvif_ros.model import CheckpointError
from mtvif_ros.node.conversions import ImageConverter
from mtvif_ros.settings import PARAMETERS, Settings, SettingsError
from mtvif_ros.stats import CounterRates, LatencyWindow
from mtvif_ros.sync import IR, VISIBLE, ApproxTimePairer, OffsetMeter, stamp_ns

NODE_NAME = "mtvif_fusion"
INPUT_TOPICS = {"ir": "ir/image", "visible": "visible/image"}
OUTPUT_TOPICS = {
    "fused": "fused/image",
    "labels": "segmentation/labels",
    "color": "segmentation/color",
    "overlay": "segmentation/overlay",
}
ROLES = ("ir", "visible")
WARN_PERIOD_S = 5.0

_RELIABILITY = {
    "best_effort": ReliabilityPolicy.BEST_EFFORT,
    "reliable": ReliabilityPolicy.RELIABLE,
    "system_default": ReliabilityPolicy.SYSTEM_DEFAULT,
}


class StartupError(RuntimeError):
    """The node cannot start; the message is the one line to show the user."""


def make_qos(reliability: str, depth: int) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=_RELIABILITY[reliability],
        durability=DurabilityPolicy.VOLATILE,
    )


def message_filters_available() -> bool:
    try:
        import message_filters  # noqa: F401
    except ImportError:
        return False
    return True


class FusionNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        try:
            self._setup()
        except StartupError:
            Node.destroy_node(self)  # release what was created; the context must not see it
            raise
        except (SettingsError, CheckpointError, ValueError, ParameterException) as exc:
            Node.destroy_node(self)
            raise StartupError(str(exc)) from None

    def _setup(self) -> None:
        for spec in PARAMETERS:
            self.declare_parameter(
                spec.name,
                spec.default,
                ParameterDescriptor(description=spec.description, read_only=spec.read_only),
            )
        values = {p.name: self.get_parameter(p.name).value for p in PARAMETERS}
        self.settings = Settings.from_mapping(values)
        self.engine = FusionEngine(**self.settings.engine_kwargs())
        self._lut = self._make_lut(self.settings)
        self.engine.warmup()

        self._lock = threading.Lock()
        self.counters = dict.fromkeys(
            (
                "ir_received",
                "visible_received",
                "bad_ir",
                "bad_visible",
                "pairs",
                "processed",
                "superseded",
                "paused",
                "inference_errors",
                "nonfinite_ir",
                "size_mismatch",
            ),
            0,
        )
        self.infer_latency = LatencyWindow()
        self.e2e_latency = LatencyWindow()
        self._rates = CounterRates()
        self._last_warn: dict[str, float] = {}
        self.offsets = OffsetMeter()
        self._unpaired_since: float | None = None  # first input after the last pair
        self._warned_no_pair = False
        self._last_errors = 0
        self.enabled = True

        self.converter = ImageConverter()
        self.get_logger().info(
            "image conversion: "
            + (
                "cv_bridge"
                if self.converter.backend == "cv_bridge"
                else f"built-in converter (cv_bridge unavailable: {self.converter.reason})"
            )
        )
        qos = make_qos(self.settings["qos.reliability"], self.settings["qos.depth"])
        out_qos = make_qos("reliable", self.settings["qos.depth"])
        self.pubs = {k: self.create_publisher(Image, t, out_qos) for k, t in OUTPUT_TOPICS.items()}
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.pairer: ApproxTimePairer | None = None
        self.sync_backend = self._setup_sync(qos)

        self.mailbox: LatestMailbox[tuple[Image, Image]] = LatestMailbox()
        self._worker = threading.Thread(target=self._worker_loop, name="mtvif-infer", daemon=True)
        self._worker.start()
        self.create_service(SetBool, "~/enable", self._on_enable)
        self.create_timer(self.settings["diagnostics.period"], self._publish_diagnostics)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.get_logger().info(
            f"ready: {self.engine.checkpoint.config.architecture} on {self.engine.device} "
            f"({self.engine.precision}), sync {self.sync_backend} slop "
            f"{self.settings['sync.slop']:.3f} s, inputs "
            f"{self.resolve_topic_name(INPUT_TOPICS['ir'])} + "
            f"{self.resolve_topic_name(INPUT_TOPICS['visible'])}"
        )

    # ------------------------------------------------------------------ setup
    def _setup_sync(self, qos: QoSProfile) -> str:
        backend = self.settings["sync.backend"]
        if backend == "message_filters" and not message_filters_available():
            raise StartupError(
                "sync.backend 'message_filters' but the message_filters package is not "
                "installed; install ros-$ROS_DISTRO-message-filters or use 'builtin'"
            )
        if backend in ("auto", "message_filters") and message_filters_available():
            import message_filters

            subs = []
            for role in ROLES:
                sub = message_filters.Subscriber(self, Image, INPUT_TOPICS[role], qos_profile=qos)
                sub.registerCallback(partial(self._note_input, role))
                subs.append(sub)
            self._mf_sync = message_filters.ApproximateTimeSynchronizer(
                subs, self.settings["sync.queue_size"], self.settings["sync.slop"]
            )
            self._mf_sync.registerCallback(self._on_mf_pair)
            return "message_filters"
        self.pairer = ApproxTimePairer(
            int(self.settings["sync.slop"] * 1e9), self.settings["sync.queue_size"]
        )
        for role in ROLES:
            self.create_subscription(
                Image, INPUT_TOPICS[role], partial(self._on_builtin_input, role), qos
            )
        return "builtin"

    def _make_lut(self, settings: Settings) -> np.ndarray:
        palette = settings.palette or self.engine.palette
        needed = self.engine.checkpoint.config.num_classes
        if len(palette) < needed:
            raise SettingsError(
                f"palette.override has {len(palette)} colours but the model has {needed} classes"
            )
        return label_lut(palette)

    # -------------------------------------------------------------- callbacks
    def _note_input(self, role: str, msg: Image) -> bool:
        """Count a message, validate it cheaply; False (counted, warned) if unusable."""
        self._count(f"{role}_received")
        try:
            ImageConverter.check(msg, role)
            if msg.header.stamp.sec == 0 and msg.header.stamp.nanosec == 0:
                raise EncodingError(f"{role} header stamp is zero; stamp images at capture time")
        except EncodingError as exc:
            self._bad_input(role, exc)
            return False
        stamp = stamp_ns(msg.header.stamp.sec, msg.header.stamp.nanosec)
        self.offsets.add(IR if role == "ir" else VISIBLE, stamp)
        self._check_pairing()
        return True

    def _on_builtin_input(self, role: str, msg: Image) -> None:
        if not self._note_input(role, msg):
            return
        stamp = stamp_ns(msg.header.stamp.sec, msg.header.stamp.nanosec)
        pair = self.pairer.add(IR if role == "ir" else VISIBLE, stamp, msg)
        if pair is not None:
            self._on_pair(pair[0], pair[1])

    def _on_mf_pair(self, ir: Image, visible: Image) -> None:
        try:
            ImageConverter.check(ir, "ir")
            ImageConverter.check(visible, "visible")
        except EncodingError:
            return  # already counted and warned in _note_input
        self._on_pair(ir, visible)

    def _on_pair(self, ir: Image, visible: Image) -> None:
        self._count("pairs")
        self._unpaired_since = None
        if self._warned_no_pair:
            self._warned_no_pair = False
            self.get_logger().info("IR/visible pairs are forming again")
        if not self.enabled:
            self._count("paused")
            return
        if self.mailbox.put((ir, visible)):
            self._count("superseded")

    def _check_pairing(self) -> None:
        """Warn once when inputs keep arriving for ``sync.warn_after`` s without a pair."""
        now = time.monotonic()
        if self._unpaired_since is None:
            self._unpaired_since = now
        waited = now - self._unpaired_since
        if self._warned_no_pair or waited < self.settings["sync.warn_after"]:
            return
        self._warned_no_pair = True
        self.get_logger().warning(self.no_pair_reason(waited))

    def no_pair_reason(self, waited: float) -> str:
        """One line saying why no pair formed, with the measured stamp offset."""
        head = f"no IR/visible pair for {waited:.1f} s: "
        missing = [r for i, r in enumerate(ROLES) if not self.offsets.seen(i)]
        if missing:
            present = [r for r in ROLES if r not in missing]
            return head + (
                f"messages arrive on {self.resolve_topic_name(INPUT_TOPICS[present[0]])} only, "
                f"none on {self.resolve_topic_name(INPUT_TOPICS[missing[0]])}; check the remapping"
            )
        offset = self.offsets.offset_ns() / 1e9
        slop = self.settings["sync.slop"]
        if abs(offset) >= slop:
            return head + (
                f"IR-visible stamp offset is {offset:+.3f} s, larger than sync.slop "
                f"{slop:.3f} s; synchronize the camera clocks or raise sync.slop"
            )
        return head + (
            f"IR-visible stamp offset {offset:+.3f} s is within sync.slop {slop:.3f} s, but "
            "stamps do not line up message by message (out-of-order or bursty stamps)"
        )

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response):
        self.enabled = bool(request.data)
        response.success = True
        response.message = "inference enabled" if self.enabled else "inference paused"
        self.get_logger().info(response.message)
        return response

    def _on_set_parameters(self, params) -> SetParametersResult:
        changes = {p.name: p.value for p in params if p.name in self.settings.values}
        if not changes:
            return SetParametersResult(successful=True)
        try:
            new = Settings.from_mapping({**self.settings.values, **changes})
            lut = self._make_lut(new)
        except SettingsError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.settings, self._lut = new, lut
        self.engine.ir_normalization = new.ir_normalization
        if self.pairer is not None:
            self.pairer.set_slop(int(new["sync.slop"] * 1e9))
        elif "sync.slop" in changes:  # message_filters keeps the slop as a Duration
            self._mf_sync.slop = Duration(seconds=new["sync.slop"])
        return SetParametersResult(successful=True)

    # ----------------------------------------------------------------- worker
    def _worker_loop(self) -> None:
        while not self.mailbox.closed:
            job = self.mailbox.get(timeout=0.25)
            if job is None:
                continue
            try:
                self._process(*job)
            except Exception as exc:  # one bad frame must never kill the node
                self._count("inference_errors")
                self._warn_throttled("inference", f"inference failed on one pair: {exc!r}")

    def _process(self, ir_msg: Image, vis_msg: Image) -> None:
        settings = self.settings
        images = {}
        for role, msg in (("ir", ir_msg), ("visible", vis_msg)):
            try:
                images[role] = self.converter.to_array(msg, role)
            except EncodingError as exc:
                self._bad_input(role, exc)
                return
        ir, vis = images["ir"], images["visible"]
        if ir.dtype == np.float32 and not np.isfinite(ir).all():
            self._count("nonfinite_ir")
            self._warn_throttled(
                "nonfinite",
                "IR 32FC1 image has NaN/inf pixels; they are fused as the coldest value",
            )
        if settings.homography is not None:
            ir = warp_ir(ir, settings.homography, vis.shape[:2])
        elif ir.shape[:2] != vis.shape[:2]:
            self._count("size_mismatch")
            self._warn_throttled(
                "size",
                f"IR is {ir.shape[1]}x{ir.shape[0]} but visible is {vis.shape[1]}x{vis.shape[0]}; "
                "IR is resized to the visible size (set registration.homography to align them)",
            )
        result = self.engine.run(ir, vis)
        header = vis_msg.header
        publish = self._publisher_if_wanted
        if (pub := publish("fused")) is not None:
            pub.publish(self.converter.to_msg(result.fused, "bgr8", header))
        if (pub := publish("labels")) is not None:
            pub.publish(self.converter.to_msg(result.labels, "mono8", header))
        if (pub := publish("color", only_if_subscribed=True)) is not None:
            pub.publish(self.converter.to_msg(self._lut[result.labels], "rgb8", header))
        if (pub := publish("overlay", only_if_subscribed=True)) is not None:
            over = overlay(result.fused, result.labels, self._lut, settings["overlay.alpha"])
            pub.publish(self.converter.to_msg(over, "bgr8", header))
        now_ns = self.get_clock().now().nanoseconds
        with self._lock:
            self.counters["processed"] += 1
            self.infer_latency.add(sum(result.timings.values()))
            self.e2e_latency.add((now_ns - stamp_ns(header.stamp.sec, header.stamp.nanosec)) / 1e9)

    def _publisher_if_wanted(self, kind: str, only_if_subscribed: bool = False):
        pub = self.pubs[kind]
        if not self.settings[f"publish.{kind}"]:
            return None
        if only_if_subscribed and pub.get_subscription_count() == 0:
            return None
        return pub

    # ------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        now = self.get_clock().now()
        with self._lock:
            counters = dict(self.counters)
            infer, e2e = (
                (w.mean(), w.percentile(50), w.percentile(95))
                for w in (self.infer_latency, self.e2e_latency)
            )
        if self.pairer is not None:
            unmatched = self.pairer.stats.unmatched
        else:  # message_filters does not report drops: received - bad - paired
            unmatched = [
                max(0, counters[f"{r}_received"] - counters[f"bad_{r}"] - counters["pairs"])
                for r in ROLES
            ]
        counters["unmatched_ir"], counters["unmatched_visible"] = unmatched
        rates = self._rates.sample(counters, now.nanoseconds / 1e9)
        level, message = DiagnosticStatus.OK, "fusing"
        if counters["inference_errors"] > self._last_errors:
            level, message = DiagnosticStatus.ERROR, "inference errors"
        elif not self.enabled:
            level, message = DiagnosticStatus.OK, "paused (~/enable)"
        elif rates and rates["ir_received"] + rates["visible_received"] == 0:
            level, message = DiagnosticStatus.WARN, "no input images"
        elif rates and rates["pairs"] == 0:
            level, message = DiagnosticStatus.WARN, "inputs arrive but no pairs form"
        self._last_errors = counters["inference_errors"]

        def ms(v: float) -> str:
            return "nan" if v != v else f"{1e3 * v:.1f}"

        values = {
            "device": str(self.engine.device),
            "precision": self.engine.precision,
            "sync backend": self.sync_backend,
            "image conversion": self.converter.backend,
            "host memory": "kept for reuse" if memory_is_kept() else "glibc defaults",
            "enabled": str(self.enabled),
            "ir rate (Hz)": f"{rates.get('ir_received', 0.0):.2f}",
            "visible rate (Hz)": f"{rates.get('visible_received', 0.0):.2f}",
            "pair rate (Hz)": f"{rates.get('pairs', 0.0):.2f}",
            "output rate (Hz)": f"{rates.get('processed', 0.0):.2f}",
            "inference latency mean (ms)": ms(infer[0]),
            "inference latency median (ms)": ms(infer[1]),
            "inference latency p95 (ms)": ms(infer[2]),
            "end-to-end latency mean (ms)": ms(e2e[0]),
            "end-to-end latency median (ms)": ms(e2e[1]),
            "end-to-end latency p95 (ms)": ms(e2e[2]),
            **{k.replace("_", " "): str(v) for k, v in counters.items()},
        }
        status = DiagnosticStatus(
            level=level,
            name=f"{self.get_name()}: fusion pipeline",
            message=message,
            hardware_id=str(self.engine.device),
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        self.diag_pub.publish(DiagnosticArray(header=Header(stamp=now.to_msg()), status=[status]))

    # ------------------------------------------------------------------ utils
    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    def _bad_input(self, role: str, exc: Exception) -> None:
        self._count(f"bad_{role}")
        self._warn_throttled(f"bad_{role}", f"dropped {role} message: {exc}")

    def _warn_throttled(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warn.get(key, -1e9) >= WARN_PERIOD_S:
            self._last_warn[key] = now
            self.get_logger().warning(message)

    def destroy_node(self) -> None:
        """Stop the worker (it finishes the frame in hand) and release the node."""
        self.mailbox.close()
        if self._worker.is_alive():
            self._worker.join(timeout=10.0)
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``fusion_node`` / ``python -m mtvif_ros.node``; returns an exit code."""
    keep_freed_memory()
    rclpy.init(args=argv if argv is not None else sys.argv)
    node = None
    try:
        node = FusionNode()
        rclpy.spin(node)
    except StartupError as exc:
        rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {exc}")
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
