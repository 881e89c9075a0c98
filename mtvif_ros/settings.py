"""The node's parameters: one table of names, defaults and descriptions, and validation.

Pure Python so that the node (which declares these as ROS parameters), the offline tools
(which read the same ``config/fusion.yaml``) and the tests share one definition. Validation
returns messages that name the parameter and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mtvif_ros.dropout import FALLBACKS
from mtvif_ros.imaging.compressed import TRANSPORTS
from mtvif_ros.imaging.ir import IR_NORMALIZATIONS, IRNormalization
from mtvif_ros.options import BACKENDS, PRECISIONS, check_inference_size, parse_device

IDENTITY = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
SYNC_BACKENDS = ("auto", "message_filters", "builtin")
REGISTRATION_SOURCES = ("homography", "camera_info")
RELIABILITIES = ("best_effort", "reliable", "system_default")


@dataclass(frozen=True)
class ParamSpec:
    """One ROS parameter. ``read_only`` ones are fixed after startup (restart to change);
    ``limits`` (inclusive) are declared in its descriptor, so ``ros2 param describe`` shows
    them (the finer rules, e.g. a slop above 0, are checked by ``Settings``)."""

    name: str
    default: Any
    description: str
    read_only: bool = False
    limits: tuple[float, float] | None = None

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
    ParamSpec("model.precision", "fp32", "fp32 | fp16 | bf16 (fp16 needs CUDA)", True),
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
    ),
    ParamSpec("model.channels_last", False, "torch backend: channels_last memory format", True),
    ParamSpec("model.compile", False, "torch backend: torch.compile (slow first frame)", True),
    ParamSpec(
        "ir.transport",
        "raw",
        "raw: sensor_msgs/Image on ir/image | compressed: CompressedImage (png, 16-bit kept, "
        "or jpeg) on <ir/image, remapped>/compressed",
        True,
    ),
    ParamSpec(
        "visible.transport",
        "raw",
        "raw: sensor_msgs/Image on visible/image | compressed: CompressedImage (jpeg or png) "
        "on <visible/image, remapped>/compressed",
        True,
    ),
    ParamSpec("ir.normalization", "percentile", "IR to [0,1]: percentile | minmax | fixed"),
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
    ),
    ParamSpec(
        "sync.fallback_after",
        1.0,
        "seconds without an IR frame before sync.fallback applies",
        False,
        (0, 3600),
    ),
    ParamSpec("qos.reliability", "best_effort", "best_effort | reliable | system_default", True),
    ParamSpec("qos.depth", 5, "input and output queue depth (keep last)", True, (1, 1000)),
    ParamSpec("qos.ir.reliability", "", "IR input's reliability; empty = qos.reliability", True),
    ParamSpec("qos.ir.depth", 0, "IR input's queue depth; 0 = qos.depth", True, (0, 1000)),
    ParamSpec(
        "qos.visible.reliability",
        "",
        "visible input's reliability; empty = qos.reliability",
        True,
    ),
    ParamSpec(
        "qos.visible.depth", 0, "visible input's queue depth; 0 = qos.depth", True, (0, 1000)
    ),
    ParamSpec("publish.fused", True, "publish fused/image (bgr8)"),
    ParamSpec("publish.labels", True, "publish segmentation/labels (mono8 class ids)"),
    ParamSpec("publish.color", True, "publish segmentation/color (rgb8) while subscribed"),
    ParamSpec("publish.overlay", True, "publish segmentation/overlay (bgr8) while subscribed"),
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


class SettingsError(ValueError):
    """A parameter value is invalid; the message names it and says what is allowed."""


@dataclass(frozen=True)
class Settings:
    """Validated parameter values, grouped for the parts that use them."""

    values: dict[str, Any]
    inference_size: tuple[int, int] | None
    ir_normalization: IRNormalization
    homography: list[float] | None
    palette: list[list[int]] | None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def input_qos(self, role: str) -> tuple[str, int]:
        """(reliability, depth) of the ``role`` input: its own, else the shared ones."""
        reliability = self[f"qos.{role}.reliability"] or self["qos.reliability"]
        return reliability, int(self[f"qos.{role}.depth"] or self["qos.depth"])

    def engine_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for FusionEngine."""
        return {
            "checkpoint": self["model.checkpoint"] or None,
            "device": self["model.device"],
            "precision": self["model.precision"],
            "size": self.inference_size,
            "ir_normalization": self.ir_normalization,
            "backend": self["model.backend"],
            "channels_last": bool(self["model.channels_last"]),
            "compile": bool(self["model.compile"]),
        }

    @classmethod
    def from_mapping(cls, overrides: Mapping[str, Any] | None = None) -> Settings:
        """Defaults updated with ``overrides``; raise SettingsError on the first bad value."""
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(DEFAULTS))
        if unknown:
            raise SettingsError(f"unknown parameter(s): {', '.join(map(_shown, unknown))}")
        v = {**DEFAULTS, **{k: _typed(k, value) for k, value in overrides.items()}}
        _check_choice(v, "model.precision", PRECISIONS)
        _check_choice(v, "model.backend", BACKENDS)
        _check_choice(v, "ir.normalization", IR_NORMALIZATIONS)
        _check_choice(v, "sync.backend", SYNC_BACKENDS)
        _check_choice(v, "sync.fallback", FALLBACKS)
        _check_choice(v, "registration.source", REGISTRATION_SOURCES)
        if len(v["registration.extrinsic"]) != 6:
            raise SettingsError(
                "registration.extrinsic needs 6 numbers [x, y, z, roll, pitch, yaw], got "
                f"{len(v['registration.extrinsic'])}"
            )
        if not v["registration.plane_distance"] > 0:
            raise SettingsError("registration.plane_distance must be > 0 m")
        _check_choice(v, "ir.transport", TRANSPORTS)
        _check_choice(v, "visible.transport", TRANSPORTS)
        _check_choice(v, "qos.reliability", RELIABILITIES)
        for role in ("ir", "visible"):
            _check_choice(v, f"qos.{role}.reliability", ("", *RELIABILITIES))
            if int(v[f"qos.{role}.depth"]) < 0:
                raise SettingsError(f"qos.{role}.depth must be >= 0 (0 = qos.depth)")
        try:
            parse_device(str(v["model.device"]))
        except ValueError as exc:
            raise SettingsError(f"model.{exc}") from None
        try:
            size = check_inference_size(v["model.inference_size"], "model.inference_size")
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        for name, lo in (("model.num_threads", 0), ("sync.queue_size", 1), ("qos.depth", 1)):
            if int(v[name]) < lo:
                raise SettingsError(f"{name} must be >= {lo}, got {v[name]}")
        for name in ("sync.slop", "sync.warn_after", "sync.fallback_after", "diagnostics.period"):
            if not (math.isfinite(float(v[name])) and float(v[name]) > 0):
                raise SettingsError(f"{name} must be a positive number of seconds, got {v[name]}")
        if not 0.0 <= v["overlay.alpha"] <= 1.0:
            raise SettingsError(f"overlay.alpha must be in [0, 1], got {v['overlay.alpha']}")
        low, high = v["ir.percentile_low"], v["ir.percentile_high"]
        if not 0.0 <= low < high <= 100.0:
            raise SettingsError(
                f"ir.percentile_low {low} and ir.percentile_high {high} must satisfy "
                "0 <= low < high <= 100"
            )
        if not v["ir.min"] < v["ir.max"]:
            raise SettingsError(f"ir.min {v['ir.min']} must be below ir.max {v['ir.max']}")
        try:
            norm = IRNormalization(
                v["ir.normalization"],
                float(v["ir.percentile_low"]),
                float(v["ir.percentile_high"]),
                float(v["ir.min"]),
                float(v["ir.max"]),
            )
        except ValueError as exc:
            raise SettingsError(f"ir.* (normalization window): {exc}") from None
        return cls(
            values=v,
            inference_size=size,
            ir_normalization=norm,
            homography=_homography(v["registration.homography"]),
            palette=parse_palette(v["palette.override"]),
        )


