"""Parameters, FLOPs and forward latency of MultiTaskVIF vs the cascade and the plain fusion net.

    python benchmarks/forward.py [--device cpu|cuda] [--size 480x640] [--repeat 5]
                                 [--backbone seafusion|multiscale]

Prints a Markdown table. Latency is the median (and min) of ``--repeat`` timed forward
passes after one warm-up pass, batch 1, torch.inference_mode, fp32; CUDA timings are
synchronized. Nothing here asserts a time: it is a measurement to read.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from mtvif_ros.model import PRESETS, build_model, preset

ROWS = [
    ("fusion", "(a) backbone + original decoder (fusion only)"),
    ("multitaskvif", "(b) MultiTaskVIF: backbone + multi-task head"),
    ("cascade", "(c) cascade: fusion net + separate U-Net"),
]


def measure(
    arch: str, device: torch.device, h: int, w: int, repeat: int, backbone: str = "seafusion"
) -> dict[str, float]:
    model = build_model(preset(backbone, arch)).eval().to(device)
    x = torch.rand(1, 1, h, w, device=device)
    params = sum(p.numel() for p in model.parameters())
    with torch.inference_mode():
        with FlopCounterMode(display=False) as fc:
            model(x, x)
        times = []
        for i in range(repeat + 1):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t = time.perf_counter()
            model(x, x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i:  # the first pass is warm-up
                times.append(time.perf_counter() - t)
    return {
        "params": params,
        "gflops": fc.get_total_flops() / 1e9,
        "median_ms": 1e3 * statistics.median(times),
        "min_ms": 1e3 * min(times),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", default="480x640", help="HxW")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--backbone", default="seafusion", choices=tuple(PRESETS))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.split("x"))
    device = torch.device(args.device)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine()
    )
    print(
        f"device: {device} ({name}), torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, "
        f"backbone {args.backbone}, input 1x1x{h}x{w}, fp32, {args.repeat} timed passes "
        "after 1 warm-up\n"
    )
    print("| network | params | GFLOPs | median ms | min ms |")
    print("|---|---:|---:|---:|---:|")
    for arch, label in ROWS:
        m = measure(arch, device, h, w, args.repeat, args.backbone)
        print(
            f"| {label} | {m['params'] / 1e6:.3f} M | {m['gflops']:.1f} | "
            f"{m['median_ms']:.1f} | {m['min_ms']:.1f} |"
        )


if __name__ == "__main__":
    main()
