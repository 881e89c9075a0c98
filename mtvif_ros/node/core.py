"""What the plain and the managed fusion node share: their phases and their callbacks.

``configure`` (parameters, model load and warm-up), ``activate`` (publishers,
subscriptions, the inference worker, the enable service, the diagnostics timer),
``deactivate`` (all of those released, the worker stopped after the frame in hand) and
``cleanup`` (the model released, the CUDA cache emptied). The plain node runs configure
and activate in its constructor; the managed node runs each from its lifecycle transition.

Threads: ROS callbacks run in the executor and only check, pair and post the newest pair
to a one-slot mailbox; one worker thread decodes, runs the pipeline and publishes. A slow
model therefore drops superseded pairs (counted) instead of queueing them.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from functools import partial

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.publisher import Publisher
from rclpy.service import Service
from rclpy.subscription import Subscription
from rclpy.timer import Timer
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from std_srvs.srv import SetBool

from mtvif_ros.engine import FusionEngine, set_cpu_threads
from mtvif_ros.host_memory import memory_is_kept
from mtvif_ros.imaging import label_lut
from mtvif_ros.imaging.encodings import EncodingError
from mtvif_ros.imaging.registration import plane_homography
from mtvif_ros.mailbox import LatestMailbox
from mtvif_ros.node.camera_info import LatestInfo, intrinsics_at
from mtvif_ros.node.conversions import ImageConverter
from mtvif_ros.node.inputs import PairedInputs
from mtvif_ros.node.interfaces import (
    DIAGNOSTICS_TOPIC,
    ENABLE_SERVICE,
    INPUT_INFO_TOPICS,
    make_qos,
)
from mtvif_ros.node.outputs import OutputPublishers
from mtvif_ros.node.parameters import current_settings, declare_only
from mtvif_ros.pipeline import FramePipeline
from mtvif_ros.settings import Settings, SettingsError
from mtvif_ros.stats import CounterRates, PipelineStats, StatsSnapshot, health

WARN_PERIOD_S = 5.0
_LEVELS = {
    "OK": DiagnosticStatus.OK,
    "WARN": DiagnosticStatus.WARN,
    "ERROR": DiagnosticStatus.ERROR,
}

Job = tuple[Image | None, Image, int]  # IR message (None: visible alone), visible, stamp ns


class FusionCore:
    """The fusion pipeline's ROS side, mixed into an rclpy ``Node`` or lifecycle ``Node``."""

    engine: FusionEngine | None = None
    inputs: PairedInputs | None = None  # while active
    _registration_key: tuple | None = None  # what the cached camera_info homography is for
    _worker: threading.Thread | None = None
    _entities: list = []  # noqa: RUF012 - replaced per instance in activate

    # ----------------------------------------------------------------- phases
    def declare(self) -> None:
        """Declare the parameters (once) and start validating changes to them."""
        declare_only(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._declared = True

    def configure(self) -> None:
        """Validated parameters, model load and warm-up, counters. Raises
        SettingsError/CheckpointError/ValueError (and CUDA/compile errors) on failure."""
        if not getattr(self, "_declared", False):
            self.declare()
        settings = current_settings(self)
        set_cpu_threads(int(settings["model.num_threads"]))
        self.engine = FusionEngine(**settings.engine_kwargs())
        self.pipeline = FramePipeline(self.engine, settings)
        # settings and the palette they select, swapped together (one reference) when a
        # parameter changes and read once per frame by the worker
        self._in_force: tuple[Settings, np.ndarray] = (settings, self._make_lut(settings))
        self.engine.warmup()
        self.stats = PipelineStats()
        self._rates = CounterRates()
        self._last_warn: dict[str, float] = {}
        self._errors_reported = 0
        self.enabled = True
        self.converter = ImageConverter()
        self._log_converter()
        self.camera_info = LatestInfo()

    def activate(self) -> None:
        """Publishers, subscriptions, the worker, the enable service, diagnostics. If any
        of it fails (a bad QoS override, a missing package), what was made so far is left
        in ``_entities`` for ``deactivate`` to release."""
        before = {id(e) for e in self._own_entities()}
        try:
            self._open()
        except Exception:
            self._entities = [e for e in self._own_entities() if id(e) not in before]
            raise

    def _own_entities(self) -> list:
        return [*self.publishers, *self.subscriptions, *self.services, *self.timers]

    def _open(self) -> None:
        depth = self.settings["qos.depth"]
        self.outputs = OutputPublishers(self, make_qos("reliable", depth), self.converter)
        self.diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        self.inputs = PairedInputs(
            self,
            self.settings,
            self.stats,
            self._on_pair,
            self._warn_throttled,
            self.converter,
        )
        info_subs = [
            self.create_subscription(
                CameraInfo,
                topic,
                partial(self.camera_info.put, role),
                make_qos(*self.settings.input_qos(role)),
            )
            for role, topic in INPUT_INFO_TOPICS.items()
        ]
        self.mailbox: LatestMailbox[Job] = LatestMailbox()
        self._worker = threading.Thread(target=self._worker_loop, name="mtvif-infer", daemon=True)
        self._worker.start()
        self._entities = [
            *self.outputs.pubs.values(),
            *self.outputs.info_pubs.values(),
            self.diag_pub,
            *self.inputs.subscriptions.values(),
            *info_subs,
            self.create_service(SetBool, ENABLE_SERVICE, self._on_enable),
            self.create_timer(self.settings["diagnostics.period"], self._publish_diagnostics),
        ]
        self.get_logger().info(
            f"ready: {self.engine.checkpoint.config.architecture} on {self.engine.device} "
            f"({self.engine.precision}), sync {self.inputs.backend} slop "
            f"{self.settings['sync.slop']:.3f} s, inputs "
            + " + ".join(sub.topic_name for sub in self.inputs.subscriptions.values())
        )

    def deactivate(self) -> None:
        """Stop the worker (after the frame in hand) and release every topic, service and
        timer (those made so far after an activation that failed midway); counters and the
        model stay."""
        self._stop_worker()
        for entity in self._entities:
            for cls, destroy in (
                (Subscription, self.destroy_subscription),
                (Publisher, self.destroy_publisher),
                (Service, self.destroy_service),
                (Timer, self.destroy_timer),
            ):
                if isinstance(entity, cls):
                    destroy(entity)
        self._entities = []
        if self.inputs is not None:
            self.inputs.close()
            self.inputs = None

    def cleanup(self) -> None:
        """Release the model (and the CUDA cache it used)."""
        device = getattr(self.engine, "device", None)
        self.engine = self.pipeline = None
        if device is not None and device.type == "cuda":
            import torch

            torch.cuda.empty_cache()

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self.mailbox.close()
            if self._worker.is_alive():
                self._worker.join(timeout=10.0)
            self._worker = None

    @property
    def settings(self) -> Settings:
        """The parameter values in force."""
        return self._in_force[0]

    def _log_converter(self) -> None:
        if self.converter.bridge is not None:
            self.get_logger().info("image conversion: built-in; cv_bridge for Bayer/YUV input")
        else:
            reason = self.converter.reason
            self.get_logger().info(
                f"image conversion: built-in (cv_bridge not used for Bayer/YUV input: {reason})"
            )

    def _make_lut(self, settings: Settings) -> np.ndarray:
        palette = settings.palette or self.engine.palette
        needed = self.engine.checkpoint.config.num_classes
        if len(palette) < needed:
            raise SettingsError(
                f"palette.override has {len(palette)} colours but the model has {needed} classes"
            )
        return label_lut(palette)

    # -------------------------------------------------------------- callbacks
    def _on_pair(self, ir: Image | None, visible: Image, stamp: int) -> None:
        if not self.enabled:
            self.stats.count("paused")
        elif self.mailbox.put((ir, visible, stamp)):
            self.stats.count("superseded")

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response):
        self.enabled = bool(request.data)
        response.success = True
        response.message = "inference enabled" if self.enabled else "inference paused"
        self.get_logger().info(response.message)
        return response

    def _on_set_parameters(self, params) -> SetParametersResult:
        current = current_settings(self).values if self.engine is None else self.settings.values
        changes = {p.name: p.value for p in params if p.name in current}
        if not changes:
            return SetParametersResult(successful=True)
        try:
            new = Settings.from_mapping({**current, **changes})
            if self.engine is None:  # not configured: checked now, used at configure
                return SetParametersResult(successful=True)
            lut = self._make_lut(new)
        except SettingsError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self._in_force = (new, lut)  # the worker picks it up with its next frame
        if self.inputs is not None:
            self.inputs.configure(new)
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
                self.stats.count("inference_errors")
                self._warn_throttled("inference", f"inference failed on one pair: {exc!r}")

    def _process(self, ir_msg: Image | None, vis_msg: Image, stamp: int) -> None:
        images = []
        for role, msg in (("ir", ir_msg), ("visible", vis_msg)):
            try:  # checked on arrival (inputs.accept): this only decodes
                images.append(None if msg is None else self.converter.to_array(msg, role))
            except EncodingError as exc:
                self.inputs.reject(role, exc)
                return
        settings, lut = self._in_force
        if settings["registration.source"] == "camera_info" and images[0] is not None:
            settings = self._camera_registration(settings, images[0].shape, images[1].shape)
        frame = self.pipeline.run(*images, settings)
        for counter, text in frame.warnings().items():
            self.stats.count(counter)
            self._warn_throttled(counter, text)
        result = frame.result
        if ir_msg is None:  # IR drop-out: the visible image is what there is to look at
            vis = images[1]
            fused = vis if vis.ndim == 3 else np.repeat(vis[:, :, None], 3, axis=2)
            result = dataclasses.replace(result, fused=fused)
        info = self.camera_info.get("visible")
        self.outputs.publish(result, vis_msg.header, settings, lut, info)
        now_ns = self.get_clock().now().nanoseconds
        self.stats.output(sum(frame.result.timings.values()), (now_ns - stamp) / 1e9)

    def _camera_registration(self, settings: Settings, ir_shape, vis_shape) -> Settings:
        """``settings`` with the homography derived from both cameras' calibration, the
        extrinsic and the plane distance (``imaging.plane_homography``); without both
        camera_infos the IR goes in unregistered, with a warning."""
        infos = [self.camera_info.get(role) for role in ("ir", "visible")]
        if None in infos:
            missing = " and ".join(
                t for t, i in zip(INPUT_INFO_TOPICS.values(), infos, strict=True) if i is None
            )
            self._warn_throttled(
                "registration",
                f"registration.source camera_info: no {missing} yet; "
                "the IR image is fused unregistered",
            )
            return dataclasses.replace(settings, homography=None)
        (ir_h, ir_w), (vis_h, vis_w) = ir_shape[:2], vis_shape[:2]
        k_ir = intrinsics_at(infos[0], ir_w, ir_h)
        k_vis = intrinsics_at(infos[1], vis_w, vis_h)
        key = (
            tuple(k_ir),
            tuple(k_vis),
            tuple(settings["registration.extrinsic"]),
            settings["registration.plane_distance"],
        )
        if self._registration_key != key:
            try:
                self._registration = plane_homography(k_ir, k_vis, *key[2:])
            except ValueError as exc:
                self._warn_throttled("registration", f"registration from camera_info: {exc}")
                self._registration = None
            self._registration_key = key
        return dataclasses.replace(settings, homography=self._registration)

    # ------------------------------------------------------------ diagnostics
    def snapshot(self) -> StatsSnapshot:
        """All counters, the pairer's drops included."""
        snap = self.stats.snapshot()
        if self.inputs is None:  # inactive: no pairer to ask
            return snap
        return dataclasses.replace(snap, **self.inputs.drop_counts(snap))

    def _publish_diagnostics(self) -> None:
        now = self.get_clock().now()
        snap = self.snapshot()
        rates = self._rates.sample(snap.counts(), now.nanoseconds / 1e9)
        level, message = health(snap, rates, self.enabled, self._errors_reported)
        self._errors_reported = snap.inference_errors
        dropout = self.inputs.dropout
        since_ir = dropout.since_ir(time.monotonic())
        if dropout.active and level != "ERROR":
            level, message = "WARN", f"no IR for {since_ir:.1f} s: visible-only labels"
        values = {
            "mode": "visible-only" if dropout.active else "pairs",
            "time since last IR frame (s)": f"{since_ir:.1f}",
            "device": str(self.engine.device),
            "precision": self.engine.precision,
            "sync backend": self.inputs.backend,
            "image conversion": self.converter.backend,
            "host memory": "kept for reuse" if memory_is_kept() else "glibc defaults",
            **_python_heap(),
            "enabled": str(self.enabled),
            **snap.to_diagnostic(rates),
        }
        status = DiagnosticStatus(
            level=_LEVELS[level],
            name=f"{self.get_name()}: fusion pipeline",
            message=message,
            hardware_id=str(self.engine.device),
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        self.diag_pub.publish(DiagnosticArray(header=Header(stamp=now.to_msg()), status=[status]))

    # ------------------------------------------------------------------ utils
    def _warn_throttled(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warn.get(key, -1e9) >= WARN_PERIOD_S:
            self._last_warn[key] = now
            self.get_logger().warning(message)


def _python_heap() -> dict[str, str]:
    """The Python heap in use, where tracing is on (``python -X tracemalloc`` or
    ``PYTHONTRACEMALLOC=1`` in the node's environment: the soak benchmark's leak check)."""
    import tracemalloc

    if not tracemalloc.is_tracing():
        return {}
    return {"python heap (MiB)": f"{tracemalloc.get_traced_memory()[0] / 2**20:.2f}"}
