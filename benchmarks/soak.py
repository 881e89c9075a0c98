"""Soak: the fusion node in its own process over real DDS for many pairs, watched for leaks,
latency drift and lost pairs.

    python benchmarks/soak.py --pairs 10000 --out benchmarks/results/cpu-2core/soak

640×480 mono16 IR + bgr8 visible at ``--rate`` Hz (IR 5 ms late, ±3 ms jitter on each),
the network at ``--size`` (default 60×80) so the run is about the node, not the model.
Every ``--every`` pairs it records the node process's RSS, Python heap (tracemalloc in
the node, via /diagnostics), threads and open file descriptors, the end-to-end latency
p50/p99 of the outputs that arrived in the window, and pairs formed / published /
superseded. It prints a table, writes soak.csv, soak.md and soak.png, and ends with the
pass criterion: RSS growth < 5 % from pair 1,000 to the end, latency p99 not drifting (last
window ≤ 1.5 × the first window after pair 1,000, + 20 ms), every pair accounted for
(published + superseded + paused + errors = formed). Exit status 0 when it passes.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

SEC = 1_000_000_000


def proc_stats(pid: int) -> dict[str, float]:
    """RSS (MiB) and thread count from /proc/<pid>/status, open file descriptors."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) / 1024,
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


class Watcher:
    """Counts outputs and keeps their latencies (arrival − stamp); keeps no images."""

    def __init__(self, node) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import Image

        from mtvif_ros.node.interfaces import DIAGNOSTICS_TOPIC, OUTPUT_TOPICS, make_qos

        self.lock = threading.Lock()
        self.latencies_ms: list[float] = []
        self.outputs = 0
        self.status: dict[str, str] = {}
        node.create_subscription(
            Image, OUTPUT_TOPICS["labels"], self._on_labels, make_qos("reliable", 50)
        )
        node.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, self._on_diag, 10)

    def _on_labels(self, msg) -> None:
        now = time.time_ns()
        stamp = msg.header.stamp.sec * SEC + msg.header.stamp.nanosec
        with self.lock:
            self.outputs += 1
            self.latencies_ms.append((now - stamp) / 1e6)

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            if status.name.endswith("fusion pipeline"):
                with self.lock:
                    self.status = {kv.key: kv.value for kv in status.values}

    def take_latencies(self) -> list[float]:
        with self.lock:
            out, self.latencies_ms = self.latencies_ms, []
            return out

    def snapshot(self):
        from mtvif_ros.runtime.stats import StatsSnapshot

        with self.lock:
            status = dict(self.status)
        return status, (StatsSnapshot.from_diagnostic(status) if status else None)


