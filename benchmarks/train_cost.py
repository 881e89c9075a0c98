"""Training cost of single-stage MultiTaskVIF vs the two-stage cascade, side by side.

    python benchmarks/train_cost.py [--device cpu|cuda] [--steps 20] [--batch 8] [--crop 160]

Each configuration runs in a fresh process on the same synthetic labelled batch: one
MultiTaskVIF step (both losses, one backward), a cascade stage-1 step (fusion network,
fusion loss) and a cascade stage-2 step (U-Net on the frozen fusion network's output,
segmentation loss). Reported: median step time after 3 warm-up steps, and peak memory
(CUDA: torch.cuda.max_memory_allocated; CPU: growth of the process's max RSS during the
steps, which includes allocator caching). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch


def run_one(kind: str, device: str, steps: int, batch: int, crop: int) -> dict[str, float]:
    """Median step time and peak memory of one kind of training step, in this process."""
    from mtvif_ros.model import build_model
    from mtvif_ros.train.losses import FusionLoss, OhemCrossEntropy

    dev = torch.device(device)
    torch.manual_seed(0)
    model = build_model(architecture="cascade" if kind.startswith("cascade") else kind)
    model = model.to(dev).train()
    fl, sl = FusionLoss().to(dev), OhemCrossEntropy()
    vis, ir, labels = _batch(batch, crop, dev)
    if kind == "cascade-stage2":
        for p in model.fusion.parameters():
            p.requires_grad_(False)
    trained = {"cascade-stage1": "fusion", "cascade-stage2": "segmenter"}.get(kind)
    params = [p for p in (getattr(model, trained) if trained else model).parameters()]
    params = [p for p in params if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)

    def step() -> None:
        if kind == "multitaskvif":
            fused, logits = model(vis, ir)
            loss = fl(fused, vis, ir)["fusion"] + sl(logits, labels)
        elif kind == "cascade-stage1":
            loss = fl(model.fusion(vis, ir), vis, ir)["fusion"]
        else:
            with torch.no_grad():
                fused = model.fusion(vis, ir)
            loss = sl(model.segmenter(fused), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    ms, mem = _time(step, steps, dev)
    return {"ms": ms, "mem_mib": mem, "params": sum(p.numel() for p in params)}


def _batch(batch: int, crop: int, dev: torch.device) -> tuple[torch.Tensor, ...]:
    """One labelled batch of sample scenes as the trainer prepares them: (Y, IR, labels)."""
    from mtvif_ros.data import Pair, make_scene
    from mtvif_ros.train import prepare_pair

    ys, irs, labs = [], [], []
    for i in range(batch):
        s = make_scene(100 + i, crop, crop, night=bool(i % 2))
        y, ir, lab = prepare_pair(Pair(s.name, s.ir, s.vis, s.labels))
        ys.append(torch.from_numpy(y)[None])
        irs.append(torch.from_numpy(ir)[None])
        labs.append(torch.from_numpy(lab).long())
    return tuple(torch.stack(t).to(dev) for t in (ys, irs, labs))


def _time(step, steps: int, dev: torch.device) -> tuple[float, float]:
    """(median ms of ``steps`` calls after 3 warm-up calls, peak memory MiB)."""
    for _ in range(3):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - t)
    if dev.type == "cuda":
        mem = torch.cuda.max_memory_allocated(dev) / 2**20
    else:
        mem = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    return 1e3 * statistics.median(times), mem


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=160)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.device, args.steps, args.batch, args.crop)))
        return
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    print(
        f"device: {args.device} ({name}), torch {torch.__version__}, batch {args.batch} × "
        f"{args.crop}×{args.crop}, median of {args.steps} steps after 3 warm-up\n"
    )
    print("| training step | trainable params | ms/step | peak memory MiB |")
    print("|---|---:|---:|---:|")
    results = {}
    for kind in ("multitaskvif", "cascade-stage1", "cascade-stage2"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                kind,
                "--device",
                args.device,
                "--steps",
                str(args.steps),
                "--batch",
                str(args.batch),
                "--crop",
                str(args.crop),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        r = results[kind] = json.loads(out.strip().splitlines()[-1])
        print(f"| {kind} | {r['params'] / 1e6:.3f} M | {r['ms']:.1f} | {r['mem_mib']:.0f} |")
    c1, c2, mt = results["cascade-stage1"], results["cascade-stage2"], results["multitaskvif"]
    print(
        f"\ncascade, one step of each stage: {c1['ms'] + c2['ms']:.1f} ms "
        f"({(c1['ms'] + c2['ms']) / mt['ms']:.2f}× one MultiTaskVIF step); the cascade also "
        "needs both stages' step counts, run one after the other."
    )


if __name__ == "__main__":
    main()
