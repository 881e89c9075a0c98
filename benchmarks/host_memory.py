"""Page faults, time and resident memory of a CPU forward with and without kept host memory.

    python benchmarks/host_memory.py [--size 480x640] [--repeat 4]

Runs MultiTaskVIF (untrained weights; the cost does not depend on them) in a worker thread
of a fresh process, as the node does, once with ``MTVIF_KEEP_FREED_MEMORY=0`` (glibc's
defaults) and once with the setting the node and tools apply, and prints minor page faults
per forward, the median forward time and the process's peak resident size. Nothing here
asserts a number.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

PROBE = r"""
import json, resource, statistics, sys, threading, time
from mtvif_ros.host_memory import keep_freed_memory
applied = keep_freed_memory()
import torch
from mtvif_ros.model import build_model
h, w, repeat = (int(v) for v in sys.argv[1:4])
model = build_model(architecture="multitaskvif").eval()
x = torch.rand(1, 1, h, w)
out = {"applied": applied}
def work():
    with torch.inference_mode():
        model(x, x)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            model(x, x)
            times.append(time.perf_counter() - t0)
        out["faults"] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / repeat
        out["ms"] = 1e3 * statistics.median(times)
thread = threading.Thread(target=work)
thread.start()
thread.join()
out["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def run(setting: str, h: int, w: int, repeat: int) -> dict:
    env = {**os.environ, "MTVIF_KEEP_FREED_MEMORY": setting}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(h), str(w), str(repeat)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="480x640", help="HxW")
    ap.add_argument("--repeat", type=int, default=4)
    args = ap.parse_args(argv)
    h, w = (int(v) for v in args.size.lower().split("x"))
    print(f"MultiTaskVIF forward {h}x{w} on CPU in a worker thread, median of {args.repeat}\n")
    print("| host memory | minor faults / forward | median ms | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    for setting, label in (("0", "glibc defaults"), ("1", "kept for reuse")):
        r = run(setting, h, w, args.repeat)
        print(f"| {label} | {r['faults']:.0f} | {r['ms']:.1f} | {r['rss_mib']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