def start_node(size: tuple[int, int]) -> subprocess.Popen:
    params = [
        "model.device:=cpu",
        f"model.inference_size:=[{size[0]}, {size[1]}]",
        "diagnostics.period:=0.5",
        "qos.reliability:=reliable",
        "qos.depth:=5",
    ]
    return subprocess.Popen(
        [sys.executable, "-X", "tracemalloc=1", "-m", "mtvif_ros.node", "--ros-args"]
        + [a for p in params for a in ("-p", p)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    import rclpy
    from sensor_msgs.msg import Image

    from mtvif_ros.data import make_scene
    from mtvif_ros.node.conversions import array_to_image
    from mtvif_ros.node.interfaces import INPUT_TOPICS, make_qos
    from mtvif_ros.node.recorder import spin_in_background, stop_process, wait_until

    proc = start_node(tuple(args.size))
    rclpy.init()
    node = rclpy.create_node("mtvif_soak")
    watcher = Watcher(node)
    pubs = {
        r: node.create_publisher(Image, t, make_qos("reliable", 5))
        for r, t in INPUT_TOPICS.items()
    }
    executor, spin = spin_in_background(node, threads=2)
    rows: list[dict[str, float]] = []
    try:
        if (
            not wait_until(
                lambda: (
                    proc.poll() is not None
                    or all(p.get_subscription_count() for p in pubs.values())
                ),
                120,
            )
            or proc.poll()
        ):
            print("error: the node did not start", file=sys.stderr)
            return 2
        s = make_scene(0, 480, 640)
        ir16 = (s.ir.astype(np.uint16) * 64) if s.ir.dtype == np.uint8 else s.ir
        msgs = {"ir": array_to_image(ir16, "mono16"), "visible": array_to_image(s.vis, "bgr8")}
        rng = np.random.default_rng(0)
        period, t_wall0, t_stamp0 = 1.0 / args.rate, time.monotonic(), time.time_ns()
        for i in range(1, args.pairs + 1):
            vis_ns = t_stamp0 + int((i * period + rng.normal(0, 0.003)) * SEC)
            ir_ns = vis_ns + int((0.005 + rng.normal(0, 0.003)) * SEC)
            for role, stamp in (("visible", vis_ns), ("ir", ir_ns)):
                msgs[role].header.stamp.sec, msgs[role].header.stamp.nanosec = divmod(stamp, SEC)
                pubs[role].publish(msgs[role])
            if i % args.every == 0:
                rows.append(sample(i, proc.pid, watcher))
                print(format_row(rows[-1]), flush=True)
            time.sleep(max(0.0, t_wall0 + i * period - time.monotonic()))
        wait_until(lambda: drained(watcher, args.pairs), 30)
        time.sleep(1.0)
        final = sample(args.pairs, proc.pid, watcher, final=True)
    finally:
        executor.shutdown()
        spin.join(timeout=10)
        stop_process(proc)
        node.destroy_node()
        rclpy.try_shutdown()
    return report(args, rows, final)


def drained(watcher: Watcher, pairs: int) -> bool:
    _, st = watcher.snapshot()
    return (
        st is not None
        and st.pairs >= pairs * 0.99
        and (st.processed + st.superseded + st.paused + st.inference_errors >= st.pairs)
    )


def sample(i: int, pid: int, watcher: Watcher, final: bool = False) -> dict[str, float]:
    status, st = watcher.snapshot()
    lat = watcher.take_latencies()
    row = {"pairs_published": i, **proc_stats(pid)}
    row["python_heap_mib"] = float(status.get("python heap (MiB)", "nan"))
    row["e2e_p50_ms"] = float(np.percentile(lat, 50)) if lat else float("nan")
    row["e2e_p99_ms"] = float(np.percentile(lat, 99)) if lat else float("nan")
    for key in ("pairs", "processed", "superseded", "paused", "inference_errors"):
        row[key] = getattr(st, key) if st is not None else -1
    row["unmatched"] = (st.unmatched_ir + st.unmatched_visible) if st is not None else -1
    row["outputs_received"] = watcher.outputs
    row["final"] = float(final)
    return row


COLUMNS = (
    "pairs_published",
    "rss_mib",
    "python_heap_mib",
    "threads",
    "fds",
    "e2e_p50_ms",
    "e2e_p99_ms",
    "pairs",
    "processed",
    "superseded",
    "unmatched",
    "outputs_received",
)


def format_row(row: dict[str, float]) -> str:
    return (
        "| "
        + " | ".join(
            f"{row[c]:.1f}" if isinstance(row[c], float) else str(row[c]) for c in COLUMNS
        )
        + " |"
    )


def report(args: argparse.Namespace, rows: list[dict[str, float]], final) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "soak.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([*rows, final])
    warm = [r for r in rows if r["pairs_published"] >= min(1000, args.pairs // 2)]
    base = warm[0]
    rss_growth = (final["rss_mib"] - base["rss_mib"]) / base["rss_mib"]
    p99_first, p99_last = warm[0]["e2e_p99_ms"], rows[-1]["e2e_p99_ms"]
    p99_ok = p99_last <= 1.5 * p99_first + 20.0
    done = final["processed"] + final["superseded"] + final["paused"] + final["inference_errors"]
    accounted = done == final["pairs"]
    passed = rss_growth < 0.05 and p99_ok and accounted
    header = "| " + " | ".join(COLUMNS) + " |\n|" + "---:|" * len(COLUMNS)
    lines = [
        f"# Soak: {args.pairs} pairs at {args.rate:g} Hz, 640x480 mono16 + bgr8, network at "
        f"{args.size[0]}x{args.size[1]}",
        "",
        f"`python benchmarks/soak.py --pairs {args.pairs} --rate {args.rate:g} --every "
        f"{args.every}`; node in its own process (`-X tracemalloc=1`), Fast DDS LARGE_DATA.",
        "",
        header,
        *[format_row(r) for r in [*rows, final]],
        "",
        f"- RSS from pair {base['pairs_published']} to the end: {base['rss_mib']:.1f} → "
        f"{final['rss_mib']:.1f} MiB ({100 * rss_growth:+.2f} %; limit +5 %)",
        f"- e2e latency p99, first window after warm-up vs last: {p99_first:.1f} → "
        f"{p99_last:.1f} ms (limit 1.5× + 20 ms)",
        f"- pairs formed {final['pairs']} = published {final['processed']} + superseded "
        f"{final['superseded']} + paused {final['paused']} + errors "
        f"{final['inference_errors']}: {'yes' if accounted else 'NO'}; unmatched inputs "
        f"{final['unmatched']}",
        "",
        f"**{'PASS' if passed else 'FAIL'}**",
    ]
    (out / "soak.md").write_text("\n".join(lines) + "\n")
    plot(rows, out / "soak.png")
    print("\n".join(lines[4:]))
    return 0 if passed else 1


def plot(rows: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["pairs_published"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(x, [r["rss_mib"] for r in rows], label="RSS")
    axes[0].plot(x, [r["python_heap_mib"] for r in rows], label="Python heap")
    axes[0].set_ylabel("MiB")
    axes[1].plot(x, [r["e2e_p50_ms"] for r in rows], label="p50")
    axes[1].plot(x, [r["e2e_p99_ms"] for r in rows], label="p99")
    axes[1].set_ylabel("end-to-end latency (ms)")
    axes[2].plot(x, [r["threads"] for r in rows], label="threads")
    axes[2].plot(x, [r["fds"] for r in rows], label="open fds")
    for ax in axes:
        ax.set_xlabel("pairs published")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pairs", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=30.0, help="pairs per second")
    ap.add_argument("--size", type=int, nargs=2, default=(60, 80), metavar=("H", "W"))
    ap.add_argument("--every", type=int, default=500, help="sample every N pairs")
    ap.add_argument("--out", default="soak_out")
    args = ap.parse_args(argv)
    if args.pairs < 2 * args.every:
        ap.error("--pairs must be at least twice --every")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
