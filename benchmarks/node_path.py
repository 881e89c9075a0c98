"""The node's per-frame path beside the bare engine, on one device, without DDS.

    python benchmarks/node_path.py [--device cuda] [--repeat 30] [--precision fp32]

What the node's worker does with a 640×480 pair once it has the two messages' bytes:
decode them (mono16 IR, bgr8 visible: ``imaging.encodings``, the node's built-in
converter), run the frame pipeline (``runtime.pipeline``: registration checks and the
engine) and encode the two default outputs (fused bgr8, labels mono8) as message payloads;
against ``FusionEngine.run`` on the decoded arrays alone. The difference is the node's
tax per frame on that device (what the executor, DDS and the mailbox add is the node
overhead benchmark's business). Needs neither rclpy nor a GPU; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import numpy as np
import torch

from mtvif_ros.data import sample_scenes
from mtvif_ros.engine import FusionEngine
from mtvif_ros.imaging.encodings import decode, encode, to_visible_bgr
from mtvif_ros.params.settings import Settings
from mtvif_ros.runtime.pipeline import FramePipeline

logging.getLogger("mtvif_ros").setLevel(logging.ERROR)


def payloads(scene) -> tuple[tuple, tuple]:
    """(IR, visible) message fields as a camera driver sends them."""
    ir_step, ir_data = encode(scene.ir, "mono16")
    vis_step, vis_data = encode(scene.vis, "bgr8")
    h, w = scene.ir.shape
    ir = ("mono16", h, w, ir_step, False, bytes(ir_data))
    return ir, ("bgr8", h, w, vis_step, False, bytes(vis_data))


def node_frame(pipeline: FramePipeline, ir_fields: tuple, vis_fields: tuple) -> None:
    ir = decode(*ir_fields)
    vis = to_visible_bgr(decode(*vis_fields), vis_fields[0])
    result = pipeline.run(ir, vis).result
    encode(result.fused, "bgr8")
    encode(result.labels, "mono8")


def timed(fn, repeat: int) -> list[float]:
    for _ in range(3):  # warm-up: allocator, handles, host buffers of this size
        fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(1e3 * (time.perf_counter() - t0))
    return sorted(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--size", type=int, nargs=2, default=None, help="inference size h w")
    args = ap.parse_args()
    scene = sample_scenes(1, 480, 640)[0]
    size = tuple(args.size) if args.size else None
    engine = FusionEngine(device=args.device, precision=args.precision, size=size)
    pipeline = FramePipeline(engine, Settings.from_mapping({}))
    ir_fields, vis_fields = payloads(scene)
    bare = timed(lambda: engine.run(scene.ir, scene.vis), args.repeat)
    node = timed(lambda: node_frame(pipeline, ir_fields, vis_fields), args.repeat)
    name = torch.cuda.get_device_name(engine.device) if engine.device.type == "cuda" else "CPU"
    tax = statistics.median(node) - statistics.median(bare)
    print(f"device {engine.device} ({name}), {engine.precision}, torch {torch.__version__}, ")
    print(f"640x480 pair, inference {'native' if size is None else f'{size[0]}x{size[1]}'}\n")
    print("| path | median ms | p95 ms |")
    print("|---|---:|---:|")
    for label, t in (("bare engine (arrays in, arrays out)", bare), ("node frame path", node)):
        p95 = t[min(len(t) - 1, int(0.95 * len(t)))]
        print(f"| {label} | {statistics.median(t):.2f} | {p95:.2f} |")
    share = 100 * tax / statistics.median(bare)
    print(f"\nnode tax: {tax:.2f} ms per frame ({share:.1f} % of the bare engine)")
    np.testing.assert_equal(  # the same frame either way
        engine.run(scene.ir, scene.vis).labels,
        pipeline.run(decode(*ir_fields), scene.vis).result.labels,
    )


if __name__ == "__main__":
    main()
