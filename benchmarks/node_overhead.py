"""Node overhead over real DDS: end-to-end latency minus engine time, per inference size.

    python benchmarks/node_overhead.py [--pairs 15] [--device cpu]

The fusion node runs as its own process (as deployed: ``python -m mtvif_ros.node``); this
script publishes 480×640 mono16 IR + bgr8 visible pairs one at a time (the next only after
the previous output arrived, so no pair waits in the mailbox) and receives ``fused/image``.
Run it with ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` (as README recommends for images
between processes): Fast DDS's default shared-memory segments are smaller than a 640×480
image, and the UDP fallback retransmits lost fragments only every few seconds.
For each pair: end-to-end = receive time − input stamp (stamp = publish time, same host
clock) and engine time = the node's own ``engine.run`` time for that frame, which the node
reports in /diagnostics as a running window — here we read its median after the run.
Overhead = median end-to-end − median engine time: conversion, DDS transport both ways,
pairing, mailbox hand-off and publishing. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import time

import rclpy
from rclpy.time import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from mtvif_ros.data import make_scene
from mtvif_ros.node.conversions import array_to_image
from mtvif_ros.node.interfaces import INPUT_TOPICS, make_qos
from mtvif_ros.node.recorder import OutputRecorder, spin_in_background, wait_until
from mtvif_ros.runtime.stamps import header_ns


def _start_node(size: str, device: str) -> subprocess.Popen:
    params = {
        "model.device": device,
        "model.inference_size": size,
        "diagnostics.period": "0.5",
        "qos.reliability": "reliable",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "mtvif_ros.node", "--ros-args", "--log-level", "warn"]
        + [a for k, v in params.items() for a in ("-p", f"{k}:={v}")],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # FASTDDS_BUILTIN_TRANSPORTS is inherited
    )


def _one_at_a_time(recorder: OutputRecorder, pairs: int) -> list[float]:
    """End-to-end ms of ``pairs`` pairs, each sent after the previous output arrived."""
    qos = make_qos("reliable", 10)
    pub_ir = recorder.create_publisher(Image, INPUT_TOPICS["ir"], qos)
    pub_vis = recorder.create_publisher(Image, INPUT_TOPICS["visible"], qos)
    scenes = [make_scene(i, 480, 640, night=bool(i % 2)) for i in range(4)]
    msgs = [(array_to_image(s.ir, "mono16"), array_to_image(s.vis, "bgr8")) for s in scenes]
    assert wait_until(
        lambda: pub_ir.get_subscription_count() and pub_vis.get_subscription_count(), 120
    ), "the node did not subscribe within 120 s"
    e2e = []
    for i in range(pairs + 2):  # the first two are warm-up
        ir, vis = msgs[i % len(msgs)]
        n = recorder.count("fused")
        stamp = Time(nanoseconds=time.time_ns()).to_msg()
        ir.header = vis.header = Header(stamp=stamp, frame_id="cam")
        pub_ir.publish(ir)
        pub_vis.publish(vis)
        if not wait_until(lambda n=n: recorder.count("fused") > n, 120, poll=0.002):
            continue  # output discovery may lag: the next pair goes out anyway
        if i >= 2:
            msg, rx = recorder.received("fused")[-1]
            e2e.append((rx - header_ns(msg)) / 1e6)
        time.sleep(0.05)
    return e2e


def measure(size: str, pairs: int, device: str) -> dict[str, float]:
    proc = _start_node(size, device)
    recorder = OutputRecorder("overhead_probe", kinds=("fused",))
    executor, spin = spin_in_background(recorder)
    try:
        e2e = _one_at_a_time(recorder, pairs)

        def reported() -> bool:
            st = recorder.stats()
            return st is not None and st.processed == recorder.count("fused")

        wait_until(reported, 5)
        stats = recorder.stats()
        infer_ms = stats.infer_median_ms if stats else float("nan")
    finally:  # never leave the node running, whatever failed above
        executor.shutdown()
        spin.join(timeout=5)
        recorder.destroy_node()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()

    e2e_med = statistics.median(e2e)
    return {
        "e2e_ms": e2e_med,
        "engine_ms": infer_ms,
        "overhead_ms": e2e_med - infer_ms,
        "n": len(e2e),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", type=int, default=15)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    rclpy.init()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, device {args.device}, "
        f"input 640x480 mono16 + bgr8, {args.pairs} pairs one at a time\n"
    )
    print("| inference size | e2e median ms | engine median ms | overhead ms | overhead/engine |")
    print("|---|---:|---:|---:|---:|")
    for size, label in (("[0, 0]", "480x640 (native)"), ("[240, 320]", "240x320")):
        m = measure(size, args.pairs, args.device)
        print(
            f"| {label} | {m['e2e_ms']:.1f} | {m['engine_ms']:.1f} | {m['overhead_ms']:.1f} | "
            f"{100 * m['overhead_ms'] / m['engine_ms']:.1f} % |"
        )
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
