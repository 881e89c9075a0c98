"""The node's ROS parameters, declared from the parameter table (``mtvif_ros.params.table``).

Every parameter is declared at construction, so a lifecycle manager or ``ros2 param set``
can set it before ``configure``. A parameter is first declared with an open descriptor,
so any startup value reaches ``Settings``, which refuses a bad one in the same words as
the offline tools; once the values are valid, each gets its full descriptor (type,
read-only flag, range), which ``ros2 param describe`` shows and rclpy enforces. Integers
given for floating-point parameters (``-p sync.slop:=1``, ``ir.max:=16383``, an integer
homography) are accepted as floats, at startup and at run time.
"""

from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from mtvif_ros.params.settings import Settings
from mtvif_ros.params.table import PARAMETERS, ParamSpec, as_declared_type

# Jazzy and newer let a callback retype values before rclpy checks them; on Humble the
# floating-point parameters keep dynamic typing instead (Settings validates)
_PRE_SET = hasattr(Node, "add_pre_set_parameters_callback")


def declare(node: Node) -> None:
    """Declare every parameter on ``node`` with an open descriptor (its description
    only): startup values of any type or range are taken, for ``finalize`` to judge."""
    for spec in PARAMETERS:
        open_descriptor = ParameterDescriptor(description=spec.description, dynamic_typing=True)
        node.declare_parameter(spec.name, spec.default, open_descriptor)
    if _PRE_SET:
        node.add_pre_set_parameters_callback(_retype)


def finalize(node: Node) -> Settings:
    """The node's values, validated (SettingsError naming the first bad one); then every
    parameter gets its full descriptor, with its value as its declared type (read-only
    ones have theirs already after a first call)."""
    settings = current_settings(node)
    retyped = [
        Parameter(spec.name, value=settings[spec.name])
        for spec in PARAMETERS
        if node.get_parameter(spec.name).type_ != Parameter(spec.name, value=spec.default).type_
    ]
    if retyped:  # e.g. an integer given for a float: stored as the float it stands for
        node.set_parameters(retyped)
    for spec in PARAMETERS:
        if not node.describe_parameter(spec.name).read_only:
            node.set_descriptor(spec.name, descriptor(spec))
    return settings


def current_settings(node: Node) -> Settings:
    """The node's parameter values, validated (SettingsError if not)."""
    return Settings.from_mapping({p.name: node.get_parameter(p.name).value for p in PARAMETERS})


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """The parameter's full descriptor: description, read-only, limits, type (dynamic for
    floating-point ones on Humble, which cannot retype an integer)."""
    d = ParameterDescriptor(
        description=spec.description,
        read_only=spec.read_only,
        type=Parameter(spec.name, value=spec.default).type_.value,
    )
    if spec.is_float and not _PRE_SET:
        d.dynamic_typing = True
    if spec.limits is not None:
        lo, hi = spec.limits
        if isinstance(spec.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi))]
        else:
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
    return d


def _retype(params: list[Parameter]) -> list[Parameter]:
    out = []
    for p in params:
        value = as_declared_type(p.name, p.value)
        out.append(p if value is p.value else Parameter(p.name, value=value))
    return out
