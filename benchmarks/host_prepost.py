"""Host pre- and post-processing time of the engine at 480×640, without the network's cost.

    python benchmarks/host_prepost.py [--repeat 40] [--label NAME]

The engine runs a 480×640 pair (14-bit IR as uint16, BGR visible) with inference at 48×64,
so the timings ``pre`` (luma, IR window, staging) and ``post`` (fused colour image) are
the host work a GPU deployment pays per frame on top of the device. Prints medians; run
it at two commits to compare them. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics

from mtvif_ros.data import make_scene
from mtvif_ros.engine import FusionEngine


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--label", default="this tree")
    args = ap.parse_args(argv)
    eng = FusionEngine(device="cpu", size=(48, 64))
    scene = make_scene(8, 480, 640)
    for _ in range(3):
        eng.run(scene.ir, scene.vis)
    pre, post = [], []
    for _ in range(args.repeat):
        t = eng.run(scene.ir, scene.vis).timings
        pre.append(1e3 * t["pre"])
        post.append(1e3 * t["post"])
    p, q = statistics.median(pre), statistics.median(post)
    print(f"{args.label}: host pre {p:.2f} ms, post {q:.2f} ms, total {p + q:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
