"""The node's camera inputs: subscriptions, one check per message, and IR/visible pairing.

Each message is checked once, when it arrives (layout and stamp); an unusable one is
counted, warned about and never paired. Valid messages go to the pairing that
``sync.backend`` chose (``node.pairing``: the built-in pairer or message_filters, behind
one interface). Both recover from stamps jumping back by more than 2 s (a looped bag, a
camera clock step). Under ``use_sim_time`` a jump back of the node's clock by more than
``sync.slop`` (a simulator reset on ``/clock``) restarts pairing at once, through rclpy's
clock jump callback. When inputs keep arriving but no pair forms, this module says why,
once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from rclpy.clock import JumpThreshold
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions

try:  # Iron and newer
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks
from sensor_msgs.msg import CompressedImage, Image

from mtvif_ros.imaging.encodings import EncodingError
from mtvif_ros.node.conversions import ImageConverter
from mtvif_ros.node.interfaces import INPUT_TOPICS, make_qos
from mtvif_ros.node.pairing import make_pairing
from mtvif_ros.params.settings import Settings
from mtvif_ros.runtime.dropout import IrDropout
from mtvif_ros.runtime.stamps import header_ns
from mtvif_ros.runtime.stats import PipelineStats, StatsSnapshot
from mtvif_ros.runtime.sync import ROLES, OffsetMeter, stream_of

PairCallback = Callable[[Image | None, Image, int], None]  # (IR or None, visible, stamp ns)


class PairedInputs:
    """Subscribe to both cameras and call ``on_pair(ir, visible, visible_stamp_ns)`` for
    every pair, and ``on_pair(None, visible, stamp)`` for a visible frame taken alone while
    the IR camera is out (``sync.fallback``); ``backend`` says which synchronizer runs.

    ``warn(key, text)`` is the node's throttled warning; counters go to ``stats``.
    """

    def __init__(
        self,
        node: Node,
        settings: Settings,
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
        self._last_arrival: dict[str, float] = {}  # monotonic time of each camera's last
        self._warned_no_pair = False
        self.dropout = IrDropout(
            settings["sync.fallback"], settings["sync.fallback_after"], time.monotonic()
        )
        self.qos = {role: make_qos(*settings.input_qos(role)) for role in ROLES}
        self.kinds = {role: self._kind(role) for role in ROLES}  # (message type, topic)
        self.pairing = make_pairing(settings, self._paired, node.get_logger().info)
        self.subscriptions = {
            role: node.create_subscription(
                *self.kinds[role],
                partial(self._on_input, role),
                self.qos[role],
                **self._subscription_options(role),
            )
            for role in ROLES
        }
        self._jump_handle = node.get_clock().create_jump_callback(
            JumpThreshold(
                min_forward=None,
                min_backward=Duration(nanoseconds=-1),  # compared with the slop in force
                on_clock_change=False,
            ),
            post_callback=self._on_clock_jump,
        )

    def close(self) -> None:
        """Stop watching the clock (the subscriptions go with the node's entities)."""
        self._jump_handle.unregister()

    def _kind(self, role: str) -> tuple[type, str]:
        """Image on the input topic, or CompressedImage on ``<resolved topic>/compressed``
        (image_transport's naming, so remapping the image topic moves both)."""
        if self.settings[f"{role}.transport"] == "compressed":
            return CompressedImage, self.node.resolve_topic_name(
                INPUT_TOPICS[role]
            ) + "/compressed"
        return Image, INPUT_TOPICS[role]

    def _subscription_options(self, role: str) -> dict:
        """rclpy's standard QoS overrides (``qos_overrides.<topic>.subscription.*``) and the
        incompatible-QoS event, for either backend's subscription."""
        return {
            "qos_overriding_options": QoSOverridingOptions.with_default_policies(),
            "event_callbacks": SubscriptionEventCallbacks(
                incompatible_qos=partial(self._on_incompatible_qos, role)
            ),
        }

    def _on_clock_jump(self, jump) -> None:
        """The node's clock went back by more than ``sync.slop`` (ROS time from ``/clock``:
        a simulator reset): everything queued belongs to the old run, so drop it (counted
        as unmatched), forget the measured stamp offset and restart pairing now, however
        small the jump. Called from the ``/clock`` callback, in the same (mutually
        exclusive) callback group as the inputs."""
        if -jump.delta.nanoseconds <= self.settings["sync.slop"] * 1e9:
            return  # within the slop: no frame of another run can pair
        self.pairing.restart()
        self.offsets = OffsetMeter()
        self.node.get_logger().info(
            f"clock jumped back {-jump.delta.nanoseconds / 1e9:.3f} s (simulator reset?): "
            "pairing restarted"
        )

    # -------------------------------------------------------------- per message
    def accept(self, role: str, msg: Image) -> int | None:
        """Count a message and check it; its stamp (ns), or None (counted, warned)."""
        self.stats.count(f"{role}_received")
        self._last_arrival[role] = time.monotonic()
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

    def _taken_alone(self, role: str, msg: Image, stamp: int) -> bool:
        """The IR drop-out fallback: True if this visible frame goes out alone (so not to
        the pairer); an IR frame ends a visible-only period."""
        now = time.monotonic()
        if role == "ir":
            if self.dropout.ir_arrived(now):
                self.node.get_logger().info("IR frames are back: fusing pairs again")
            return False
        alone, started = self.dropout.visible_alone(now)
        if started:
            self.node.get_logger().warning(
                f"no IR frame for {self.dropout.since_ir(now):.1f} s: publishing from the "
                "visible image alone (sync.fallback visible_only) until IR returns"
            )
        if alone:
            self.stats.count("visible_only")
            self._unpaired_since = None
            self._on_pair(None, msg, stamp)
        return alone

    def _on_input(self, role: str, msg: Image) -> None:
        stamp = self.accept(role, msg)
        if stamp is not None and not self._taken_alone(role, msg, stamp):
            self.pairing.add(role, stamp, msg)

    def _paired(self, ir: Image, vis: Image, vis_stamp: int) -> None:
        self.stats.count("pairs")
        self._unpaired_since = None
        if self._warned_no_pair:
            self._warned_no_pair = False
            self.node.get_logger().info("IR/visible pairs are forming again")
        self._on_pair(ir, vis, vis_stamp)

    # ------------------------------------------------------------ QoS
    def _on_incompatible_qos(self, role: str, info) -> None:
        """A publisher on the ``role`` topic offers a QoS this subscription cannot take:
        nothing of it arrives. Counted, and said once per 5 s with what differs."""
        self.stats.count(f"incompatible_qos_{role}")
        self._warn(f"qos_{role}", self.qos_mismatch(role) or f"incompatible QoS on {role}")

    def qos_mismatch(self, role: str) -> str | None:
        """'visible publisher is BEST_EFFORT, subscription RELIABLE' for the first
        publisher on the ``role`` topic whose QoS this subscription cannot take, else None."""
        sub = self.subscriptions[role]
        topic = sub.topic_name
        ours = sub.qos_profile
        for info in self.node.get_publishers_info_by_topic(topic):
            theirs = info.qos_profile
            if (
                ours.reliability == ReliabilityPolicy.RELIABLE
                and theirs.reliability == ReliabilityPolicy.BEST_EFFORT
            ):
                return (
                    f"{role} publisher on {topic} is BEST_EFFORT, subscription RELIABLE: "
                    f"nothing arrives; set qos.{role}.reliability: best_effort"
                )
            if ours.durability != theirs.durability and theirs.durability.name == "VOLATILE":
                return (
                    f"{role} publisher on {topic} is VOLATILE, subscription TRANSIENT_LOCAL: "
                    "nothing arrives; drop the durability override"
                )
        return None

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
        for role in ROLES:
            mismatch = self.qos_mismatch(role)
            if mismatch:
                return head + mismatch
        topic = {r: self.subscriptions[r].topic_name for r in ROLES}
        missing = [r for r in ROLES if not self.offsets.seen(stream_of(r))]
        if missing:
            present = [r for r in ROLES if r not in missing]
            return head + (
                f"messages arrive on {topic[present[0]]} only, "
                f"none on {topic[missing[0]]}; check the remapping (or {missing[0]}.transport)"
            )
        now, quiet_after = time.monotonic(), self.settings["sync.warn_after"]
        silent = [r for r in ROLES if now - self._last_arrival.get(r, now) >= quiet_after]
        if len(silent) == 1:
            other = ROLES[1 - ROLES.index(silent[0])]
            gap = now - self._last_arrival[silent[0]]
            return head + (
                f"messages arrive on {topic[other]} only, none on {topic[silent[0]]} for "
                f"{gap:.1f} s; has the {silent[0]} camera stopped? (sync.fallback "
                "visible_only keeps labels coming without IR)"
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
        self.dropout.mode = settings["sync.fallback"]
        self.dropout.after_s = settings["sync.fallback_after"]
        self.pairing.set_slop(settings["sync.slop"])

    @property
    def backend(self) -> str:
        """Which synchronizer pairs: ``builtin`` or ``message_filters``."""
        return self.pairing.name

    def drop_counts(self, counts: StatsSnapshot) -> dict[str, int]:
        """The pairing's drop counters, for the stats snapshot."""
        return self.pairing.drop_counts(counts.counts())
