"""Run the engine on the built-in sample scenes and write fused and label images.

python -m mtvif_ros.tools.demo --out demo_out        (or: mtvif-demo, make demo)
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from pathlib import Path

import cv2
import numpy as np

from mtvif_ros.data import sample_scenes
from mtvif_ros.engine import FusionEngine
from mtvif_ros.imaging import normalize_ir, overlay
from mtvif_ros.model import CheckpointError


def parse_size(text: str) -> tuple[int, int]:
    """'HxW' → (h, w)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size '{text}' must look like 480x640 (HxW)") from None
    return h, w


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint .pt (default: packaged)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--precision", default="fp32", help="fp32 | fp16 | bf16")
    parser.add_argument(
        "--scene-size",
        type=parse_size,
        default=(480, 640),
        metavar="HxW",
        help="size of the generated scenes (default 480x640)",
    )
    parser.add_argument(
        "--size",
        type=parse_size,
        default=None,
        metavar="HxW",
        help="network inference size (default: native)",
    )
    parser.add_argument(
        "--count", type=int, default=2, help="number of scenes, day/night alternating"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(name)s: %(message)s")

    try:
        engine = FusionEngine(args.checkpoint, args.device, args.precision, args.size)
    except (CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    infer_ms = []
    for scene in sample_scenes(args.count, *args.scene_size):
        result = engine.run(scene.ir, scene.vis)
        infer_ms.append(1e3 * sum(result.timings.values()))
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
        print(
            f"{scene.name}: wrote {', '.join(images)} to {out}/ "
            f"({infer_ms[-1]:.0f} ms; classes present: {np.unique(result.labels).tolist()})"
        )
    print(
        f"engine: {engine.device}, {engine.precision}; median time per pair "
        f"{statistics.median(infer_ms):.0f} ms"
    )
    if not engine.checkpoint.trained:
        print("note: the default checkpoint is UNTRAINED; outputs show the pipeline, not quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
