"""The built-in pairer side by side with ROS's ``message_filters.ApproximateTimeSynchronizer``
(the installed upstream package; skipped where it is absent): the cases of upstream's own
approximate-sync test, the node's camera pattern, and a looped bag. Where the two differ
on purpose, the test says how (README "Pairing" names the differences)."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from mtvif_ros.runtime.sync import ApproxTimePairer

mf = pytest.importorskip("message_filters", reason="message_filters comes with ROS 2")
from rclpy.time import Time  # noqa: E402  (after the skip: rclpy may be absent too)

SEC, MS = 1_000_000_000, 1_000_000
Events = list[tuple[int, int]]  # (stream 0 = IR | 1 = visible, stamp ns), in arrival order


def _msg(stamp_ns: int) -> SimpleNamespace:
    return SimpleNamespace(header=SimpleNamespace(stamp=Time(nanoseconds=stamp_ns)), ns=stamp_ns)


def upstream(events: Events, queue_size: int, slop_s: float) -> list[tuple[int, int, int]]:
    """The pairs upstream's synchronizer emits: (index of the event that completed the
    pair, IR stamp, visible stamp)."""
    inputs = [mf.SimpleFilter(), mf.SimpleFilter()]
    sync = mf.ApproximateTimeSynchronizer(inputs, queue_size, slop_s)
    pairs: list[tuple[int, int, int]] = []
    now = [0]
    sync.registerCallback(lambda ir, vis: pairs.append((now[0], ir.ns, vis.ns)))
    for i, (stream, ns) in enumerate(events):
        now[0] = i
        inputs[stream].signalMessage(_msg(ns))
    return pairs


def builtin(events: Events, queue_size: int, slop_s: float) -> list[tuple[int, int, int]]:
    """The same for the built-in pairer."""
    pairer = ApproxTimePairer(int(slop_s * SEC), queue_size)
    pairs = [(i, pairer.add(stream, ns, ns)) for i, (stream, ns) in enumerate(events)]
    return [(i, p[2], p[3]) for i, p in pairs if p is not None]


def stamps(pairs: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    return [(ir, vis) for _, ir, vis in pairs]


def test_upstream_case_simple_pairs_are_combined_on_arrival() -> None:
    """Upstream ``test_approx``, part 1: queue 1, equal stamps, each pair on its second message."""
    events = [(s, t * SEC) for t in range(10) for s in (0, 1)]
    expected = [(t * SEC, t * SEC) for t in range(10)]
    assert stamps(upstream(events, 1, 0.1)) == stamps(builtin(events, 1, 0.1)) == expected


@pytest.mark.parametrize("n", range(1, 10))
def test_upstream_case_scrambled_sequences(n: int) -> None:
    """Upstream ``test_approx``, part 2: all N messages of one stream in random order, then
    all N of the other. Upstream recombines all N. The built-in pairer drops, after each
    pair, every message older than it (a camera stream is in stamp order), and takes a
    stamp more than 2 s behind its stream's newest for a clock jump that restarts pairing,
    so here it pairs fewer (none where the shuffle goes back > 2 s), never a wrong pair.
    Deliberate differences."""
    rng = random.Random(n)
    events = [(0, t * SEC) for t in rng.sample(range(n), n)]
    events += [(1, t * SEC) for t in rng.sample(range(n), n)]
    truth = {(t * SEC, t * SEC) for t in range(n)}
    assert set(stamps(upstream(events, n, 0.1))) == truth
    ours = stamps(builtin(events, n, 0.1))
    assert set(ours) <= truth


def _cameras(loops: int = 1, loop_s: float = 5.0, jitter_ms: float = 4.0) -> Events:
    """30 Hz visible and 10 Hz IR (5 ms late, jittered), in arrival (stamp) order; with
    ``loops`` > 1 the stamps restart every ``loop_s`` like ``ros2 bag play --loop``."""
    rng = random.Random(0)
    events = []
    for _ in range(loops):
        for k in range(int(loop_s * 30)):
            t = SEC + k * SEC // 30
            events.append((1, t + int(rng.uniform(-jitter_ms, jitter_ms) * MS)))
            if k % 3 == 0:
                events.append((0, t + 5 * MS + int(rng.uniform(-jitter_ms, jitter_ms) * MS)))
    return sorted(events, key=lambda e: e[1]) if loops == 1 else events


def test_camera_streams_in_stamp_order_pair_identically() -> None:
    """The node's case: both cameras in stamp order. Both pair every IR frame with the
    visible frame of the same instant."""
    events = _cameras()
    ours = stamps(builtin(events, 10, 0.02))
    assert ours == stamps(upstream(events, 10, 0.02)) and len(ours) == 50
    assert all(abs(ir - vis - 5 * MS) <= 8 * MS for ir, vis in ours)


def test_looped_bag_the_builtin_pairer_restarts_and_upstream_does_not() -> None:
    """Three loops of a 5 s bag. The built-in pairer clears its queues when the stamps
    jump back and pairs 50 per loop; upstream keeps the stale messages of the previous
    loop, evicts the new ones instead and pairs almost nothing in the second loop (the
    node's message_filters path clears upstream's queues itself: test_node)."""
    events = _cameras(loops=3)
    loop_of, loop = [], 0
    for i, (_, ns) in enumerate(events):
        loop += bool(i and ns < events[i - 1][1] - 2 * SEC)
        loop_of.append(loop)

    def per_loop(run) -> list[int]:
        counts = [0, 0, 0]
        for i, _, _ in run(events, 10, 0.02):
            counts[loop_of[i]] += 1
        return counts

    assert per_loop(builtin) == [50, 50, 50]
    theirs = per_loop(upstream)
    assert theirs[0] == 50 and theirs[1] < 25
    print(f"pairs per loop: built-in [50, 50, 50], upstream {theirs}")
