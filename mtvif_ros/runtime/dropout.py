"""When the thermal camera drops out: keep publishing labels from the visible image alone.

``sync.fallback: visible_only`` — after ``sync.fallback_after`` seconds without a usable IR
frame, each visible frame is processed on its own (the network's visible-only convention,
``FusionEngine.run(None, vis)``) instead of waiting for a partner that does not come; the
first IR frame that arrives ends it, and pairs form again. ``none`` keeps waiting, as a
strict pairing node would. Pure Python: the node feeds it monotonic times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FALLBACKS = ("none", "visible_only")


@dataclass
class IrDropout:
    """The fallback's state. Before any IR frame, the time counts from ``started``."""

    mode: str = "none"
    after_s: float = 1.0
    started: float = 0.0
    last_ir: float | None = None
    active: bool = field(default=False, init=False)

    def since_ir(self, now: float) -> float:
        """Seconds since the last IR frame (or since the start, before any)."""
        return now - (self.started if self.last_ir is None else self.last_ir)

    def ir_arrived(self, now: float) -> bool:
        """An IR frame arrived; True if it ends a visible-only period."""
        self.last_ir = now
        ended, self.active = self.active, False
        return ended

    def visible_alone(self, now: float) -> tuple[bool, bool]:
        """(process this visible frame alone?, did the visible-only period start now?)."""
        alone = self.mode == "visible_only" and self.since_ir(now) >= self.after_s
        started = alone and not self.active
        self.active = alone
        return alone, started
