"""A one-slot mailbox between the ROS callbacks and the inference worker.

Only the newest item is kept: putting a new item while the previous one is still waiting
replaces (and counts) it, so the worker always processes the most recent pair and latency
cannot grow behind a slow model.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestMailbox(Generic[T]):
    """A thread-safe slot holding at most one item: the newest one put.

    Between a producer that must never block (ROS callbacks) and one consumer (the
    inference worker). The caller counts replacements from ``put``'s return value.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._has_item = False
        self._closed = False

    def put(self, item: T) -> bool:
        """Store ``item``; return True if it replaced an item nobody had taken yet."""
        with self._cond:
            replaced = self._has_item
            self._item, self._has_item = item, True
            self._cond.notify()
            return replaced

    def get(self, timeout: float | None = None) -> T | None:
        """Take the item, waiting up to ``timeout`` s; None on timeout or when closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._has_item or self._closed, timeout):
                return None
            if not self._has_item:
                return None
            item, self._item, self._has_item = self._item, None, False
            return item

    def close(self) -> None:
        """Wake any waiting ``get`` so a worker thread can exit."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
