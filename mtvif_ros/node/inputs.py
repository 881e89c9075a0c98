"""The node's camera inputs: subscriptions, one check per message, and IR/visible pairing.

Each message is checked once, when it arrives (layout and stamp); an unusable one is
counted, warned about and never paired, before either pairer sees it. Valid messages go
to the pairer: the built-in ``mtvif_ros.sync.ApproxTimePairer`` (``sync.backend`` auto or
builtin; the offline tools use it too), or ROS's ``message_filters.ApproximateTimeSynchronizer``
(``message_filters``; see ``mtvif_ros.sync`` for how the two differ). Both recover from
stamps jumping back (a looped bag, a camera clock step, a simulator reset): the built-in
pairer by itself, message_filters by having its queues cleared here. When inputs keep
arriving but no pair forms, this module says why, once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image

from mtvif_ros.imaging.encodings import EncodingError
from mtvif_ros.node.conversions import ImageConverter
from mtvif_ros.node.interfaces import INPUT_TOPICS, StartupError, message_filters_available
from mtvif_ros.settings import Settings
from mtvif_ros.stamps import header_ns
from mtvif_ros.stats import PipelineStats, StatsSnapshot
from mtvif_ros.sync import JUMP_BACK_NS, ROLES, ApproxTimePairer, OffsetMeter, stream_of

PairCallback = Callable[[Image, Image, int], None]  # (IR, visible, visible stamp ns)


class PairedInputs:
    """Subscribe to both cameras and call ``on_pair(ir, visible, visible_stamp_ns)`` for
    every pair; ``backend`` says which synchronizer runs.

    ``warn(key, text)`` is the node's throttled warning; counters go to ``stats``.
    """

    def __init__(
        self,
        node: Node,
        settings: Settings,
        qos: QoSProfile,
        stats: PipelineStats,
        on_pair: PairCallback,
        warn: Callable[[str, str], None],
        converter: ImageConverter,
    ) -> None:
        self.node, self.settings, self.stats = node, settings, stats
        self.converter = converter
        self._on_pair, self._warn = on_pair, warn
        self.offsets = OffsetMeter()
        self._unpaired_since: float | None = None  # first input after the last pair
        self._warned_no_pair = False
        self.pairer: ApproxTimePairer | None = None
        self._mf_sync = None
        self._newest: list[int | None] = [None, None]  # per stream, for message_filters
        self.mf_clock_jumps = 0
        self.backend = self._subscribe(qos)

    def _subscribe(self, qos: QoSProfile) -> str:
        backend = self.settings["sync.backend"]
        if backend == "message_filters" and not message_filters_available():
            raise StartupError(
                "sync.backend 'message_filters' but the message_filters package is not "
                "installed; install ros-$ROS_DISTRO-message-filters or use 'builtin'"
            )
        if backend == "message_filters":
            self._subscribe_message_filters(qos)
            return "message_filters"
        self.pairer = ApproxTimePairer(
            int(self.settings["sync.slop"] * 1e9), self.settings["sync.queue_size"]
        )
        for role in ROLES:
            self.node.create_subscription(
                Image, INPUT_TOPICS[role], partial(self._on_builtin_input, role), qos
            )
        return "builtin"

    def _subscribe_message_filters(self, qos: QoSProfile) -> None:
        import message_filters

        node, accept = self.node, self.accept

        class Checked(message_filters.SimpleFilter):
            """Passes on only messages that ``accept`` lets through."""

            def __init__(self, role: str) -> None:
                super().__init__()
                source = message_filters.Subscriber(
                    node, Image, INPUT_TOPICS[role], qos_profile=qos
                )
                source.registerCallback(self._in, role)
                self._source = source  # keep the subscription alive

            def _in(self, msg: Image, role: str) -> None:
                stamp = accept(role, msg)
                if stamp is not None:
                    mf_jump_check(stream_of(role), stamp)
                    self.signalMessage(msg)

        mf_jump_check = self._mf_jump_check

        self._mf_sync = message_filters.ApproximateTimeSynchronizer(
            [Checked(role) for role in ROLES],
            self.settings["sync.queue_size"],
            self.settings["sync.slop"],
        )
        self._mf_sync.registerCallback(lambda ir, vis: self._paired(ir, vis, header_ns(vis)))

    def _mf_jump_check(self, stream: int, stamp: int) -> None:
        """Clear message_filters' queues when a stamp goes back by more than the built-in
        pairer's ``jump_back``: upstream would keep the stale messages and pair almost
        nothing until the stamps pass them."""
        newest = self._newest[stream]
        if newest is not None and stamp < newest - JUMP_BACK_NS:
            with self._mf_sync.lock:
                for queue in self._mf_sync.queues:
                    queue.clear()
            self._newest = [None, None]
            self.mf_clock_jumps += 1
            self.node.get_logger().info(
                f"{ROLES[stream]} stamps jumped back {(newest - stamp) / 1e9:.1f} s: "
                "pairing restarted"
            )
        if self._newest[stream] is None or stamp > self._newest[stream]:
            self._newest[stream] = stamp

    # -------------------------------------------------------------- per message
    def accept(self, role: str, msg: Image) -> int | None:
        """Count a message and check it; its stamp (ns), or None (counted, warned)."""
        self.stats.count(f"{role}_received")
        try:
            self.converter.check(msg, role)
            stamp = header_ns(msg)
            if stamp == 0:
                raise EncodingError(f"{role} header stamp is zero; stamp images at capture time")
        except EncodingError as exc:
            self.reject(role, exc)
            return None
        self.offsets.add(stream_of(role), stamp)
        self._check_pairing()
        return stamp

    def reject(self, role: str, exc: EncodingError) -> None:
        """Count and warn about an unusable message (also for one that fails to decode)."""
        self.stats.count(f"bad_{role}")
        self._warn(f"bad_{role}", f"dropped {role} message: {exc}")

    def _on_builtin_input(self, role: str, msg: Image) -> None:
        stamp = self.accept(role, msg)
        if stamp is None:
            return
        pair = self.pairer.add(stream_of(role), stamp, msg)
        if pair is not None:
            ir, vis, _, vis_stamp = pair
            self._paired(ir, vis, vis_stamp)

    def _paired(self, ir: Image, vis: Image, vis_stamp: int) -> None:
        self.stats.count("pairs")
        self._unpaired_since = None
        if self._warned_no_pair:
            self._warned_no_pair = False
            self.node.get_logger().info("IR/visible pairs are forming again")
        self._on_pair(ir, vis, vis_stamp)

    # ------------------------------------------------------------ explanations
    def _check_pairing(self) -> None:
        """Warn once when inputs keep arriving for ``sync.warn_after`` s without a pair."""
        now = time.monotonic()
        if self._unpaired_since is None:
            self._unpaired_since = now
        waited = now - self._unpaired_since
        if self._warned_no_pair or waited < self.settings["sync.warn_after"]:
            return
        self._warned_no_pair = True
        self.node.get_logger().warning(self.no_pair_reason(waited))

    def no_pair_reason(self, waited: float) -> str:
        """One line saying why no pair formed, with the measured stamp offset."""
        head = f"no IR/visible pair for {waited:.1f} s: "
        missing = [r for r in ROLES if not self.offsets.seen(stream_of(r))]
        if missing:
            present = [r for r in ROLES if r not in missing]
            topic = self.node.resolve_topic_name
            return head + (
                f"messages arrive on {topic(INPUT_TOPICS[present[0]])} only, "
                f"none on {topic(INPUT_TOPICS[missing[0]])}; check the remapping"
            )
        offset = self.offsets.offset_ns() / 1e9
        slop = self.settings["sync.slop"]
        if abs(offset) >= slop:
            return head + (
                f"IR-visible stamp offset is {offset:+.3f} s, larger than sync.slop "
                f"{slop:.3f} s; synchronize the camera clocks or raise sync.slop"
            )
        return head + (
            f"IR-visible stamp offset {offset:+.3f} s is within sync.slop {slop:.3f} s, but "
            "stamps do not line up message by message (out-of-order or bursty stamps)"
        )

    # ---------------------------------------------------------------- settings
    def configure(self, settings: Settings) -> None:
        """Apply changed run-time settings (the slop; the rest is read when used)."""
        self.settings = settings
        if self.pairer is not None:
            self.pairer.set_slop(int(settings["sync.slop"] * 1e9))
        else:  # message_filters keeps the slop as a Duration
            self._mf_sync.slop = Duration(seconds=settings["sync.slop"])

    def drop_counts(self, counts: StatsSnapshot) -> dict[str, int]:
        """The pairer's own counters, for the stats snapshot. message_filters reports no
        drops, so there they are derived: received − bad − paired."""
        if self.pairer is not None:
            stats = self.pairer.stats
            return {
                "unmatched_ir": stats.unmatched[0],
                "unmatched_visible": stats.unmatched[1],
                "duplicate_stamps": sum(stats.duplicates),
                "clock_jumps": stats.clock_jumps,
            }
        c = counts.counts()
        drops = {
            f"unmatched_{r}": max(0, c[f"{r}_received"] - c[f"bad_{r}"] - c["pairs"])
            for r in ROLES
        }
        return {**drops, "clock_jumps": self.mf_clock_jumps}
