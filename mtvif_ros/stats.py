"""Small running statistics for diagnostics (pure Python)."""

from __future__ import annotations

import math
from collections import deque


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
