"""A node that keeps what the fusion node publishes: its images (with arrival times) and
its pipeline statistics from /diagnostics, for the demo and the benchmarks that drive the
node from the outside, as a user would."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image

from mtvif_ros.node.interfaces import DIAGNOSTICS_TOPIC, OUTPUT_TOPICS, make_qos
from mtvif_ros.runtime.stats import StatsSnapshot


class OutputRecorder(Node):
    """Subscribes to the outputs ``kinds`` (reliable) and to /diagnostics."""

    def __init__(
        self, name: str = "mtvif_recorder", kinds: Iterable[str] = tuple(OUTPUT_TOPICS)
    ) -> None:
        super().__init__(name)
        self._lock = threading.Lock()
        self._received: dict[str, list[tuple[Image, int]]] = {k: [] for k in kinds}
        self._status: dict[str, str] = {}
        self.subs = {
            kind: self.create_subscription(
                Image, OUTPUT_TOPICS[kind], self._keeper(kind), make_qos("reliable", 50)
            )
            for kind in self._received
        }
        self.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, self._on_diagnostics, 10)

    def _keeper(self, kind: str) -> Callable[[Image], None]:
        def keep(msg: Image) -> None:
            with self._lock:
                self._received[kind].append((msg, time.time_ns()))

        return keep

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.endswith("fusion pipeline"):
                with self._lock:
                    self._status = {kv.key: kv.value for kv in status.values}

    def received(self, kind: str) -> list[tuple[Image, int]]:
        """(message, arrival time ns) of one output, in arrival order."""
        with self._lock:
            return list(self._received[kind])

    def count(self, kind: str) -> int:
        with self._lock:
            return len(self._received[kind])

    def status(self) -> dict[str, str]:
        """The latest /diagnostics values of the fusion node (empty before the first)."""
        with self._lock:
            return dict(self._status)

    def stats(self) -> StatsSnapshot | None:
        """The latest pipeline statistics, as numbers (None before the first report)."""
        status = self.status()
        return StatsSnapshot.from_diagnostic(status) if status else None

    def connected(self) -> bool:
        """Every output subscription has found its publisher."""
        return all(s.get_publisher_count() > 0 for s in self.subs.values())


def spin_in_background(
    node: Node, threads: int = 2
) -> tuple[MultiThreadedExecutor, threading.Thread]:
    """Spin ``node`` on a daemon thread; stop with ``executor.shutdown()`` then join."""
    executor = MultiThreadedExecutor(num_threads=threads)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    return executor, thread


def stop_process(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Stop a node process as Ctrl-C would (SIGINT), killing it only if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_until(predicate: Callable[[], bool], timeout: float, poll: float = 0.01) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` s pass; its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and not predicate():
        time.sleep(poll)
    return bool(predicate())
