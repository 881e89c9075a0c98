"""Where MultiTaskVIF's forward time goes: per module, and the heaviest operators.

    python benchmarks/profile_forward.py [--device cpu|cuda] [--size 480x640]
        [--precision fp32|bf16|fp16] [--repeat 10] [--top 15]

Prints two Markdown tables. Per module: median milliseconds of the backbone and of each
part of the multi-task head (HIA-F split into its channel embeddings and attentions),
measured with a device synchronize around each module, so the parts are attributable but
their sum exceeds an unhooked forward. Operators: torch.profiler's self time (CUDA kernel
time on a GPU, CPU time otherwise) over ``--repeat`` forwards. This is the measurement
that decides what to optimize in the head; nothing asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from mtvif_ros.engine.device import DTYPES
from mtvif_ros.host_memory import keep_freed_memory
from mtvif_ros.model import PRESETS, build_model, preset

MODULES = (
    "backbone",
    "head.to_re",
    "head.to_seg",
    "head.classifier",
    "head.seg_to_fusion",
    "head.hiaf",
    "head.hiaf.embed_re",
    "head.hiaf.embed_seg",
    "head.hiaf.attn_high",
    "head.hiaf.attn_low",
    "head.hiaf.aggregate",
    "head.fusion_out",
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def whole_forward(
    model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], precision: str, repeat: int
) -> float:
    """Median ms of an unhooked forward, the reference the module times are read against."""
    device = inputs[0].device
    times = []
    with torch.autocast(device.type, DTYPES[precision], enabled=precision != "fp32"):
        model(*inputs)
        for _ in range(repeat):
            _sync(device)
            t0 = time.perf_counter()
            model(*inputs)
            _sync(device)
            times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


def module_times(
    model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], precision: str, repeat: int
) -> dict[str, float]:
    """Median synchronized wall time (ms) of each module in MODULES over ``repeat`` passes."""
    device = inputs[0].device
    times: dict[str, list[float]] = defaultdict(list)
    started: dict[str, float] = {}
    handles = []
    modules = dict(model.named_modules())
    for name in MODULES:
        mod = modules[name]

        def pre(_m, _a, name=name):
            _sync(device)
            started[name] = time.perf_counter()

        def post(_m, _a, _o, name=name):
            _sync(device)
            times[name].append(1e3 * (time.perf_counter() - started[name]))

        handles += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
    try:
        with torch.autocast(device.type, DTYPES[precision], enabled=precision != "fp32"):
            model(*inputs)  # warm-up, not recorded
            times.clear()
            for _ in range(repeat):
                model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return {name: statistics.median(times[name]) for name in MODULES}


def top_operators(
    model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], precision: str, repeat: int, top: int
) -> list[tuple[str, int, float]]:
    """(operator, calls per forward, self ms per forward), heaviest first."""
    device = inputs[0].device
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with torch.autocast(device.type, DTYPES[precision], enabled=precision != "fp32"):
        model(*inputs)
        _sync(device)
        with profile(activities=activities) as prof:
            for _ in range(repeat):
                model(*inputs)
            _sync(device)
    rows = []
    for ev in prof.key_averages():
        self_us = ev.self_device_time_total if cuda else ev.self_cpu_time_total
        if self_us > 0:
            rows.append((ev.key, ev.count // repeat, self_us / 1e3 / repeat))
    rows.sort(key=lambda r: -r[2])
    return rows[:top]


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()  # as the node and mtvif-bench run
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", default="480x640", help="HxW")
    ap.add_argument("--precision", default="fp32", choices=tuple(DTYPES))
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--backbone", default="seafusion", choices=tuple(PRESETS))
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    h, w = (int(v) for v in args.size.lower().split("x"))
    model = build_model(preset(args.backbone)).eval().to(device)
    g = torch.Generator().manual_seed(0)
    inputs = tuple(torch.rand(1, 1, h, w, generator=g).to(device) for _ in range(2))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"MultiTaskVIF ({args.backbone}) forward, {h}x{w}, {args.precision}, batch 1, {name}, "
        f"torch {torch.__version__}, median of {args.repeat}\n"
    )
    with torch.inference_mode():
        whole = whole_forward(model, inputs, args.precision, args.repeat)
        per_module = module_times(model, inputs, args.precision, args.repeat)
        print("| module | ms |\n|---|---:|")
        print(f"| whole forward, no hooks | {whole:.2f} |")
        for mod, ms in per_module.items():
            print(f"| {mod} | {ms:.2f} |")
        unit = "device" if device.type == "cuda" else "CPU"
        print(f"\n| operator | calls/forward | self {unit} ms/forward |\n|---|---:|---:|")
        for key, calls, ms in top_operators(model, inputs, args.precision, args.repeat, args.top):
            print(f"| `{key}` | {calls} | {ms:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