def _check_choice(v: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> None:
    if v[name] not in choices:
        shown = " | ".join(repr(c) if c == "" else c for c in choices)
        raise SettingsError(f"{name} {_shown(v[name])} is invalid; use one of {shown}")


def _shown(value: Any) -> str:
    """A value as a message shows it: one line, short (repr escapes newlines)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _typed(name: str, value: Any) -> Any:
    """``value`` as the parameter's type (an int for a float parameter becomes a float);
    SettingsError naming the parameter for any other type. rclpy enforces types for the
    node; this does it for the params files the offline tools read."""
    default = DEFAULTS[name]
    value = as_declared_type(name, value)
    if isinstance(default, list):
        item = type(default[0])
        ok = isinstance(value, list | tuple) and all(
            type(x) is item or (item is float and type(x) is int) for x in value
        )
        value = [item(x) for x in value] if ok else value
        if ok and item is float and not all(math.isfinite(x) for x in value):
            ok = False
    elif isinstance(default, float):
        ok = type(value) is float and math.isfinite(value)
    else:
        ok = type(value) is type(default)
    if not ok:
        kind = {bool: "true or false", int: "an integer", float: "a finite number", str: "text"}
        want = (
            f"a list of {kind[type(default[0])]}s"
            if isinstance(default, list)
            else kind[type(default)]
        )
        raise SettingsError(f"{name} must be {want}, got {_shown(value)}")
    return value


def _homography(values: Any) -> list[float] | None:
    h = [float(x) for x in values]
    if len(h) != 9 or not all(math.isfinite(x) for x in h):
        raise SettingsError(
            f"registration.homography needs 9 finite numbers (row-major 3x3), got {len(h)}"
        )
    a, b, c, d, e, f, g, hh, i = h
    det = a * (e * i - f * hh) - b * (d * i - f * g) + c * (d * hh - e * g)
    if abs(det) < 1e-12:
        raise SettingsError("registration.homography is singular (determinant 0); fix the matrix")
    return None if h == IDENTITY else h


def parse_palette(text: str) -> list[list[int]] | None:
    """'r,g,b; r,g,b' → [[r, g, b], ...]; empty → None."""
    text = str(text).strip()
    if not text:
        return None
    try:
        rows = [[int(c) for c in row.split(",")] for row in text.split(";") if row.strip()]
    except ValueError:
        raise SettingsError(
            f"palette.override '{text}' is invalid; write 'r,g,b; r,g,b; ...' with integers"
        ) from None
    if not rows or any(len(r) != 3 or not all(0 <= c <= 255 for c in r) for r in rows):
        raise SettingsError("palette.override needs rows of 3 integers in 0..255, 'r,g,b; ...'")
    return rows


def load_params_file(path: str | Path, node_name: str = "mtvif_fusion") -> dict[str, Any]:
    """Read ``ros__parameters`` from a ROS 2 params YAML (``/**`` or the node's name),
    flattening nested keys to dotted names, as ROS does. rclpy's own parameters
    (``use_sim_time``, ``qos_overrides.*``) are left out: they are not the pipeline's."""
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    params: dict[str, Any] = {}
    for key in ("/**", node_name, f"/{node_name}"):
        section = doc.get(key, {}).get("ros__parameters", {})
        params.update(_flatten(section))
    return {
        k: v
        for k, v in params.items()
        if k != "use_sim_time" and not k.startswith("qos_overrides.")
    }


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, name + "."))
        else:
            out[name] = v
    return out
