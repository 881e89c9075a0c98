"""The one-slot mailbox and the diagnostics statistics."""

from __future__ import annotations

import math
import threading

from mtvif_ros.mailbox import LatestMailbox
from mtvif_ros.stats import CounterRates, LatencyWindow


def test_only_the_newest_item_is_kept_and_replacements_are_counted() -> None:
    box: LatestMailbox[int] = LatestMailbox()
    assert box.put(1) is False
    assert box.put(2) is True and box.put(3) is True
    assert box.get(0) == 3 and box.superseded == 2
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
