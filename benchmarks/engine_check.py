"""Engine correctness and latency per precision on one device, against CPU fp32.

    python benchmarks/engine_check.py [--device cuda] [--repeat 20] [--json out.json]

For each precision the device supports and each inference size (native 480×640 and
240×320), it runs the engine on the built-in sample scenes, checks the outputs against the
CPU fp32 engine (max/mean abs difference of the fused image, % of equal labels in the worse
of the two scenes), then times
``--repeat`` calls after two warm-up calls (``mtvif_ros.tools.bench.check_and_time``: wall
clock around ``engine.run``, which ends with the device→host copy, so CUDA work is
complete). Prints a Markdown table. ``mtvif-bench`` compares against fp32 on the same
device instead; this script is the cross-device check.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform

import torch

from mtvif_ros.data import sample_scenes
from mtvif_ros.engine import FusionEngine
from mtvif_ros.tools.bench import check_and_time

logging.getLogger("mtvif_ros").setLevel(logging.ERROR)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = ap.parse_args()
    device = torch.device(args.device)
    scenes = sample_scenes(2, 480, 640)
    precisions = ["fp32", "bf16"] + (["fp16"] if device.type == "cuda" else [])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()
    print(f"device: {device} ({name}), torch {torch.__version__}, input 480x640\n")
    print(
        "| precision | inference size | fused max/mean abs diff vs CPU fp32 | labels equal "
        "| median ms | p95 ms | pre/infer/post ms |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    rows = []
    for size in (None, (240, 320)):
        ref = FusionEngine(device="cpu", size=size)
        refs = [ref.run(s.ir, s.vis) for s in scenes]
        for precision in precisions:
            eng = FusionEngine(device=args.device, precision=precision, size=size)
            row = {
                "device": str(device),
                "device_name": name,
                "precision": precision,
                "size": "native 480x640" if size is None else f"{size[0]}x{size[1]}",
                **check_and_time(eng, scenes, refs, args.repeat),
            }
            rows.append(row)
            ppp = "/".join(f"{v:.1f}" for v in row["pre_infer_post_ms"])
            print(
                f"| {precision} | {row['size']} | {row['max_abs_diff']} / "
                f"{row['mean_abs_diff']:.2f} | {row['labels_equal_pct']:.2f} % | "
                f"{row['median_ms']:.1f} | {row['p95_ms']:.1f} | {ppp} |"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
