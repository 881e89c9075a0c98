"""IR/visible pairing behind one small interface, with two implementations.

``BuiltinPairing`` wraps the rclpy-free ``runtime.sync.ApproxTimePairer`` (``sync.backend``
auto or builtin; the offline bag tools use the same pairer, so live and offline results
agree); ``MessageFiltersPairing`` wraps ROS's ``message_filters.ApproximateTimeSynchronizer``
(``message_filters``). Both take messages that the node has already checked, call
``on_pair(ir, visible, visible_stamp_ns)`` for each pair, restart on a clock jump, take a
new slop at run time and report their drops. ``make_pairing`` is the only place that
knows which one runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from rclpy.duration import Duration

from mtvif_ros.node.interfaces import StartupError, message_filters_available
from mtvif_ros.params.settings import Settings
from mtvif_ros.runtime.stamps import header_ns
from mtvif_ros.runtime.sync import (
    JUMP_BACK_NS,
    ROLES,
    ApproxTimePairer,
    drop_after,
    jumped_back,
    stream_of,
)

OnPair = Callable[[Any, Any, int], None]  # (IR message, visible message, visible stamp ns)
Log = Callable[[str], None]


class Pairing(Protocol):
    """What the node's inputs need of a synchronizer."""

    name: str
    slop_s: float  # the slop in force

    def add(self, role: str, stamp_ns: int, msg: Any) -> None:
        """One checked message of ``role`` ('ir' or 'visible'); may call ``on_pair``."""

    def restart(self) -> None:
        """The node's clock went back (a simulator reset): drop everything queued."""

    def set_slop(self, slop_s: float) -> None:
        """The run-time ``sync.slop``."""

    def drop_counts(self, counts: dict[str, int]) -> dict[str, int]:
        """``unmatched_ir``, ``unmatched_visible``, ``clock_jumps`` (and what else it knows),
        given the node's own counters."""


class BuiltinPairing:
    """The project's pairer, which counts every message it drops and why."""

    name = "builtin"

    def __init__(self, slop_s: float, queue_size: int, on_pair: OnPair, log: Log) -> None:
        self.pairer: ApproxTimePairer[Any] = ApproxTimePairer(int(slop_s * 1e9), queue_size)
        self._on_pair = on_pair
        self.slop_s = slop_s

    def add(self, role: str, stamp_ns: int, msg: Any) -> None:
        pair = self.pairer.add(stream_of(role), stamp_ns, msg)
        if pair is not None:
            ir, vis, _, vis_stamp = pair
            self._on_pair(ir, vis, vis_stamp)

    def restart(self) -> None:
        self.pairer.restart()

    def set_slop(self, slop_s: float) -> None:
        self.pairer.set_slop(int(slop_s * 1e9))
        self.slop_s = slop_s

    def drop_counts(self, counts: dict[str, int]) -> dict[str, int]:
        stats = self.pairer.stats
        return {
            "unmatched_ir": stats.unmatched[0],
            "unmatched_visible": stats.unmatched[1],
            "duplicate_stamps": sum(stats.duplicates),
            "clock_jumps": stats.clock_jumps,
        }


class MessageFiltersPairing:
    """ROS's ApproximateTimeSynchronizer, fed through two plain filters. Upstream keeps a
    stream's queued messages when its stamps jump back by more than 2 s (a looped bag, a
    camera clock step) and then pairs almost nothing until the new stamps pass them; here
    those messages are dropped, as the built-in pairer does."""

    name = "message_filters"

    def __init__(self, slop_s: float, queue_size: int, on_pair: OnPair, log: Log) -> None:
        import message_filters

        self._inputs = {role: message_filters.SimpleFilter() for role in ROLES}
        self._sync = message_filters.ApproximateTimeSynchronizer(
            [self._inputs[role] for role in ROLES], queue_size, slop_s
        )
        self._sync.registerCallback(lambda ir, vis: on_pair(ir, vis, header_ns(vis)))
        self._newest: list[int | None] = [None, None]
        self._log = log
        self.clock_jumps = 0
        self.slop_s = slop_s

    def add(self, role: str, stamp_ns: int, msg: Any) -> None:
        stream = stream_of(role)
        newest = self._newest[stream]
        if jumped_back(newest, stamp_ns):
            self._drop_after(stamp_ns + JUMP_BACK_NS)
            self.clock_jumps += 1
            self._log(
                f"{role} stamps jumped back {(newest - stamp_ns) / 1e9:.1f} s: pairing restarted"
            )
            newest = None
        if newest is None or stamp_ns > newest:
            self._newest[stream] = stamp_ns
        self._inputs[role].signalMessage(msg)

    def restart(self) -> None:
        self._drop_after(-1)
        self._newest = [None, None]
        self.clock_jumps += 1

    def _drop_after(self, limit_ns: int) -> None:
        # message_filters has no public call that drops queued messages, which a clock jump
        # needs; its queues are stamp (ns) → message dicts guarded by its lock
        with self._sync.lock:
            drop_after(self._sync.queues, limit_ns)

    def set_slop(self, slop_s: float) -> None:
        self._sync.slop = Duration(seconds=slop_s)
        self.slop_s = slop_s

    def drop_counts(self, counts: dict[str, int]) -> dict[str, int]:
        """message_filters counts no drops: they are what was received and neither
        refused, paired nor taken alone (the IR drop-out fallback)."""
        alone = {"ir": 0, "visible": counts["visible_only"]}
        drops = {
            f"unmatched_{r}": max(
                0, counts[f"{r}_received"] - counts[f"bad_{r}"] - counts["pairs"] - alone[r]
            )
            for r in ROLES
        }
        return {**drops, "clock_jumps": self.clock_jumps}


def make_pairing(settings: Settings, on_pair: OnPair, log: Log) -> Pairing:
    """The synchronizer ``sync.backend`` names (``auto``: the built-in one); StartupError
    when it is message_filters and that package is missing."""
    args = (settings["sync.slop"], settings["sync.queue_size"], on_pair, log)
    if settings["sync.backend"] != "message_filters":
        return BuiltinPairing(*args)
    if not message_filters_available():
        raise StartupError(
            "sync.backend 'message_filters' but the message_filters package is not "
            "installed; install ros-$ROS_DISTRO-message-filters or use 'builtin'"
        )
    return MessageFiltersPairing(*args)
