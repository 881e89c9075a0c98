"""The one-slot mailbox, the pipeline statistics and their /diagnostics form."""

from __future__ import annotations

import dataclasses
import math
import threading

import pytest

from mtvif_ros.runtime.mailbox import LatestMailbox
from mtvif_ros.runtime.stats import (
    CounterRates,
    LatencyWindow,
    PipelineStats,
    StatsSnapshot,
    health,
)


def test_only_the_newest_item_is_kept_and_replacements_are_counted() -> None:
    box: LatestMailbox[int] = LatestMailbox()
    assert box.put(1) is False
    assert box.put(2) is True and box.put(3) is True
    assert box.get(0) == 3
    assert box.get(0) is None  # empty: timeout


def test_close_wakes_a_waiting_worker() -> None:
    box: LatestMailbox[int] = LatestMailbox()
    out = []
    t = threading.Thread(target=lambda: out.append(box.get(timeout=30)))
    t.start()
    box.close()
    t.join(timeout=5)
    assert not t.is_alive() and out == [None] and box.closed


def test_latency_window() -> None:
    w = LatencyWindow(size=100)
    assert math.isnan(w.mean()) and math.isnan(w.percentile(95))
    for v in range(1, 101):
        w.add(v / 1000)
    assert abs(w.mean() - 0.0505) < 1e-9
    assert w.percentile(95) == 0.095 and w.percentile(100) == 0.1
    w.add(1.0)  # window slides
    assert len(w) == 100 and w.percentile(100) == 1.0


def test_counter_rates() -> None:
    r = CounterRates()
    assert r.sample({"a": 0}, 10.0) == {}
    assert r.sample({"a": 30}, 12.0) == {"a": 15.0}


def test_pipeline_stats_snapshot_round_trips_through_the_diagnostic_values() -> None:
    stats = PipelineStats()
    stats.count("ir_received", 5)
    stats.count("pairs", 3)
    stats.count("superseded")
    stats.output(0.020, 0.050)
    stats.output(0.040, 0.070)
    snap = dataclasses.replace(stats.snapshot(), unmatched_ir=2)
    assert (snap.processed, snap.pairs, snap.superseded) == (2, 3, 1)
    assert snap.infer_mean_ms == pytest.approx(30.0) and snap.e2e_p95_ms == pytest.approx(70.0)
    values = snap.to_diagnostic({"ir_received": 10.0})
    assert values["ir rate (Hz)"] == "10.00" and values["unmatched ir"] == "2"
    assert values["inference latency median (ms)"] == "20.0"
    back = StatsSnapshot.from_diagnostic(values)
    assert back.counts() == snap.counts()
    assert back.infer_median_ms == 20.0 and back.e2e_mean_ms == 60.0
    assert math.isnan(StatsSnapshot.from_diagnostic(StatsSnapshot().to_diagnostic()).e2e_p95_ms)


def test_health_names_the_first_problem() -> None:
    ok = StatsSnapshot(pairs=4, processed=4)
    flowing = {"ir_received": 10.0, "visible_received": 10.0, "pairs": 10.0}
    assert health(ok, flowing, True, 0) == ("OK", "fusing")
    assert health(StatsSnapshot(inference_errors=1), flowing, True, 0)[0] == "ERROR"
    assert health(StatsSnapshot(inference_errors=1), flowing, True, 1)[0] == "OK"  # reported
    assert health(ok, flowing, False, 0) == ("OK", "paused (~/enable)")
    silent = dict.fromkeys(flowing, 0.0)
    assert health(ok, silent, True, 0) == ("WARN", "no input images")
    assert health(ok, {**flowing, "pairs": 0.0}, True, 0)[1] == "inputs arrive but no pairs form"
