"""The end-to-end demo: a player publishes the built-in sample sequence as IR and visible
topics (two unsynchronized cameras: stamp offset and jitter), the fusion node (its own
process, ``python -m mtvif_ros.node``) fuses it over real DDS, and a recorder writes a few
fused/label/overlay/colour images and a summary (from the node's /diagnostics and the
received outputs).

    python -m mtvif_ros.tools.demo --out demo_out          (or: mtvif-demo, make demo)
    python -m mtvif_ros.tools.demo --offline               (engine only, no ROS needed)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from mtvif_ros.data import sample_scenes, sample_sequence
from mtvif_ros.engine import FusionEngine
from mtvif_ros.host_memory import keep_freed_memory
from mtvif_ros.imaging import normalize_ir, overlay
from mtvif_ros.model import CheckpointError


def parse_size(text: str) -> tuple[int, int]:
    """'HxW' → (h, w)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size '{text}' must look like 480x640 (HxW)") from None
    return h, w


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run_offline(args: argparse.Namespace) -> int:
    """Engine only: fuse a day and a night scene and write every output image."""
    try:
        engine = FusionEngine(args.checkpoint, args.device, args.precision, args.size)
    except (CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for scene in sample_scenes(2, *args.scene_size):
        result = engine.run(scene.ir, scene.vis)
        ir8 = (normalize_ir(scene.ir, engine.ir_normalization) * 255 + 0.5).astype(np.uint8)
        images = {
            "ir": ir8,
            "visible": scene.vis,
            "fused": result.fused,
            "labels": result.labels,
            "color": cv2.cvtColor(engine.colorize(result.labels), cv2.COLOR_RGB2BGR),
            "overlay": overlay(result.fused, result.labels, engine.lut),
        }
        for kind, image in images.items():
            cv2.imwrite(str(out / f"{scene.name}_{kind}.png"), image)
        ms = 1e3 * sum(result.timings.values())
        print(f"{scene.name}: wrote {', '.join(images)} to {out}/ ({ms:.0f} ms)")
    return 0


def run_node(args: argparse.Namespace) -> int:
    """Player and recorder here; the fusion node in its own process, as deployed."""
    # Fast DDS: images larger than the default shared-memory segment need LARGE_DATA
    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import MultiThreadedExecutor
    from sensor_msgs.msg import Image

    from mtvif_ros.imaging.encodings import decode
    from mtvif_ros.node.fusion_node import OUTPUT_TOPICS, make_qos
    from mtvif_ros.node.player import PairPlayer

    size = f"[{args.size[0]}, {args.size[1]}]" if args.size else "[0, 0]"
    params = [
        f"model.device:={args.device}",
        f"model.precision:={args.precision}",
        f"model.inference_size:={size}",
        "diagnostics.period:=0.5",
    ] + ([f"model.checkpoint:={args.checkpoint}"] if args.checkpoint else [])
    node_proc = subprocess.Popen(
        [sys.executable, "-m", "mtvif_ros.node", "--ros-args"]
        + [a for p in params for a in ("-p", p)]
    )
    rclpy.init()
    recorder = rclpy.create_node("mtvif_demo_recorder")
    received: dict[str, list] = {k: [] for k in OUTPUT_TOPICS}
    diagnostics: list[dict[str, str]] = []
    lock = threading.Lock()

    def keep(kind: str):
        def cb(msg: Image) -> None:
            with lock:
                received[kind].append((msg, time.time_ns()))

        return cb

    subs = {
        kind: recorder.create_subscription(Image, topic, keep(kind), make_qos("reliable", 50))
        for kind, topic in OUTPUT_TOPICS.items()
    }
    recorder.create_subscription(
        DiagnosticArray,
        "/diagnostics",
        lambda m: diagnostics.append({kv.key: kv.value for kv in m.status[0].values}),
        10,
    )
    executor = MultiThreadedExecutor(num_threads=3)
    executor.add_node(recorder)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()

    def wait(pred, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not pred():
            if node_proc.poll() is not None:
                return False
            time.sleep(0.05)
        return pred()

    ok = wait(lambda: all(s.get_publisher_count() for s in subs.values()), 120)
    frames = [
        (s.ir, s.vis)
        for s in sample_sequence(args.frames, args.rate, 0, args.night, *args.scene_size)
    ]
    player = PairPlayer(frames, args.rate, args.offset_ms / 1e3, args.jitter_ms / 1e3, seed=1)
    ok = ok and wait(
        lambda: player.pub_ir.get_subscription_count() and player.pub_vis.get_subscription_count(),
        60,
    )
    if not ok:
        print("error: the fusion node did not start (see its messages above)", file=sys.stderr)
        executor.shutdown()
        node_proc.kill()
        rclpy.try_shutdown()
        return 2
    print(
        f"publishing {len(frames)} pairs of {args.scene_size[1]}x{args.scene_size[0]} at "
        f"{args.rate:g} Hz (IR offset {args.offset_ms:g} ms, jitter {args.jitter_ms:g} ms)"
    )
    executor.add_node(player)
    started = time.monotonic()
    wait(lambda: player.done, 600)
    published_s = time.monotonic() - started

    def drained() -> bool:
        d = diagnostics[-1] if diagnostics else {}
        done = sum(int(d.get(k, 0)) for k in ("processed", "superseded", "paused"))
        return bool(d) and int(d.get("pairs", -1)) > 0 and done >= int(d["pairs"])

    wait(lambda: drained() and len(received["fused"]) >= int(diagnostics[-1]["processed"]), 60)
    time.sleep(1.0)  # one more diagnostics period
    executor.shutdown()
    spin.join(timeout=10)
    node_proc.send_signal(signal.SIGINT)
    node_proc.wait(timeout=30)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with lock:
        fused = list(received["fused"])
        by_stamp = {
            k: {(m.header.stamp.sec, m.header.stamp.nanosec): m for m, _ in received[k]}
            for k in ("labels", "overlay", "color")
        }
    latencies = [
        (t_rx - (m.header.stamp.sec * 10**9 + m.header.stamp.nanosec)) / 1e6 for m, t_rx in fused
    ]
    for i, (msg, _) in enumerate(fused[: args.save]):
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        images = {"fused": msg, **{k: v[key] for k, v in by_stamp.items() if key in v}}
        for kind, m in images.items():
            arr = decode(m.encoding, m.height, m.width, m.step, m.is_bigendian, m.data)
            if m.encoding == "rgb8":
                arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(out / f"frame{i:02d}_{kind}.png"), arr)
    d = diagnostics[-1] if diagnostics else {}
    summary = {
        "device": d.get("device", "?"),
        "precision": d.get("precision", "?"),
        "input_size": f"{args.scene_size[1]}x{args.scene_size[0]}",
        "inference_size": "native" if not args.size else f"{args.size[1]}x{args.size[0]}",
        "rate_hz": args.rate,
        "offset_ms": args.offset_ms,
        "jitter_ms": args.jitter_ms,
        "pairs_published": len(frames),
        "ir_received": int(d.get("ir received", 0)),
        "visible_received": int(d.get("visible received", 0)),
        "pairs_formed": int(d.get("pairs", 0)),
        "outputs_received": len(fused),
        "dropped_superseded": int(d.get("superseded", 0)),
        "dropped_unmatched_ir": int(d.get("unmatched ir", 0)),
        "dropped_unmatched_visible": int(d.get("unmatched visible", 0)),
        "dropped_bad_input": int(d.get("bad ir", 0)) + int(d.get("bad visible", 0)),
        "e2e_latency_ms_median": _percentile(latencies, 50),
        "e2e_latency_ms_p95": _percentile(latencies, 95),
        "inference_ms_median": float(d.get("inference latency median (ms)", "nan")),
        "output_fps": len(fused) / published_s if published_s > 0 else float("nan"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = ["| quantity | value |", "|---|---|"] + [
        f"| {k} | {v:.1f} |" if isinstance(v, float) else f"| {k} | {v} |"
        for k, v in summary.items()
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    saved = min(args.save, len(fused))
    print(f"wrote {saved} frames (fused, labels, overlay, color) and summary.md to {out}/")
    player.destroy_node()
    recorder.destroy_node()
    rclpy.try_shutdown()
    return 0 if fused else 1


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument("--offline", action="store_true", help="engine only, no ROS")
    parser.add_argument("--checkpoint", default=None, help="checkpoint .pt (default: packaged)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--precision", default="fp32", help="fp32 | fp16 | bf16")
    parser.add_argument(
        "--scene-size",
        type=parse_size,
        default=(480, 640),
        metavar="HxW",
        help="size of the published images (default 480x640)",
    )
    parser.add_argument(
        "--size",
        type=parse_size,
        default=(240, 320),
        metavar="HxW",
        help="network inference size (default 240x320; 0x0 = native)",
    )
    parser.add_argument("--frames", type=int, default=50, help="pairs to publish (default 50)")
    parser.add_argument("--rate", type=float, default=10.0, help="publish rate in Hz")
    parser.add_argument("--offset-ms", type=float, default=8.0, help="IR stamp offset (ms)")
    parser.add_argument("--jitter-ms", type=float, default=3.0, help="stamp jitter std (ms)")
    parser.add_argument("--night", action="store_true", help="night sequence")
    parser.add_argument("--save", type=int, default=4, help="output frames to save as PNG")
    args = parser.parse_args(argv)
    if args.size == (0, 0):
        args.size = None
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(name)s: %(message)s")
    if args.offline:
        return run_offline(args)
    try:
        import rclpy  # noqa: F401
    except ImportError:
        print("rclpy is not importable: running the engine-only demo (--offline)")
        return run_offline(args)
    return run_node(args)


if __name__ == "__main__":
    sys.exit(main())
