"""The node's ROS parameters, declared from the settings table (``mtvif_ros.settings``).

Descriptors carry the description, read-only flag and limits, so ``ros2 param describe``
explains each one. Integers given for floating-point parameters (``-p sync.slop:=1``,
``ir.max:=16383``, an integer homography) are accepted as floats, at startup and at run
time, instead of rclpy's type error.
"""

from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from mtvif_ros.parameter_table import PARAMETERS, SPECS, ParamSpec, as_declared_type
from mtvif_ros.settings import Settings, SettingsError

# Jazzy and newer let a callback retype values before rclpy checks them; on Humble the
# floating-point parameters are declared dynamically typed instead (Settings validates)
_PRE_SET = hasattr(Node, "add_pre_set_parameters_callback")


def declare_parameters(node: Node) -> Settings:
    """Declare every parameter on ``node``; the validated settings (SettingsError if not)."""
    declare_only(node)
    return current_settings(node)


def current_settings(node: Node) -> Settings:
    """The node's parameter values, validated (SettingsError if not)."""
    return Settings.from_mapping({p.name: node.get_parameter(p.name).value for p in PARAMETERS})


def declare_only(node: Node) -> None:
    """Declare every parameter on ``node`` (values checked against their limits only)."""
    overrides = getattr(node, "_parameter_overrides", {})  # -p / params file / constructor
    for name, param in list(overrides.items()):
        value = as_declared_type(name, param.value)
        _check_limits(name, value)
        if value is not param.value:
            overrides[name] = Parameter(name, value=value)
    for spec in PARAMETERS:
        node.declare_parameter(spec.name, spec.default, descriptor(spec))
    if _PRE_SET:
        node.add_pre_set_parameters_callback(_retype)


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """The parameter's descriptor: description, read-only, limits."""
    d = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
    if spec.is_float and not _PRE_SET:
        d.dynamic_typing = True
    if spec.limits is not None:
        lo, hi = spec.limits
        if isinstance(spec.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi))]
        else:
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
    return d


def _check_limits(name: str, value: object) -> None:
    """A startup value outside the declared limits, in the words of the other checks
    (rclpy's own refusal reads 'Invalid parameter value … for parameter')."""
    spec = SPECS.get(name)
    if spec is None or spec.limits is None or isinstance(value, bool):
        return
    lo, hi = spec.limits
    if isinstance(value, int | float) and not lo <= value <= hi:
        raise SettingsError(f"{name} {value} is outside its range [{lo}, {hi}]")


def _retype(params: list[Parameter]) -> list[Parameter]:
    out = []
    for p in params:
        value = as_declared_type(p.name, p.value)
        out.append(p if value is p.value else Parameter(p.name, value=value))
    return out
