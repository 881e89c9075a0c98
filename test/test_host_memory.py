"""Keeping freed host memory: a conv net's activations above glibc's largest mmap threshold
stop page-faulting in again every forward once the setting is on (in a worker thread, as
in the node). Faults are counted, not time: the count is what the setting changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc setting; Linux only"
)

PROBE = r"""
import json, resource, threading
import torch
from mtvif_ros.host_memory import keep_freed_memory
applied = keep_freed_memory()
torch.manual_seed(0)
net = torch.nn.Sequential(
    torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(),  # 480×640×32 fp32 = 37.5 MiB
    torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(),
    torch.nn.Conv2d(32, 1, 3, padding=1),
).eval()
x = torch.rand(1, 1, 480, 640)
out = {"applied": applied}
def work():
    with torch.inference_mode():
        net(x)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(3):
            net(x)
        out["faults"] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 3
t = threading.Thread(target=work)
t.start()
t.join()
print(json.dumps(out))
"""


def _probe(setting: str) -> dict:
    env = {**os.environ, "MTVIF_KEEP_FREED_MEMORY": setting}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_freed_activations_are_reused_instead_of_faulted_in_again() -> None:
    off, on = _probe("0"), _probe("1")
    assert off["applied"] is False and on["applied"] is True
    # off: each forward faults in its ~300 MiB of large activations again (~78k pages)
    assert off["faults"] > 20_000, off
    assert on["faults"] < off["faults"] / 10, (on, off)


def test_entry_points_apply_it_first() -> None:
    """The node and the tools call it before anything else, so before any thread starts."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "mtvif_ros"
    for path in (
        "node/fusion_node.py",
        "tools/eval.py",
        "tools/bag.py",
        "tools/bench.py",
        "tools/demo.py",
        "train/cli.py",
    ):
        tree = ast.parse((root / path).read_text())
        main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
        body = main.body[1:] if ast.get_docstring(main) else main.body
        first = ast.unparse(body[0])
        assert first == "keep_freed_memory()", (path, first)
