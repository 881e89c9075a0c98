"""The fusion node: IR + visible images in, fused image and semantic labels out.

One class, a lifecycle node (nav2's convention). ``fusion_node`` configures and activates
it itself (``start``) unless ``lifecycle:=true``, where a lifecycle manager or
``ros2 lifecycle set`` drives it: ``configure`` validates the parameters and loads the
model; ``activate`` opens the topics, the service, the timer and the inference worker,
which warms the model up on its own thread first (at the visible camera_info's size when
one has arrived, as after a deactivate); ``deactivate`` closes them (the model stays
loaded); ``cleanup`` releases the model. A transition that cannot be made answers FAILURE
with its one-line reason logged, and the node stays where it was.

Thin by design: inputs and pairing live in ``node.inputs`` and ``node.pairing``, the
inference worker in ``node.frames``, outputs in ``node.outputs``, the parameters in
``node.parameters``, the status in ``node.diagnostics``, names and QoS in
``node.interfaces``, and the frame itself (registration, inference) in the rclpy-free
``runtime.pipeline`` shared with the offline bag evaluation. ROS callbacks run in the
executor and only check, pair and post the newest pair to the worker.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.publisher import Publisher
from rclpy.service import Service
from rclpy.subscription import Subscription
from rclpy.timer import Timer
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from std_srvs.srv import SetBool

from mtvif_ros.engine import FusionEngine, set_cpu_threads
from mtvif_ros.imaging import label_lut
from mtvif_ros.model import CheckpointError
from mtvif_ros.node.camera_info import LatestInfo
from mtvif_ros.node.conversions import ImageConverter
from mtvif_ros.node.diagnostics import host_memory_state, pipeline_status
from mtvif_ros.node.frames import FrameProcessor, FrameWorker
from mtvif_ros.node.inputs import PairedInputs
from mtvif_ros.node.interfaces import (
    DIAGNOSTICS_TOPIC,
    ENABLE_SERVICE,
    INPUT_INFO_TOPICS,
    NODE_NAME,
    StartupError,
    make_qos,
)
from mtvif_ros.node.outputs import OutputPublishers
from mtvif_ros.node.parameters import current_settings, declare, finalize
from mtvif_ros.params.settings import Settings, SettingsError
from mtvif_ros.params.table import DEFAULTS
from mtvif_ros.runtime.pipeline import FramePipeline
from mtvif_ros.runtime.stats import CounterRates, PipelineStats, StatsSnapshot

__all__ = ["FusionNode", "StartupError", "one_line"]

WARN_PERIOD_S = 5.0
# failures whose message is already the one line to show (a bad value, a bad checkpoint)
SAID_AS_IS = (StartupError, SettingsError, CheckpointError, ParameterException, ValueError)
SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
# rclpy's post-set callback (Iron and newer) applies accepted changes; on Humble the
# validating callback applies them itself once it has accepted them
_POST_SET = hasattr(LifecycleNode, "add_post_set_parameters_callback")


class FusionNode(LifecycleNode):
    """Fuses every synchronized IR/visible pair and publishes fused and label images.

    ``autostart`` (what ``fusion_node`` does unless ``lifecycle:=true``): configure and
    activate in the constructor, raising ``StartupError`` with the one line to show the
    user if either fails.
    """

    def __init__(self, autostart: bool = True, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        # while configured
        self.engine: FusionEngine | None = None
        self.pipeline: FramePipeline | None = None
        self._in_force: tuple[Settings, np.ndarray] | None = None  # settings + their palette
        self.stats = PipelineStats()
        self._rates = CounterRates()
        self._errors_reported = 0
        self.enabled = True
        self.converter: ImageConverter | None = None
        self.camera_info = LatestInfo()
        # while active
        self.inputs: PairedInputs | None = None
        self.outputs: OutputPublishers | None = None
        self.diag_pub: Publisher | None = None
        self.worker: FrameWorker | None = None
        self._entities: list = []
        self.active = False
        # always
        self._last_warn: dict[str, float] = {}
        self.last_failure = ""  # the one line of the last transition that failed
        declare(self)
        self.add_on_set_parameters_callback(self._validate_parameters)
        if _POST_SET:
            self.add_post_set_parameters_callback(self._apply_parameters)
        try:
            finalize(self)  # typed, ranged descriptors now where the values allow
        except SettingsError:
            pass  # configure says why; until then the values can be fixed with param set
        if autostart:
            try:
                self.start()
            except StartupError:
                super().destroy_node()  # the context must not keep a node that never ran
                raise

    def start(self) -> None:
        """Configure and activate (``fusion_node`` without a lifecycle manager);
        StartupError with the failing transition's one line."""
        for name in ("configure", "activate"):
            if getattr(self, f"trigger_{name}")() != SUCCESS:
                raise StartupError(self.last_failure or f"cannot {name}")

    # ------------------------------------------------------------ transitions
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        result = self._transition("configure", self._configure)
        if result != SUCCESS:
            self._cleanup()
        return result

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        result = self._transition("activate", self._activate)
        if result == SUCCESS:
            self.active = True
            super().on_activate(state)
        else:
            self._deactivate()
        return result

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self.active = False
        super().on_deactivate(state)
        return self._transition("deactivate", self._deactivate)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        return self._transition("clean up", self._cleanup)

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        return self._transition("shut down", self._release)

    def on_error(self, state: State) -> TransitionCallbackReturn:
        return self._transition("recover", self._release)

    def _transition(self, name: str, step: Callable[[], None]) -> TransitionCallbackReturn:
        try:
            step()
        except Exception as exc:  # one line, and the node stays in its state
            self.last_failure = one_line(exc)
            self.get_logger().error(f"cannot {name}: {self.last_failure}")
            return FAILURE
        return SUCCESS

    def destroy_node(self) -> None:
        """Stop the worker (it finishes the frame in hand), release everything, go."""
        self._release()
        super().destroy_node()

    def _release(self) -> None:
        if self.active:
            self._deactivate()
            self.active = False
        self._stop_worker()
        self._cleanup()

    # ----------------------------------------------------------------- phases
    def _configure(self) -> None:
        """Validated parameters, the model loaded, fresh counters."""
        settings = finalize(self)
        set_cpu_threads(int(settings["model.num_threads"]))
        self.engine = FusionEngine(**settings.engine_kwargs())
        self.pipeline = FramePipeline(self.engine, settings)
        self._in_force = (settings, self._make_lut(settings))
        self.stats, self._rates, self._errors_reported = PipelineStats(), CounterRates(), 0
        self.enabled = True
        self.converter = ImageConverter()
        self.get_logger().info(f"image conversion: {self.converter.description}")

    def _activate(self) -> None:
        """Publishers, subscriptions, the worker, the enable service, diagnostics. If any
        of it fails (a bad QoS override, a missing package), what was made so far is left
        in ``_entities`` for ``_deactivate`` to release."""
        before = {id(e) for e in self._own_entities()}
        try:
            self._open()
        except Exception:
            self._entities = [e for e in self._own_entities() if id(e) not in before]
            raise

    def _own_entities(self) -> list:
        return [*self.publishers, *self.subscriptions, *self.services, *self.timers]

    def _open(self) -> None:
        settings = self.settings
        self.outputs = OutputPublishers(
            self, make_qos("reliable", settings["qos.depth"]), self.converter
        )
        self.diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        frames = FrameProcessor(
            self.converter,
            self.pipeline,
            self.outputs,
            self.camera_info,
            self.stats,
            lambda role, exc: self.inputs.reject(role, exc),
            self._warn_throttled,
            lambda: self.get_clock().now().nanoseconds,
        )
        info = self.camera_info.get("visible")  # the camera's size, where it said it
        shape = (info.height, info.width) if info is not None and info.height else (64, 64)
        self.worker = FrameWorker(frames, lambda: self._in_force, self._warn_throttled, shape)
        self.worker.wait_warm()  # warm before anything is subscribed: no frame waits on it
        self.inputs = PairedInputs(
            self, settings, self.stats, self._on_pair, self._warn_throttled, self.converter
        )
        info_subs = [
            self.create_subscription(
                CameraInfo,
                topic,
                partial(self.camera_info.put, role),
                make_qos(*settings.input_qos(role)),
            )
            for role, topic in INPUT_INFO_TOPICS.items()
        ]
        self._entities = [
            *self.outputs.pubs.values(),
            *self.outputs.info_pubs.values(),
            self.diag_pub,
            *self.inputs.subscriptions.values(),
            *info_subs,
            self.create_service(SetBool, ENABLE_SERVICE, self._on_enable),
            self.create_timer(settings["diagnostics.period"], self._publish_diagnostics),
        ]
        self.get_logger().info(
            f"ready: {self.engine.checkpoint.config.architecture} on {self.engine.device} "
            f"({self.engine.precision_label}), sync {self.inputs.backend} slop "
            f"{settings['sync.slop']:.3f} s, inputs "
            + " + ".join(sub.topic_name for sub in self.inputs.subscriptions.values())
        )

    def _deactivate(self) -> None:
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

    def _cleanup(self) -> None:
        """Release the model (and the CUDA cache it used)."""
        device = getattr(self.engine, "device", None)
        self.engine = self.pipeline = self._in_force = None
        if device is not None and device.type == "cuda":
            import torch

            torch.cuda.empty_cache()

    def _stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    @property
    def settings(self) -> Settings:
        """The parameter values in force (configured), else the declared ones."""
        return self._in_force[0] if self._in_force is not None else current_settings(self)

    def _make_lut(self, settings: Settings) -> np.ndarray:
        palette = settings.palette or self.engine.palette
        needed = self.engine.checkpoint.config.num_classes
        if len(palette) < needed:
            raise SettingsError(
                f"palette.override has {len(palette)} colours but the model has {needed} classes"
            )
        return label_lut(palette)

    # ------------------------------------------------------------- parameters
    def _validate_parameters(self, params) -> SetParametersResult:
        """Accept a change only if the settings it gives are valid (and, configured, fit
        the model's palette); on Humble, apply it once accepted."""
        current = self._judged_values()
        changes = {p.name: p.value for p in params if p.name in current}
        if not changes:
            return SetParametersResult(successful=True)
        try:
            new = Settings.from_mapping({**current, **changes})
            if self.engine is not None:
                self._make_lut(new)
        except SettingsError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if not _POST_SET:
            self._apply(new)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params) -> None:
        """After rclpy stored accepted values: bring them into force."""
        if self.engine is not None and any(p.name in DEFAULTS for p in params):
            self._apply(current_settings(self))

    def _judged_values(self) -> dict[str, Any]:
        """What a parameter change is judged against: the values in force once
        configured, else the declared ones (which may not be valid yet)."""
        if self._in_force is not None:
            return self._in_force[0].values
        return {name: self.get_parameter(name).value for name in DEFAULTS}

    def _apply(self, new: Settings) -> None:
        if self.engine is None:  # not configured: configure reads them
            return
        self._in_force = (new, self._make_lut(new))  # the worker picks it up next frame
        if self.inputs is not None:
            self.inputs.configure(new)

    # -------------------------------------------------------------- callbacks
    def _on_pair(self, ir: Image | None, visible: Image, stamp: int) -> None:
        if not self.enabled:
            self.stats.count("paused")
        elif self.worker.post((ir, visible, stamp)):
            self.stats.count("superseded")

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response):
        self.enabled = bool(request.data)
        response.success = True
        response.message = "inference enabled" if self.enabled else "inference paused"
        self.get_logger().info(response.message)
        return response

    # ------------------------------------------------------------ diagnostics
    def snapshot(self) -> StatsSnapshot:
        """All counters, the pairing's drops included."""
        snap = self.stats.snapshot()
        if self.inputs is None:  # inactive: no pairing to ask
            return snap
        return dataclasses.replace(snap, **self.inputs.drop_counts(snap))

    def _publish_diagnostics(self) -> None:
        now = self.get_clock().now()
        snap = self.snapshot()
        rates = self._rates.sample(snap.counts(), now.nanoseconds / 1e9)
        dropout = self.inputs.dropout
        since_ir = dropout.since_ir(time.monotonic())
        context = {
            "device": str(self.engine.device),
            "precision": self.engine.precision_label,
            "sync backend": self.inputs.backend,
            "image conversion": self.converter.backend,
            "host memory": host_memory_state(),
        }
        status = pipeline_status(
            f"{self.get_name()}: fusion pipeline",
            snap,
            rates,
            self.enabled,
            self._errors_reported,
            since_ir if dropout.active else None,
            since_ir,
            context,
        )
        self._errors_reported = snap.inference_errors
        self.diag_pub.publish(DiagnosticArray(header=Header(stamp=now.to_msg()), status=[status]))

    # ------------------------------------------------------------------ utils
    def _warn_throttled(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warn.get(key, -1e9) >= WARN_PERIOD_S:
            self._last_warn[key] = now
            self.get_logger().warning(message)


def one_line(exc: BaseException) -> str:
    """An exception as the one line a user is shown."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return first if isinstance(exc, SAID_AS_IS) else f"{type(exc).__name__}: {first}"
