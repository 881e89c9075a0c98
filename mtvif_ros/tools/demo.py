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
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from mtvif_ros.data import sample_scenes, sample_sequence
from mtvif_ros.engine import FusionEngine
from mtvif_ros.host_memory import keep_freed_memory_for
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

    from mtvif_ros.node.recorder import OutputRecorder, spin_in_background, stop_process

    node_proc = _start_fusion_node(args)
    rclpy.init()
    recorder = OutputRecorder("mtvif_demo_recorder")
    executor, spin = spin_in_background(recorder, threads=3)
    try:
        played = _play(args, recorder, executor, node_proc)
    finally:
        executor.shutdown()
        spin.join(timeout=10)
        stop_process(node_proc)
    if played is None:
        print("error: the fusion node did not start (see its messages above)", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    frames, published_s = played
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fused = recorder.received("fused")
    _save_frames(recorder, out, args.save)
    summary = _summary(args, recorder, frames, published_s)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = ["| quantity | value |", "|---|---|"] + [
        f"| {k} | {v:.1f} |" if isinstance(v, float) else f"| {k} | {v} |"
        for k, v in summary.items()
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    saved = min(args.save, len(fused))
    print(f"wrote {saved} frames (fused, labels, overlay, color) and summary.md to {out}/")
    recorder.destroy_node()
    rclpy.try_shutdown()
    return 0 if fused else 1


def _start_fusion_node(args: argparse.Namespace) -> subprocess.Popen:
    size = f"[{args.size[0]}, {args.size[1]}]" if args.size else "[0, 0]"
    params = [
        f"model.device:={args.device}",
        f"model.precision:={args.precision}",
        f"model.inference_size:={size}",
        "diagnostics.period:=0.5",
    ] + ([f"model.checkpoint:={args.checkpoint}"] if args.checkpoint else [])
    return subprocess.Popen(
        [sys.executable, "-m", "mtvif_ros.node", "--ros-args"]
        + [a for p in params for a in ("-p", p)]
    )


def _play(args, recorder, executor, node_proc) -> tuple[int, float] | None:
    """Publish the sample sequence once the node is connected and wait until every pair
    is accounted for; (pairs published, seconds of publishing), or None if the node did
    not come up."""
    from mtvif_ros.node.player import PairPlayer
    from mtvif_ros.node.recorder import wait_until

    def wait(pred, timeout: float) -> bool:  # gives up early if the node process ended
        return wait_until(lambda: node_proc.poll() is not None or pred(), timeout) and pred()

    if not wait(recorder.connected, 120):
        return None
    frames = [
        (s.ir, s.vis)
        for s in sample_sequence(args.frames, args.rate, 0, args.night, *args.scene_size)
    ]
    player = PairPlayer(frames, args.rate, args.offset_ms / 1e3, args.jitter_ms / 1e3, seed=1)
    ready = (player.pub_ir, player.pub_vis)
    if not wait(lambda: all(p.get_subscription_count() for p in ready), 60):
        return None
    print(
        f"publishing {len(frames)} pairs of {args.scene_size[1]}x{args.scene_size[0]} at "
        f"{args.rate:g} Hz (IR offset {args.offset_ms:g} ms, jitter {args.jitter_ms:g} ms)"
    )
    executor.add_node(player)
    started = time.monotonic()
    wait(lambda: player.done, 600)
    published_s = time.monotonic() - started

    def drained() -> bool:
        st = recorder.stats()
        done = st is not None and st.pairs > 0
        done = done and st.processed + st.superseded + st.paused >= st.pairs
        return done and recorder.count("fused") >= st.processed

    wait(drained, 60)
    time.sleep(1.0)  # one more diagnostics period
    executor.remove_node(player)
    player.destroy_node()
    return len(frames), published_s


def _save_frames(recorder, out: Path, count: int) -> None:
    """The first ``count`` outputs with all their images of the same stamp, as PNG."""
    from mtvif_ros.imaging.encodings import decode
    from mtvif_ros.runtime.stamps import header_ns

    by_stamp = {
        kind: {header_ns(m): m for m, _ in recorder.received(kind)}
        for kind in ("labels", "overlay", "color")
    }
    for i, (msg, _) in enumerate(recorder.received("fused")[:count]):
        stamp = header_ns(msg)
        images = {"fused": msg, **{k: v[stamp] for k, v in by_stamp.items() if stamp in v}}
        for kind, m in images.items():
            arr = decode(m.encoding, m.height, m.width, m.step, m.is_bigendian, m.data)
            if m.encoding == "rgb8":
                arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(out / f"frame{i:02d}_{kind}.png"), arr)


def _summary(args, recorder, frames: int, published_s: float) -> dict[str, object]:
    """The run in numbers: the node's own counters (from /diagnostics) and what arrived."""
    from mtvif_ros.runtime.stamps import header_ns
    from mtvif_ros.runtime.stats import StatsSnapshot

    fused = recorder.received("fused")
    latencies = [(t_rx - header_ns(m)) / 1e6 for m, t_rx in fused]
    status = recorder.status()
    st = recorder.stats() or StatsSnapshot()
    return {
        "device": status.get("device", "?"),
        "precision": status.get("precision", "?"),
        "input_size": f"{args.scene_size[1]}x{args.scene_size[0]}",
        "inference_size": "native" if not args.size else f"{args.size[1]}x{args.size[0]}",
        "rate_hz": args.rate,
        "offset_ms": args.offset_ms,
        "jitter_ms": args.jitter_ms,
        "pairs_published": frames,
        "ir_received": st.ir_received,
        "visible_received": st.visible_received,
        "pairs_formed": st.pairs,
        "outputs_received": len(fused),
        "dropped_superseded": st.superseded,
        "dropped_unmatched_ir": st.unmatched_ir,
        "dropped_unmatched_visible": st.unmatched_visible,
        "dropped_bad_input": st.bad_ir + st.bad_visible,
        "e2e_latency_ms_median": _percentile(latencies, 50),
        "e2e_latency_ms_p95": _percentile(latencies, 95),
        "inference_ms_median": st.infer_median_ms,
        "output_fps": len(fused) / published_s if published_s > 0 else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument("--offline", action="store_true", help="engine only, no ROS")
    parser.add_argument("--checkpoint", default=None, help="checkpoint .pt (default: packaged)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--precision", default="fp32", help="fp32 | fp16 | bf16")
    for flag, default, what in (
        ("--scene-size", (480, 640), "size of the published images (default 480x640)"),
        ("--size", (240, 320), "network inference size (default 240x320; 0x0 = native)"),
    ):
        parser.add_argument(flag, type=parse_size, default=default, metavar="HxW", help=what)
    parser.add_argument("--frames", type=int, default=50, help="pairs to publish (default 50)")
    parser.add_argument("--rate", type=float, default=10.0, help="publish rate in Hz")
    parser.add_argument("--offset-ms", type=float, default=8.0, help="IR stamp offset (ms)")
    parser.add_argument("--jitter-ms", type=float, default=3.0, help="stamp jitter std (ms)")
    parser.add_argument("--night", action="store_true", help="night sequence")
    parser.add_argument("--save", type=int, default=4, help="output frames to save as PNG")
    args = parser.parse_args(argv)
    keep_freed_memory_for(args.device)
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
