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
import threading
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import MultiThreadedExecutor
from rclpy.time import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from mtvif_ros.data import make_scene
from mtvif_ros.node.conversions import array_to_image
from mtvif_ros.node.fusion_node import make_qos


def measure(size: str, pairs: int, device: str) -> dict[str, float]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mtvif_ros.node",
            "--ros-args",
            "-p",
            f"model.device:={device}",
            "-p",
            f"model.inference_size:={size}",
            "-p",
            "diagnostics.period:=0.5",
            "-p",
            "qos.reliability:=reliable",
            "--log-level",
            "warn",
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # FASTDDS_BUILTIN_TRANSPORTS is inherited
    )
    node = rclpy.create_node("overhead_probe")
    qos = make_qos("reliable", 10)
    pub_ir = node.create_publisher(Image, "ir/image", qos)
    pub_vis = node.create_publisher(Image, "visible/image", qos)
    got: list[tuple[int, int]] = []
    diag: list[dict[str, str]] = []
    node.create_subscription(
        Image,
        "fused/image",
        lambda m: got.append(
            (m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, time.time_ns())
        ),
        qos,
    )
    node.create_subscription(
        DiagnosticArray,
        "/diagnostics",
        lambda m: diag.append({kv.key: kv.value for kv in m.status[0].values}),
        10,
    )
    ex = MultiThreadedExecutor(num_threads=2)
    ex.add_node(node)
    spin = threading.Thread(target=ex.spin, daemon=True)
    spin.start()
    try:
        scenes = [make_scene(i, 480, 640, night=bool(i % 2)) for i in range(4)]
        msgs = [(array_to_image(s.ir, "mono16"), array_to_image(s.vis, "bgr8")) for s in scenes]

        def wait(pred, timeout):
            end = time.monotonic() + timeout
            while time.monotonic() < end and not pred():
                time.sleep(0.002)
            return pred()

        assert wait(
            lambda: pub_ir.get_subscription_count() and pub_vis.get_subscription_count(), 120
        ), "the node did not subscribe within 120 s"
        e2e = []
        for i in range(pairs + 2):  # the first two are warm-up
            ir, vis = msgs[i % len(msgs)]
            n = len(got)
            now = time.time_ns()
            ir.header = vis.header = Header(stamp=Time(nanoseconds=now).to_msg(), frame_id="cam")
            pub_ir.publish(ir)
            pub_vis.publish(vis)
            if not wait(lambda n=n: len(got) > n, 120):  # output discovery may lag: resend
                continue
            if i >= 2:
                stamp, rx = got[-1]
                e2e.append((rx - stamp) / 1e6)
            time.sleep(0.05)
        wait(lambda: diag and diag[-1].get("processed") == str(len(got)), 5)
        infer_ms = float(diag[-1]["inference latency median (ms)"]) if diag else float("nan")
    finally:  # never leave the node running, whatever failed above
        ex.shutdown()
        spin.join(timeout=5)
        node.destroy_node()
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
