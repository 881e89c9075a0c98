"""The GPU paths' logic, checked here on the CPU: which ONNX Runtime providers a device
asks for (and what a backend says when it gets fewer), bf16 by compute capability, a
visible but unusable GPU under ``auto``, the worker's warm-up thread and size, and the GPU
check script's exit status. ``test_cuda.py`` runs the same paths on a GPU."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from mtvif_ros.engine import device as devmod
from mtvif_ros.engine.export import ort_providers

REPO = Path(__file__).resolve().parents[1]
ALL = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_the_cpu_asks_onnxruntime_for_the_cpu_provider_only() -> None:
    assert ort_providers(torch.device("cpu"), ALL) == [("CPUExecutionProvider", {})]


def test_cuda_n_asks_for_tensorrt_and_cuda_on_that_gpu_with_an_engine_cache(tmp_path) -> None:
    plan = ort_providers(
        torch.device("cuda", 1), ALL, tmp_path, ((240, 320), (480, 640), (720, 1280))
    )
    names = [name for name, _ in plan]
    assert names == ALL
    trt, cuda = plan[0][1], plan[1][1]
    assert trt["device_id"] == cuda["device_id"] == "1"
    assert trt["trt_engine_cache_enable"] == "True"
    assert trt["trt_engine_cache_path"] == str(tmp_path)
    assert trt["trt_profile_opt_shapes"] == "vis_y:1x1x480x640,ir:1x1x480x640"
    assert trt["trt_profile_max_shapes"] == "vis_y:1x1x720x1280,ir:1x1x720x1280"
    # a CPU-only onnxruntime: nothing to ask for but the CPU
    only_cpu = ort_providers(torch.device("cuda", 0), ["CPUExecutionProvider"])
    assert only_cpu == [("CPUExecutionProvider", {})]


def test_an_onnxruntime_that_cannot_use_the_gpu_says_so_and_runs_as_a_cpu_backend(
    tmp_path, monkeypatch, caplog
) -> None:
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from mtvif_ros.engine import backends
    from mtvif_ros.model import default_checkpoint_path

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(backends, "resolve_device", lambda spec: torch.device("cuda", 0))
    monkeypatch.setattr(ort, "get_available_providers", lambda: ALL)  # as a GPU build lists
    with caplog.at_level(logging.WARNING, "mtvif_ros.engine"):
        backend = backends.OrtBackend(default_checkpoint_path(), "cuda")
    assert backend.device == torch.device("cpu")  # where its tensors and work really are
    assert backend.name == "onnxruntime (CPU)"
    assert "no GPU execution provider started on cuda:0" in caplog.text


@pytest.mark.parametrize(("capability", "native"), [((7, 5), False), ((8, 0), True)])
def test_bf16_is_allowed_by_the_gpus_compute_capability_not_by_emulation(
    monkeypatch, capability, native
) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    gpu = torch.device("cuda", 1)
    if native:
        assert devmod.check_precision("bf16", gpu) == torch.bfloat16
    else:
        with pytest.raises(ValueError, match=r"emulated on cuda:1 \(compute capability 7.5"):
            devmod.check_precision("bf16", gpu)
    assert devmod.check_precision("bf16", torch.device("cpu")) == torch.bfloat16


def test_fp32_on_an_ampere_gpu_is_reported_as_tf32_convolutions(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    gpu = torch.device("cuda", 0)
    assert devmod.precision_note("fp32", gpu) == "fp32 (TF32 convolutions)"
    assert devmod.precision_note("bf16", gpu) == "bf16"
    assert devmod.precision_note("fp32", torch.device("cpu")) == "fp32"


def test_auto_falls_back_to_the_cpu_when_a_visible_gpu_is_unusable(monkeypatch, caplog) -> None:
    real_zeros = torch.zeros

    def zeros(*args, **kwargs):
        if str(kwargs.get("device", "")).startswith("cuda"):
            raise RuntimeError("CUDA error: no kernel image is available for execution")
        return real_zeros(*args, **kwargs)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch, "zeros", zeros)
    with caplog.at_level(logging.WARNING, "mtvif_ros.engine"):
        assert devmod.resolve_device("auto") == torch.device("cpu")
    assert "CUDA is visible but unusable (CUDA error: no kernel image" in caplog.text


def test_the_worker_warms_the_engine_up_on_its_own_thread_at_the_given_size() -> None:
    """cuDNN handles are per thread and torch.compile and the host buffers per size: the
    warm-up runs on ``mtvif-infer`` at the camera's size, before any frame, and a failing
    warm-up is raised to the activation that waits for it."""
    from mtvif_ros.node.frames import FrameWorker

    seen = []

    class Engine:
        def warmup(self, shape):
            seen.append((threading.current_thread().name, shape))

    class Frames:
        pipeline = type("P", (), {"engine": Engine()})()

    worker = FrameWorker(Frames(), lambda: None, lambda *a: None, (480, 640))
    worker.wait_warm()
    worker.stop()
    assert seen == [("mtvif-infer", (480, 640))]

    class Broken:
        def warmup(self, shape):
            raise RuntimeError("CUDA out of memory")

    Frames.pipeline = type("P", (), {"engine": Broken()})()
    worker = FrameWorker(Frames(), lambda: None, lambda *a: None)
    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        worker.wait_warm()
    worker.stop()


def _gpu_check(tmp_path: Path, python: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": python}
    return subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", str(tmp_path / "out")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_gpu_check_skips_without_cuda_and_fails_when_a_step_fails(tmp_path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the script would run its steps")
    proc = _gpu_check(tmp_path, sys.executable)
    assert proc.returncode == 0 and "no CUDA device: skipped" in proc.stdout
    env = (tmp_path / "out" / "env.txt").read_text()
    assert f"torch {torch.__version__}" in env and "onnxruntime" in env
    failing = _gpu_check(tmp_path, "false")  # an interpreter that fails: the env step
    assert failing.returncode != 0 and "env: exit 1" in failing.stdout
