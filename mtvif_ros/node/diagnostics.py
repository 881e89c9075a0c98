"""The node's ``/diagnostics`` status: health, mode, device and every counter, as one
``DiagnosticStatus``. The counters themselves and their health rules are the rclpy-free
``runtime.stats``; this module only puts them into the message."""

from __future__ import annotations

import tracemalloc
from collections.abc import Mapping

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from mtvif_ros.host_memory import memory_is_kept
from mtvif_ros.runtime.stats import StatsSnapshot, health

LEVELS = {
    "OK": DiagnosticStatus.OK,
    "WARN": DiagnosticStatus.WARN,
    "ERROR": DiagnosticStatus.ERROR,
}


def pipeline_status(
    name: str,
    snap: StatsSnapshot,
    rates: Mapping[str, float],
    enabled: bool,
    errors_reported: int,
    visible_only_for: float | None,
    since_ir: float,
    context: Mapping[str, str],
) -> DiagnosticStatus:
    """The status of the fusion pipeline. ``visible_only_for``: seconds without IR while
    the drop-out fallback runs (None: pairs); ``context``: device, precision, backends."""
    level, message = health(snap, rates, enabled, errors_reported)
    if visible_only_for is not None and level != "ERROR":
        level, message = "WARN", f"no IR for {visible_only_for:.1f} s: visible-only labels"
    values = {
        "mode": "pairs" if visible_only_for is None else "visible-only",
        "time since last IR frame (s)": f"{since_ir:.1f}",
        **context,
        **python_heap(),
        "enabled": str(enabled),
        **snap.to_diagnostic(rates),
    }
    return DiagnosticStatus(
        level=LEVELS[level],
        name=name,
        message=message,
        hardware_id=context.get("device", ""),
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )


def python_heap() -> dict[str, str]:
    """The Python heap in use, where tracing is on (``python -X tracemalloc`` or
    ``PYTHONTRACEMALLOC=1`` in the node's environment: the soak benchmark's leak check)."""
    if not tracemalloc.is_tracing():
        return {}
    return {"python heap (MiB)": f"{tracemalloc.get_traced_memory()[0] / 2**20:.2f}"}


def host_memory_state() -> str:
    """The host memory setting in force (``mtvif_ros.host_memory``), as diagnostics say it."""
    return "kept for reuse" if memory_is_kept() else "glibc defaults"
