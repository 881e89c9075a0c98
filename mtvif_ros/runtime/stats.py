"""Running statistics of the node's pipeline for /diagnostics (pure Python, no ROS)."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass


class LatencyWindow:
    """The last ``size`` samples (seconds); mean and nearest-rank percentiles."""

    def __init__(self, size: int = 200) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self._samples.append(float(seconds))

    def __len__(self) -> int:
        return len(self._samples)

    def mean(self) -> float:
        return sum(self._samples) / len(self._samples) if self._samples else math.nan

    def summary(self) -> tuple[float, float, float]:
        """(mean, median, 95th percentile), the figures the diagnostics show."""
        return self.mean(), self.percentile(50), self.percentile(95)

    def percentile(self, q: float) -> float:
        if not self._samples:
            return math.nan
        data = sorted(self._samples)
        rank = max(1, math.ceil(q / 100.0 * len(data)))
        return data[rank - 1]


class CounterRates:
    """Turns cumulative counters into per-second rates between two ``sample`` calls."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._last_t: float | None = None

    def sample(self, counters: dict[str, int], t: float) -> dict[str, float]:
        rates = {}
        if self._last_t is not None and t > self._last_t:
            dt = t - self._last_t
            rates = {k: (v - self._last.get(k, 0)) / dt for k, v in counters.items()}
        self._last, self._last_t = dict(counters), t
        return rates


COUNTERS = (
    "ir_received",
    "visible_received",
    "bad_ir",
    "bad_visible",
    "pairs",
    "visible_only",
    "processed",
    "superseded",
    "paused",
    "inference_errors",
    "nonfinite_ir",
    "size_mismatch",
    "unmatched_ir",
    "unmatched_visible",
    "duplicate_stamps",
    "clock_jumps",
    "incompatible_qos_ir",
    "incompatible_qos_visible",
)
LATENCIES = {"inference": "infer", "end-to-end": "e2e"}  # display name → field prefix
_SUMMARY = ("mean", "median", "p95")


def _key(counter: str) -> str:
    """The /diagnostics key of a counter: its name with spaces ('bad ir')."""
    return counter.replace("_", " ")


@dataclass(frozen=True)
class StatsSnapshot:
    """The node's pipeline counters and latency summaries (ms) at one instant.

    Every input message is accounted for: received = bad + unmatched + paired (+ waiting),
    visible messages taken alone (``visible_only``, IR drop-out fallback) counting as paired;
    and every pair or visible-only frame = processed + superseded + paused + inference
    errors (+ in flight).
    ``to_diagnostic`` and ``from_diagnostic`` are inverse, so a tool reading /diagnostics
    (the demo, benchmarks) gets these numbers back rather than parsing display strings.
    """

    ir_received: int = 0
    visible_received: int = 0
    bad_ir: int = 0
    bad_visible: int = 0
    pairs: int = 0
    visible_only: int = 0
    processed: int = 0
    superseded: int = 0
    paused: int = 0
    inference_errors: int = 0
    nonfinite_ir: int = 0
    size_mismatch: int = 0
    unmatched_ir: int = 0
    unmatched_visible: int = 0
    duplicate_stamps: int = 0
    clock_jumps: int = 0
    incompatible_qos_ir: int = 0
    incompatible_qos_visible: int = 0
    infer_mean_ms: float = math.nan
    infer_median_ms: float = math.nan
    infer_p95_ms: float = math.nan
    e2e_mean_ms: float = math.nan
    e2e_median_ms: float = math.nan
    e2e_p95_ms: float = math.nan

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTERS}

    def to_diagnostic(self, rates: dict[str, float] | None = None) -> dict[str, str]:
        """/diagnostics key → value: rates (Hz, from ``CounterRates``), latencies, counts."""
        rates = rates or {}
        values = {
            f"{role} rate (Hz)": f"{rates.get(counter, 0.0):.2f}"
            for role, counter in (
                ("ir", "ir_received"),
                ("visible", "visible_received"),
                ("pair", "pairs"),
                ("output", "processed"),
            )
        }
        for label, prefix in LATENCIES.items():
            for stat in _SUMMARY:
                v = getattr(self, f"{prefix}_{stat}_ms")
                values[f"{label} latency {stat} (ms)"] = "nan" if math.isnan(v) else f"{v:.1f}"
        values.update({_key(name): str(n) for name, n in self.counts().items()})
        return values

    @classmethod
    def from_diagnostic(cls, values: dict[str, str]) -> StatsSnapshot:
        """The snapshot a ``to_diagnostic`` dict came from (missing keys: defaults)."""
        kw: dict[str, float | int] = {
            name: int(values[_key(name)]) for name in COUNTERS if _key(name) in values
        }
        for label, prefix in LATENCIES.items():
            for stat in _SUMMARY:
                key = f"{label} latency {stat} (ms)"
                if key in values:
                    kw[f"{prefix}_{stat}_ms"] = float(values[key])
        return cls(**kw)


class PipelineStats:
    """Thread-safe counters and latency windows, written by the executor's callbacks and
    the inference worker, read by the diagnostics timer as one consistent snapshot."""

    def __init__(self, window: int = 200) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._infer = LatencyWindow(window)
        self._e2e = LatencyWindow(window)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def output(self, infer_s: float, e2e_s: float) -> None:
        """One pair processed and published: its inference and end-to-end latencies."""
        with self._lock:
            self._counts["processed"] += 1
            self._infer.add(infer_s)
            self._e2e.add(e2e_s)

    def snapshot(self) -> StatsSnapshot:
        """The current values (counters another component owns, such as the pairer's
        drops, stay 0: ``dataclasses.replace`` the snapshot with them)."""
        with self._lock:
            counts = dict(self._counts)
            latency = {
                f"{prefix}_{stat}_ms": 1e3 * value
                for prefix, window in (("infer", self._infer), ("e2e", self._e2e))
                for stat, value in zip(_SUMMARY, window.summary(), strict=True)
            }
        return StatsSnapshot(**counts, **latency)


def health(
    snap: StatsSnapshot, rates: dict[str, float], enabled: bool, errors_before: int
) -> tuple[str, str]:
    """(level OK | WARN | ERROR, message) of the pipeline since the last report."""
    if snap.inference_errors > errors_before:
        return "ERROR", "inference errors"
    if not enabled:
        return "OK", "paused (~/enable)"
    if rates and rates["ir_received"] + rates["visible_received"] == 0:
        return "WARN", "no input images"
    if rates and rates["pairs"] == 0:
        return "WARN", "inputs arrive but no pairs form"
    return "OK", "fusing"
