"""Approximate-time pairing of two stamped streams (IR, visible), without ROS.

The policy of ``message_filters.ApproximateTimeSynchronizer`` (Python) for two topics, with
deliberate differences: every message is kept in a per-stream queue keyed by stamp (at most
``queue_size``; the oldest is evicted); when a message arrives, the other queue is searched
for the stamp closest to it; if the difference is strictly smaller than ``slop`` the pair
is emitted. Then, unlike upstream (which removes only the two paired messages), every
message at or before the paired stamps is removed from both queues: a camera stream is in
stamp order, so an older message can no longer find a better partner, and keeping it would
let it pair later with a message it was never close to in arrival. Messages that arrive
out of stamp order therefore pair less than upstream (tested side by side with the
upstream class in ``test/test_sync.py``). The node uses this pairer by default
(``sync.backend: auto``), and the offline bag tools always use it, so live and offline
pairing agree.

Beyond message_filters it counts what happens to every message (paired, unmatched,
duplicate) and keeps the newest stamp of each stream so a caller can say *why* no pairs form.
A stamp that goes back by more than ``jump_back`` (a bag restarting, a clock reset) drops
the queued messages from the "future" (stamped more than ``jump_back`` after it, in both
queues) instead of letting them block pairing, while messages of the other stream that
already stepped back stay; the other stream's own jump is detected when it comes; upstream
keeps them, evicts the new (older-stamped) messages instead and pairs almost nothing until
the stamps pass the stale ones.

Stamps are integer nanoseconds.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

ROLES = ("ir", "visible")  # stream i carries ROLES[i]
IR, VISIBLE = 0, 1
JUMP_BACK_NS = 2_000_000_000  # a stamp this far behind its stream's newest: a clock jump


def jumped_back(newest: int | None, stamp_ns: int, jump_back_ns: int = JUMP_BACK_NS) -> bool:
    """Whether ``stamp_ns`` is a clock jump back from a stream's ``newest`` stamp."""
    return newest is not None and stamp_ns < newest - jump_back_ns


def drop_after(queues: Iterable[dict[int, Any]], limit_ns: int) -> list[int]:
    """Remove the entries stamped after ``limit_ns`` from each stamp-keyed queue (left from
    before a clock jump, they would block pairing); how many each queue lost. Used on the
    built-in pairer's queues and on message_filters' (same layout: stamp ns → message)."""
    dropped = []
    for queue in queues:
        stale = [s for s in queue if s > limit_ns]
        for s in stale:
            del queue[s]
        dropped.append(len(stale))
    return dropped


def stream_of(role: str) -> int:
    """'ir' → IR, 'visible' → VISIBLE (the pairer's and the offset meter's stream index)."""
    return ROLES.index(role)


@dataclass
class PairerStats:
    """Running counts; ``unmatched[i]`` are messages of stream i dropped without a partner
    (``duplicates[i]`` of them because a later message had the same stamp), and
    ``clock_jumps`` how often a stamp going back cleared the queues."""

    paired: int = 0
    unmatched: list[int] = field(default_factory=lambda: [0, 0])
    duplicates: list[int] = field(default_factory=lambda: [0, 0])
    clock_jumps: int = 0


class ApproxTimePairer(Generic[T]):
    """Pairs items of two streams whose stamps differ by less than ``slop_ns``."""

    def __init__(self, slop_ns: int, queue_size: int = 10, jump_back_ns: int = JUMP_BACK_NS):
        if slop_ns <= 0:
            raise ValueError(f"slop must be > 0, got {slop_ns} ns")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.slop_ns = int(slop_ns)
        self.queue_size = int(queue_size)
        self.jump_back_ns = int(jump_back_ns)
        self.queues: tuple[dict[int, T], dict[int, T]] = ({}, {})
        self.newest: list[int | None] = [None, None]
        self.stats = PairerStats()

    def add(self, stream: int, stamp_ns: int, item: T) -> tuple[T, T, int, int] | None:
        """Add one item; return ``(ir_item, visible_item, ir_stamp, visible_stamp)`` when a
        pair forms, else None."""
        stats = self.stats
        newest = self.newest[stream]
        if jumped_back(newest, stamp_ns, self.jump_back_ns):
            for i, n in enumerate(drop_after(self.queues, stamp_ns + self.jump_back_ns)):
                stats.unmatched[i] += n
            stats.clock_jumps += 1
            newest = None
        if newest is None or stamp_ns > newest:
            self.newest[stream] = stamp_ns
        mine, other = self.queues[stream], self.queues[1 - stream]
        if stamp_ns in mine:
            stats.duplicates[stream] += 1
            stats.unmatched[stream] += 1  # the earlier message with this stamp is replaced
        mine[stamp_ns] = item
        while len(mine) > self.queue_size:
            del mine[min(mine)]
            stats.unmatched[stream] += 1
        if stamp_ns not in mine or not other:  # evicted at once: older than a full queue
            return None
        best = min(other, key=lambda s: abs(s - stamp_ns))
        if abs(best - stamp_ns) >= self.slop_ns:
            return None
        stamps = [0, 0]
        stamps[stream], stamps[1 - stream] = stamp_ns, best
        items = (self.queues[IR][stamps[IR]], self.queues[VISIBLE][stamps[VISIBLE]])
        for i in (IR, VISIBLE):
            queue = self.queues[i]
            old = [s for s in queue if s <= stamps[i]]
            for s in old:
                del queue[s]
            stats.unmatched[i] += len(old) - 1  # all but the paired message
        stats.paired += 1
        return items[0], items[1], stamps[IR], stamps[VISIBLE]

    def restart(self) -> None:
        """The clock went back (a simulator reset seen on ``/clock``): every queued item
        belongs to the run before it, so drop them all (counted as unmatched) and forget
        the newest stamps."""
        for i, queue in enumerate(self.queues):
            self.stats.unmatched[i] += len(queue)
            queue.clear()
        self.newest = [None, None]
        self.stats.clock_jumps += 1

    def set_slop(self, slop_ns: int) -> None:
        if slop_ns <= 0:
            raise ValueError(f"slop must be > 0, got {slop_ns} ns")
        self.slop_ns = int(slop_ns)

    def pending(self) -> tuple[int, int]:
        return len(self.queues[IR]), len(self.queues[VISIBLE])


class OffsetMeter:
    """Measures the typical IR - visible stamp offset from the recent stamps of both streams.

    For each of the last ``history`` IR stamps the nearest visible stamp is found; the
    median of these signed differences is robust to the one message whose partner has not
    arrived yet, so it reports the cameras' real offset (e.g. +0.060 s), not an artefact of
    arrival order. A stream whose stamps jump back (``JUMP_BACK_NS``) starts its history
    again, so the offset speaks of the clocks as they are now.
    """

    def __init__(self, history: int = 20) -> None:
        self.recent: tuple[deque[int], deque[int]] = (deque(maxlen=history), deque(maxlen=history))

    def add(self, stream: int, stamp_ns: int) -> None:
        recent = self.recent[stream]
        if recent and jumped_back(recent[-1], stamp_ns):
            recent.clear()
        recent.append(int(stamp_ns))

    def seen(self, stream: int) -> bool:
        return bool(self.recent[stream])

    def offset_ns(self) -> int | None:
        """Median nearest IR - visible offset, or None until both streams were seen."""
        ir, vis = self.recent
        if not ir or not vis:
            return None
        return int(statistics.median(min((i - v for v in vis), key=abs) for i in ir))
