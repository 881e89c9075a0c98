"""Validated parameter values (``Settings``) and the params-file reader.

Pure Python so that the node (which declares the parameters of
``mtvif_ros.params.table`` as ROS parameters), the offline tools (which read the same
``config/fusion.yaml``) and the tests share one definition. Validation returns messages
that name the parameter and the fix; types, limits and closed sets come from the table,
so a value the node refuses is refused offline with the same words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mtvif_ros.imaging.ir import IRNormalization
from mtvif_ros.params.options import check_confidence, check_inference_size, parse_device
from mtvif_ros.params.table import DEFAULTS, IDENTITY, PARAMETERS, ParamSpec, as_declared_type

__all__ = ["DEFAULTS", "Settings", "SettingsError", "load_params_file", "parse_palette"]


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
            "min_confidence": self["labels.min_confidence"],
        }

    @classmethod
    def from_mapping(cls, overrides: Mapping[str, Any] | None = None) -> Settings:
        """Defaults updated with ``overrides``; raise SettingsError on the first bad value."""
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(DEFAULTS))
        if unknown:
            raise SettingsError(f"unknown parameter(s): {', '.join(map(_shown, unknown))}")
        v = {**DEFAULTS, **{k: _typed(k, value) for k, value in overrides.items()}}
        for spec in PARAMETERS:
            _check_table_rules(spec, v[spec.name])
        _check_numbers(v)
        try:
            parse_device(str(v["model.device"]))
        except ValueError as exc:
            raise SettingsError(f"model.{exc}") from None
        try:
            size = check_inference_size(v["model.inference_size"], "model.inference_size")
            check_confidence(v["labels.min_confidence"], "labels.min_confidence")
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        try:
            norm = IRNormalization(
                v["ir.normalization"],
                float(v["ir.percentile_low"]),
                float(v["ir.percentile_high"]),
                float(v["ir.min"]),
                float(v["ir.max"]),
            )
        except ValueError as exc:  # its fields are the ir.* parameters
            fields = r"\b(normalization|percentile_low|percentile_high|min|max)\b(?= )"
            raise SettingsError(re.sub(fields, r"ir.\1", str(exc))) from None
        return cls(
            values=v,
            inference_size=size,
            ir_normalization=norm,
            homography=_homography(v["registration.homography"]),
            palette=parse_palette(v["palette.override"]),
        )


def _check_table_rules(spec: ParamSpec, value: Any) -> None:
    """The table's rules for one (well-typed) value: its closed set, its limits."""
    if spec.choices is not None and value not in spec.choices:
        shown = " | ".join(repr(c) if c == "" else c for c in spec.choices)
        raise SettingsError(f"{spec.name} {_shown(value)} is invalid; use one of {shown}")
    if spec.limits is not None:
        lo, hi = spec.limits
        if not lo <= value <= hi:
            raise SettingsError(f"{spec.name} {value} is outside its range [{lo}, {hi}]")


def _check_numbers(v: Mapping[str, Any]) -> None:
    """What the table's limits cannot say: lengths, strict bounds."""
    if len(v["registration.extrinsic"]) != 6:
        raise SettingsError(
            "registration.extrinsic needs 6 numbers [x, y, z, roll, pitch, yaw], got "
            f"{len(v['registration.extrinsic'])}"
        )
    for name in ("sync.slop", "sync.warn_after", "sync.fallback_after", "diagnostics.period"):
        if not float(v[name]) > 0:
            raise SettingsError(f"{name} must be a positive number of seconds, got {v[name]}")


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
