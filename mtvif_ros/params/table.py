"""The node's parameters as one table: each one's name, type (its default's), default,
description, read-only flag, limits and closed set of values.

Every rule about one parameter is written here once: the node declares its ROS
parameters from it (descriptors: description, read-only, ranges), ``params.settings``
validates values against it (the node's and the offline tools', so both refuse a value
with the same words) and ``config/fusion.yaml`` holds the same defaults (a test checks).
The closed sets come from the modules whose code gives them meaning (the IR
normalizations from ``imaging.ir``, the transports from ``imaging.compressed``, …).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mtvif_ros.imaging.compressed import TRANSPORTS
from mtvif_ros.imaging.ir import IR_NORMALIZATIONS
from mtvif_ros.params.options import BACKENDS, PRECISIONS
from mtvif_ros.runtime.dropout import FALLBACKS

IDENTITY = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
SYNC_BACKENDS = ("auto", "message_filters", "builtin")
REGISTRATION_SOURCES = ("homography", "camera_info")
RELIABILITIES = ("best_effort", "reliable", "system_default")


@dataclass(frozen=True)
class ParamSpec:
    """One ROS parameter. ``read_only`` ones are fixed after startup (restart to change);
    ``limits`` (inclusive) are declared in its descriptor, so ``ros2 param describe`` shows
    them, and checked by ``Settings`` for every tool; ``choices`` is its closed set of
    values (text parameters). Finer rules (a slop above 0, a homography that is not
    singular) are ``Settings``' own."""

    name: str
    default: Any
    description: str
    read_only: bool = False
    limits: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None

    @property
    def is_float(self) -> bool:
        """A floating-point parameter (or array): integers given for it are accepted."""
        if isinstance(self.default, list):
            return bool(self.default) and isinstance(self.default[0], float)
        return isinstance(self.default, float)


PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "lifecycle",
        False,
        "managed node: starts unconfigured; configure/activate/deactivate/cleanup through "
        "lifecycle transitions (nav2-style bring-up)",
        True,
    ),
    ParamSpec("model.checkpoint", "", "checkpoint .pt file; empty = the packaged default", True),
    ParamSpec("model.device", "auto", "auto | cpu | cuda | cuda:N", True),
    ParamSpec(
        "model.precision", "fp32", "fp32 | fp16 | bf16 (fp16 needs CUDA)", True, None, PRECISIONS
    ),
    ParamSpec(
        "model.inference_size",
        [0, 0],
        "[height, width] the network runs at; [0, 0] = the visible image's size",
        True,
    ),
    ParamSpec(
        "model.num_threads",
        0,
        "CPU threads of torch and onnxruntime; 0 = their default",
        True,
        (0, 1024),
    ),
    ParamSpec(
        "model.backend",
        "torch",
        "torch | onnxruntime (exported once; TensorRT/CUDA/CPU providers, fp32)",
        True,
        choices=BACKENDS,
    ),
    ParamSpec("model.channels_last", False, "torch backend: channels_last memory format", True),
    ParamSpec("model.compile", False, "torch backend: torch.compile (slow first frame)", True),
    ParamSpec(
        "ir.transport",
        "raw",
        "raw: sensor_msgs/Image on ir/image | compressed: CompressedImage (png, 16-bit kept, "
        "or jpeg) on <ir/image, remapped>/compressed",
        True,
        choices=TRANSPORTS,
    ),
    ParamSpec(
        "visible.transport",
        "raw",
        "raw: sensor_msgs/Image on visible/image | compressed: CompressedImage (jpeg or png) "
        "on <visible/image, remapped>/compressed",
        True,
        choices=TRANSPORTS,
    ),
    ParamSpec(
        "ir.normalization",
        "percentile",
        "IR to [0,1]: percentile | minmax | fixed",
        choices=IR_NORMALIZATIONS,
    ),
    ParamSpec("ir.min", 0.0, "lower bound of the 'fixed' IR window, in the image's units"),
    ParamSpec("ir.max", 65535.0, "upper bound of the 'fixed' IR window, in the image's units"),
    ParamSpec(
        "ir.percentile_low",
        1.0,
        "lower percentile (%) of the 'percentile' stretch",
        False,
        (0, 100),
    ),
    ParamSpec(
        "ir.percentile_high",
        99.0,
        "upper percentile (%) of the 'percentile' stretch",
        False,
        (0, 100),
    ),
    ParamSpec(
        "registration.homography",
        list(IDENTITY),
        "row-major 3x3 homography mapping IR pixels into the visible image; identity = none",
    ),
    ParamSpec(
        "registration.source",
        "homography",
        "homography: registration.homography | camera_info: derived from both camera_infos, "
        "registration.extrinsic and registration.plane_distance (a planar scene)",
        choices=REGISTRATION_SOURCES,
    ),
    ParamSpec(
        "registration.extrinsic",
        [0.0] * 6,
        "[x, y, z, roll, pitch, yaw] of the IR optical frame in the visible optical frame "
        "(m, rad), for registration.source camera_info",
    ),
    ParamSpec(
        "registration.plane_distance",
        10.0,
        "distance (m) of the scene plane in front of the IR camera, for registration.source "
        "camera_info",
        False,
        (0.1, 100000),
    ),
    ParamSpec(
        "sync.backend",
        "auto",
        "auto | builtin | message_filters (auto: the built-in pairer, which offline tools "
        "share and which recovers from stamps jumping back)",
        True,
        choices=SYNC_BACKENDS,
    ),
    ParamSpec(
        "sync.slop",
        0.05,
        "max IR/visible stamp difference (s) for a pair, exclusive",
        False,
        (0, 10),
    ),
    ParamSpec(
        "sync.queue_size",
        10,
        "messages kept per topic while waiting for a partner",
        True,
        (1, 1000),
    ),
    ParamSpec(
        "sync.warn_after", 3.0, "warn once when no pair formed for this long (s)", False, (0, 3600)
    ),
    ParamSpec(
        "sync.fallback",
        "none",
        "none | visible_only: with no IR for sync.fallback_after s, publish labels from the "
        "visible image alone (and the visible image as fused) until IR returns",
        choices=FALLBACKS,
    ),
    ParamSpec(
        "sync.fallback_after",
        1.0,
        "seconds without an IR frame before sync.fallback applies",
        False,
        (0, 3600),
    ),
    ParamSpec(
        "qos.reliability",
        "best_effort",
        "best_effort | reliable | system_default",
        True,
        choices=RELIABILITIES,
    ),
    ParamSpec("qos.depth", 5, "input and output queue depth (keep last)", True, (1, 1000)),
    ParamSpec(
        "qos.ir.reliability",
        "",
        "IR input's reliability; empty = qos.reliability",
        True,
        choices=("", *RELIABILITIES),
    ),
    ParamSpec("qos.ir.depth", 0, "IR input's queue depth; 0 = qos.depth", True, (0, 1000)),
    ParamSpec(
        "qos.visible.reliability",
        "",
        "visible input's reliability; empty = qos.reliability",
        True,
        choices=("", *RELIABILITIES),
    ),
    ParamSpec(
        "qos.visible.depth", 0, "visible input's queue depth; 0 = qos.depth", True, (0, 1000)
    ),
    ParamSpec("publish.fused", True, "publish fused/image (bgr8)"),
    ParamSpec("publish.labels", True, "publish segmentation/labels (mono8 class ids)"),
    ParamSpec("publish.color", True, "publish segmentation/color (rgb8) while subscribed"),
    ParamSpec("publish.overlay", True, "publish segmentation/overlay (bgr8) while subscribed"),
    ParamSpec(
        "labels.min_confidence",
        0.0,
        "a pixel whose most likely class has a probability below this is published as 0 "
        "(unlabelled); 0 = the plain argmax",
        False,
        (0, 1),
    ),
    ParamSpec(
        "overlay.alpha",
        0.5,
        "opacity of class colours in segmentation/overlay, 0..1",
        False,
        (0, 1),
    ),
    ParamSpec(
        "palette.override",
        "",
        "class colours as 'r,g,b; r,g,b; ...' (one per class); empty = the checkpoint's",
    ),
    ParamSpec("diagnostics.period", 1.0, "seconds between /diagnostics messages", True, (0, 3600)),
)
DEFAULTS: dict[str, Any] = {p.name: p.default for p in PARAMETERS}
SPECS: dict[str, ParamSpec] = {p.name: p for p in PARAMETERS}


def as_declared_type(name: str, value: Any) -> Any:
    """``value`` as the parameter's declared type where it is an integer (or integer list)
    given for a floating-point parameter (``-p sync.slop:=1``, ``ir.max:=16383``, an integer
    homography); anything else unchanged (``Settings`` validates it)."""
    spec = SPECS.get(name)
    if spec is None or not spec.is_float or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, list | tuple) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return [float(v) for v in value]
    return value
