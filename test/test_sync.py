"""The built-in approximate-time pairer (pure): the policy message_filters implements."""

from __future__ import annotations

import pytest

from mtvif_ros.runtime.stamps import split_ns, stamp_ns
from mtvif_ros.runtime.sync import IR, VISIBLE, ApproxTimePairer, OffsetMeter

MS = 1_000_000


def make(slop_ms: float = 10, queue: int = 10) -> ApproxTimePairer[str]:
    return ApproxTimePairer(int(slop_ms * MS), queue)


def test_equal_stamps_pair_and_order_of_arrival_does_not_matter() -> None:
    p = make()
    assert p.add(IR, 100 * MS, "ir0") is None
    assert p.add(VISIBLE, 100 * MS, "vis0") == ("ir0", "vis0", 100 * MS, 100 * MS)
    q = make()
    assert q.add(VISIBLE, 100 * MS, "vis0") is None
    assert q.add(IR, 100 * MS, "ir0") == ("ir0", "vis0", 100 * MS, 100 * MS)


def test_slop_is_exclusive() -> None:
    p = make(slop_ms=10)
    p.add(IR, 0, "a")
    assert (
        p.add(VISIBLE, 10 * MS, "b") is None
    )  # exactly slop: no pair (strict, as message_filters)
    assert p.add(VISIBLE, 9 * MS, "c") == ("a", "c", 0, 9 * MS)


def test_picks_the_closest_partner_and_drops_older_ones() -> None:
    p = make(slop_ms=20)
    for t in (0, 33, 66):
        p.add(VISIBLE, t * MS, f"v{t}")
    assert p.add(IR, 60 * MS, "ir60") == ("ir60", "v66", 60 * MS, 66 * MS)
    # v0 and v33 are older than the paired visible stamp: removed and counted unmatched
    assert p.pending() == (0, 0)
    assert p.stats.unmatched == [0, 2] and p.stats.paired == 1


def test_out_of_order_arrivals_still_pair() -> None:
    p = make()
    p.add(IR, 200 * MS, "ir200")
    p.add(IR, 100 * MS, "ir100")  # late delivery of an older frame
    assert p.add(VISIBLE, 101 * MS, "v101") == ("ir100", "v101", 100 * MS, 101 * MS)
    assert p.add(VISIBLE, 199 * MS, "v199") == ("ir200", "v199", 200 * MS, 199 * MS)


def test_duplicate_stamp_replaces_and_is_counted() -> None:
    p = make()
    p.add(IR, 5 * MS, "first")
    p.add(IR, 5 * MS, "second")
    assert p.stats.duplicates == [1, 0] and p.stats.unmatched == [1, 0]
    assert p.add(VISIBLE, 5 * MS, "v")[0] == "second"


def test_one_stream_silent_queue_is_bounded_and_drops_counted() -> None:
    p = make(queue=3)
    for i in range(10):
        assert p.add(IR, i * 100 * MS, i) is None
    assert p.pending() == (3, 0)
    assert p.stats.unmatched == [7, 0]


def test_offset_beyond_slop_never_pairs_and_offset_is_measured() -> None:
    p = make(slop_ms=10)
    meter = OffsetMeter()
    assert meter.offset_ns() is None
    for i in range(5):
        # IR arrives before its visible partner, each 40 ms late in stamp
        assert p.add(IR, (i * 100 + 40) * MS, i) is None
        meter.add(IR, (i * 100 + 40) * MS)
        assert (meter.offset_ns() is None) == (i == 0)
        assert p.add(VISIBLE, i * 100 * MS, i) is None
        meter.add(VISIBLE, i * 100 * MS)
    assert p.stats.paired == 0
    # the newest IR's nearest visible is the previous frame (+140 ms), the median is not
    assert meter.offset_ns() == 40 * MS


def test_clock_jump_backwards_clears_and_pairs_resume() -> None:
    p = make()
    p.add(IR, 10_000 * MS, "old-ir")  # left over before a bag restarts
    p.add(VISIBLE, 10_000 * MS + 500 * MS, "old-vis-unpaired")
    p.add(VISIBLE, 10_000 * MS, "old-vis")
    # the bag loops: stamps go back by ~10 s
    assert p.add(IR, 100 * MS, "new-ir") is None
    assert p.stats.clock_jumps == 1
    assert p.add(VISIBLE, 100 * MS, "new-vis") == ("new-ir", "new-vis", 100 * MS, 100 * MS)


def test_a_jump_seen_first_on_one_stream_keeps_the_other_streams_new_messages() -> None:
    """The looped bag's seam as the executor may deliver it: the new loop's IR arrives
    before the old loop's last visible frames. Those are dropped when the visible stream
    steps back too; the new IR is not, and pairs (found by the node's looped-bag test)."""
    p = make(slop_ms=20)
    assert p.add(IR, 2_255 * MS, "old-ir") is None
    assert p.add(VISIBLE, 2_250 * MS, "old-vis") is not None
    assert p.add(IR, 5 * MS, "new-ir") is None  # IR steps back first
    assert p.add(VISIBLE, 2_333 * MS, "old-vis-late") is None  # the old loop's tail
    assert p.add(VISIBLE, 0, "new-vis") == ("new-ir", "new-vis", 5 * MS, 0)
    assert p.stats.clock_jumps == 2 and p.pending() == (0, 0)
    assert p.stats.unmatched == [0, 1]  # the late old frame, dropped and counted


def test_set_slop_and_invalid_arguments() -> None:
    p = make(slop_ms=1)
    p.add(IR, 0, "a")
    assert p.add(VISIBLE, 5 * MS, "b") is None
    p.set_slop(10 * MS)
    assert p.add(VISIBLE, 6 * MS, "c") is not None
    with pytest.raises(ValueError, match="slop must be > 0"):
        ApproxTimePairer(0)
    with pytest.raises(ValueError, match="queue_size"):
        ApproxTimePairer(MS, 0)


def test_stamp_ns() -> None:
    assert stamp_ns(3, 250) == 3_000_000_250
    assert split_ns(3_000_000_250) == (3, 250)


def test_a_message_older_than_a_full_queue_is_dropped_not_paired() -> None:
    """It is evicted as it arrives; pairing it would look up a message no longer kept
    (this raised KeyError and ended the node)."""
    p = make(queue=2, slop_ms=20)
    assert p.add(IR, 100 * MS, "ir100") is None
    assert p.add(IR, 200 * MS, "ir200") is None
    assert p.add(VISIBLE, 50 * MS, "v50") is None
    assert p.add(IR, 50 * MS, "ir50") is None  # older than both kept IR messages
    assert p.stats.unmatched == [1, 0] and p.pending() == (2, 1)
    assert p.add(VISIBLE, 105 * MS, "v105")[:2] == ("ir100", "v105")
