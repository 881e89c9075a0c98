"""mtvif-bench: complexity and engine latency tables, per device, as Markdown + JSON.

    mtvif-bench [--devices cpu cuda] [--repeat 10] [--compile] [--out benchmarks/results]

Complexity (480×640, batch 1): parameters, FLOPs (torch.utils.flop_counter) and peak
activation memory of (a) backbone + original decoder, (b) MultiTaskVIF, (c) the cascade.
Latency: the engine at 480×640 and at an inference size of 240×320 for each variant the
device supports (fp32, bf16, fp16, channels_last, torch.compile with --compile,
onnxruntime); every variant's output is first checked against the fp32 engine (max |Δ|
of the fused image, % equal labels), then timed: 2 warm-up calls, ``--repeat`` timed calls
(``engine.run`` ends with the device→host copy, so CUDA work is complete), median and p95,
and the share of host pre/post-processing. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from mtvif_ros.data import sample_scenes
from mtvif_ros.engine import FusionEngine, FusionResult
from mtvif_ros.host_memory import keep_freed_memory_for
from mtvif_ros.model import PRESETS, build_model, packaged_checkpoints, preset


class PeakLiveMemory(TorchDispatchMode):
    """Peak bytes of live tensors created inside the mode (activations; weights excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0
        self._seen: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key = storage.data_ptr()
                if key and key not in self._seen:
                    self._seen.add(key)
                    self.live += storage.nbytes()
                    self.peak = max(self.peak, self.live)
                    weakref.finalize(storage, self._free, key, storage.nbytes())
        return out

    def _free(self, key: int, nbytes: int) -> None:
        self._seen.discard(key)
        self.live -= nbytes


def complexity(
    h: int = 480, w: int = 640, backbones: tuple[str, ...] = tuple(PRESETS)
) -> list[dict]:
    """Params, FLOPs and peak activations of (a) backbone + original decoder, (b) MultiTaskVIF
    and (c) the cascade, for each backbone's trained configuration (``model.PRESETS``)."""
    rows = []
    for backbone in backbones:
        for arch, label in (
            ("fusion", "(a) backbone + original decoder"),
            ("multitaskvif", "(b) MultiTaskVIF (backbone + MTH)"),
            ("cascade", "(c) cascade: fusion net + U-Net"),
        ):
            model = build_model(preset(backbone, arch)).eval()
            rows.append({"backbone": backbone, "network": label, **_measure(model, h, w)})
    return rows


def _measure(model: torch.nn.Module, h: int, w: int) -> dict[str, float]:
    x, y = torch.rand(1, 1, h, w), torch.rand(1, 1, h, w)
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        model(x, y)
    with torch.inference_mode(), PeakLiveMemory() as mem:
        out = model(x, y)
        del out
    return {
        "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
        "GFLOPs": fc.get_total_flops() / 1e9,
        "activations_MiB": mem.peak / 2**20,
    }


def variants(device: str, compile_: bool) -> list[tuple[str, dict]]:
    out = [("fp32", {}), ("bf16", {"precision": "bf16"})]
    if device.startswith("cuda"):
        out.append(("fp16", {"precision": "fp16"}))
    out.append(("channels_last", {"channels_last": True}))
    if compile_:
        out.append(("torch.compile", {"compile": True}))
    try:
        import onnxruntime  # noqa: F401

        out.append(("onnxruntime", {"backend": "onnxruntime"}))
    except ImportError:
        pass
    return out


def check_and_time(
    engine: FusionEngine, scenes: list, refs: list[FusionResult], repeat: int
) -> dict[str, Any]:
    """Check ``engine`` against reference results of the same scenes (max/mean |Δ| of the
    fused image, worst % of equal labels), then time ``repeat`` calls after 2 warm-up
    calls: median and p95 ms, the host pre+post share, and the median pre/infer/post ms."""
    diffs, agree = [], []
    for s, r in zip(scenes, refs, strict=True):
        o = engine.run(s.ir, s.vis)
        diffs.append(np.abs(o.fused.astype(int) - r.fused))
        agree.append(float((o.labels == r.labels).mean()))
    for _ in range(2):
        engine.run(scenes[0].ir, scenes[0].vis)
    timings = []
    for i in range(repeat):
        s = scenes[i % len(scenes)]
        timings.append(engine.run(s.ir, s.vis).timings)
    total = sorted(1e3 * sum(t.values()) for t in timings)
    return {
        "max_abs_diff": int(max(d.max() for d in diffs)),
        "mean_abs_diff": float(np.mean([d.mean() for d in diffs])),
        "labels_equal_pct": 100 * min(agree),
        "median_ms": statistics.median(total),
        "p95_ms": total[min(len(total) - 1, int(0.95 * len(total)))],
        "host_pre_post_pct": 100
        * statistics.median((t["pre"] + t["post"]) / sum(t.values()) for t in timings),
        "host_pre_post_ms": statistics.median(1e3 * (t["pre"] + t["post"]) for t in timings),
        "pre_infer_post_ms": [
            statistics.median(1e3 * t[k] for t in timings) for k in ("pre", "infer", "post")
        ],
    }


def latency(device: str, repeat: int, compile_: bool, checkpoint: str | None = None) -> list[dict]:
    """Every variant the device supports, at 480×640 and at an inference size of 240×320,
    checked against the fp32 engine of the same checkpoint and device, then timed."""
    scenes = sample_scenes(2, 480, 640)
    rows = []
    for size in (None, (240, 320)):
        ref = FusionEngine(checkpoint, device=device, size=size)
        refs = [ref.run(s.ir, s.vis) for s in scenes]
        for name, kw in variants(device, compile_):
            eng = FusionEngine(checkpoint, device=device, size=size, **kw)
            if eng.device.type != ref.device.type:  # e.g. a CPU-only onnxruntime
                print(f"{name} skipped on {device}: it runs on {eng.device}", file=sys.stderr)
                continue
            row = check_and_time(eng, scenes, refs, repeat)
            rows.append(
                {
                    "backbone": ref.checkpoint.config.backbone,
                    "device": device,
                    "variant": name if eng.backend.name == "torch" else eng.backend.name,
                    "size": "480x640" if size is None else "240x320 (from 480x640)",
                    **row,
                }
            )
    return rows


def markdown(machine: str, comp: list[dict], lat: list[dict]) -> str:
    lines = [
        f"# mtvif-bench on {machine}",
        "",
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads",
        "",
        "| backbone | network (480×640) | params | GFLOPs | peak activations MiB |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['backbone']} | {r['network']} | {r['params_M']:.3f} M | {r['GFLOPs']:.1f} | "
        f"{r['activations_MiB']:.0f} |"
        for r in comp
    ]
    lines += [
        "",
        "| backbone | device | variant | size | max abs Δ fused | labels equal | median ms | "
        "p95 ms | host pre+post |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['backbone']} | {r['device']} | {r['variant']} | {r['size']} | "
        f"{r['max_abs_diff']} | "
        f"{r['labels_equal_pct']:.2f} % | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | "
        f"{r['host_pre_post_ms']:.1f} ms = {r['host_pre_post_pct']:.1f} % |"
        for r in lat
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="mtvif-bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--devices", nargs="*", default=None, help="default: cpu (+ cuda if present)")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--machine", default=None, help="results folder name (default: derived)")
    ap.add_argument(
        "--checkpoints",
        nargs="*",
        default=None,
        help="checkpoints to time (default: every packaged one, i.e. every backbone)",
    )
    args = ap.parse_args(argv)
    keep_freed_memory_for("cpu" if not args.devices or "cpu" in args.devices else "cuda")
    logging.getLogger("mtvif_ros").setLevel(logging.ERROR)
    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    machine = args.machine or (
        torch.cuda.get_device_name(0).replace(" ", "-").lower()
        if "cuda" in devices
        else f"cpu-{os.cpu_count()}core-{platform.machine()}"
    )
    comp = complexity()
    out = Path(args.out) / machine
    out.mkdir(parents=True, exist_ok=True)
    lat: list[dict] = []
    for ckpt in args.checkpoints or packaged_checkpoints():
        for d in devices:
            lat += latency(d, args.repeat, args.compile, ckpt)
            text = markdown(machine, comp, lat)  # written as each part ends: a run cut
            (out / "bench.md").write_text(text)  # short keeps what it measured
            (out / "bench.json").write_text(
                json.dumps({"complexity": comp, "latency": lat}, indent=1)
            )
    print(text)
    print(f"wrote {out}/bench.md and bench.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
