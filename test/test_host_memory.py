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


def test_entry_points_apply_it_for_cpu_inference_only() -> None:
    """The node and the tools decide from the device they will run on; nothing applies it
    on import (before: importing the node package changed malloc for the whole process)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "mtvif_ros"
    for path in (
        "tools/eval.py",
        "tools/bag.py",
        "tools/bench.py",
        "tools/demo.py",
        "train/cli.py",
    ):
        src = (root / path).read_text()
        assert "keep_freed_memory_for(" in src and "keep_freed_memory()" not in src, path
    main = ast.parse((root / "node" / "main.py").read_text()).body
    fn = next(n for n in main if isinstance(n, ast.FunctionDef) and n.name == "main")
    calls = [ast.unparse(n) for n in fn.body[1:3]]
    assert calls[1].startswith("keep_freed_memory_for(requested_parameter(argv, 'model.device'))")
    assert not any(
        isinstance(n, ast.ImportFrom) and n.module == "mtvif_ros.node.fusion_node" for n in main
    ), "the node module (torch, rclpy) must be imported after the decision"
    probe = (
        "import mtvif_ros.node, mtvif_ros.node.fusion_node, mtvif_ros.tools.eval;"
        "from mtvif_ros.host_memory import memory_is_kept; print(memory_is_kept())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "False", out.stderr


def test_cpu_inference_is_told_from_the_device_without_torch(monkeypatch, tmp_path) -> None:
    from mtvif_ros import host_memory
    from mtvif_ros.params.ros_args import requested_parameter

    assert host_memory.expects_cpu_inference("cpu") and host_memory.expects_cpu_inference("CPU")
    assert not host_memory.expects_cpu_inference("cuda:1")
    monkeypatch.setattr(host_memory, "GPU_DEVICE_NODES", (str(tmp_path),))  # "a GPU is there"
    assert not host_memory.expects_cpu_inference("auto")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert host_memory.expects_cpu_inference(None)
    monkeypatch.setattr(host_memory, "GPU_DEVICE_NODES", (str(tmp_path / "none"),))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert host_memory.expects_cpu_inference("auto")

    nested = tmp_path / "nested.yaml"
    nested.write_text("/**:\n  ros__parameters:\n    model:\n      device: cuda\n")
    flat = tmp_path / "flat.yaml"
    flat.write_text("mtvif_fusion:\n  ros__parameters:\n    model.device: cpu\n")
    argv = ["fusion_node", "--ros-args", "--params-file", str(nested)]
    assert requested_parameter(argv, "model.device") == "cuda"
    assert requested_parameter([*argv, "--params-file", str(flat)], "model.device") == "cpu"
    assert requested_parameter([*argv, "-p", "model.device:=cpu"], "model.device") == "cpu"
    assert requested_parameter(["x", "-p", "model.device:=cpu"], "model.device") is None
    assert requested_parameter(["x", "--ros-args", "--params-file", "/missing"], "a") is None
