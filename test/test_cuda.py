"""The engine on a CUDA GPU: what ``benchmarks/gpu_check.sh`` runs where a GPU is lent.

Every test here needs CUDA and skips without it (CI has none). They cover what the
review of the GPU paths found untested: CPU parity per precision, one pinned upload and
one pinned download per frame, no device allocation per frame, the inference worker's
thread and warm-up size, torch.compile, channels_last, ONNX Runtime's providers, a
confidence threshold and a resize done on the GPU, ``cuda:N``, and bf16 by capability.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from mtvif_ros.data import make_scene
from mtvif_ros.engine import FusionEngine
from mtvif_ros.engine.device import BF16_CAPABILITY, check_precision

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

H, W = 60, 80


@pytest.fixture(scope="module")
def scene():
    return make_scene(3, H, W, night=True)


def _close(a, b, labels_equal: float = 0.999, fused_max: int = 1) -> None:
    assert np.abs(a.fused.astype(int) - b.fused).max() <= fused_max
    assert (a.labels == b.labels).mean() >= labels_equal


def test_cuda_fp32_matches_cpu(engine, scene) -> None:
    gpu = FusionEngine(device="cuda", precision="fp32")
    assert gpu.device.type == "cuda" and FusionEngine(device="auto").device.type == "cuda"
    _close(engine.run(scene.ir, scene.vis), gpu.run(scene.ir, scene.vis), fused_max=2)


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_cuda_half_precisions_are_close(engine, scene, precision: str) -> None:
    if precision == "bf16" and torch.cuda.get_device_capability() < BF16_CAPABILITY:
        with pytest.raises(ValueError, match="emulated"):
            FusionEngine(device="cuda", precision=precision)
        return
    gpu = FusionEngine(device="cuda", precision=precision)
    a, b = engine.run(scene.ir, scene.vis), gpu.run(scene.ir, scene.vis)
    assert np.abs(a.fused.astype(int) - b.fused).mean() < 4
    assert (a.labels == b.labels).mean() > 0.9


def test_bf16_is_refused_exactly_where_the_device_emulates_it() -> None:
    native = torch.cuda.get_device_capability(0) >= BF16_CAPABILITY
    if native:
        assert check_precision("bf16", torch.device("cuda", 0)) == torch.bfloat16
    else:
        with pytest.raises(ValueError, match="emulated"):
            check_precision("bf16", torch.device("cuda", 0))


def test_cuda_one_pinned_upload_and_one_pinned_download_per_frame(scene) -> None:
    from torch.profiler import ProfilerActivity, profile

    gpu = FusionEngine(device="cuda", size=(32, 48))
    gpu.run(scene.ir, scene.vis)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        gpu.run(scene.ir, scene.vis)
    names = [e.name for e in prof.events()]
    up = [n for n in names if "Memcpy HtoD" in n]
    down = [n for n in names if "Memcpy DtoH" in n]
    assert len(up) == 1 and len(down) == 1, names
    assert "Pinned" in up[0] and "Pinned" in down[0], (up, down)  # asynchronous DMA


def test_cuda_steady_state_reuses_staging_buffers_and_allocates_no_device_memory(scene):
    gpu = FusionEngine(device="cuda")
    other = make_scene(5, H, W)
    for _ in range(3):
        gpu.run(scene.ir, scene.vis)
    pinned = gpu.buffers.current.staged_in.data_ptr()
    stats = torch.cuda.memory_stats()
    key = "num_device_alloc" if "num_device_alloc" in stats else "segment.all.allocated"
    before = stats[key]
    first = gpu.run(scene.ir, scene.vis)
    kept = first.labels.copy()
    for _ in range(5):
        gpu.run(other.ir, other.vis)
    assert torch.cuda.memory_stats()[key] == before  # no new device allocation per frame
    assert gpu.buffers.current.staged_in.data_ptr() == pinned  # the upload buffer is reused
    assert np.array_equal(first.labels, kept)  # returned arrays are not overwritten later


def test_the_worker_warms_up_on_its_own_thread_at_the_frame_size(scene) -> None:
    """The node's worker (``node.frames.FrameWorker``) runs the warm-up pass itself, so
    the first live frame of that size reuses the host buffers it made."""
    from mtvif_ros.node.frames import FrameWorker

    gpu = FusionEngine(device="cuda")
    seen = []
    run = gpu.run

    def recording_run(*args, **kwargs):
        seen.append((threading.current_thread().name, args[1].shape[:2]))
        return run(*args, **kwargs)

    gpu.run = recording_run

    class Frames:  # what FrameWorker needs of a FrameProcessor
        pipeline = type("P", (), {"engine": gpu})()
        stats = None

    worker = FrameWorker(Frames(), lambda: (None, None), lambda *a: None, (H, W))
    worker.wait_warm()
    worker.stop()
    assert seen == [("mtvif-infer", (H, W))]
    buffers = gpu.buffers.current.staged_in.data_ptr()
    gpu.run(scene.ir, scene.vis)
    assert gpu.buffers.current.staged_in.data_ptr() == buffers


@pytest.mark.parametrize("kw", [{"compile": True}, {"channels_last": True}])
def test_cuda_fast_paths_match_plain_fp32(scene, kw) -> None:
    ref = FusionEngine(device="cuda").run(scene.ir, scene.vis)
    fast = FusionEngine(device="cuda", **kw)
    fast.warmup((H, W))
    _close(ref, fast.run(scene.ir, scene.vis), labels_equal=0.995, fused_max=2)


def test_confidence_threshold_and_resize_run_on_the_gpu_as_on_the_cpu(scene) -> None:
    kw = {"size": (32, 48), "min_confidence": 0.6}
    cpu = FusionEngine(device="cpu", **kw).run(scene.ir, scene.vis)
    gpu = FusionEngine(device="cuda", **kw).run(scene.ir, scene.vis)
    _close(cpu, gpu, labels_equal=0.995, fused_max=2)


def test_cuda_n_picks_that_gpu_and_refuses_one_that_is_not_there() -> None:
    last = torch.cuda.device_count() - 1
    assert FusionEngine(device=f"cuda:{last}").device == torch.device("cuda", last)
    with pytest.raises(ValueError, match="does not exist"):
        FusionEngine(device=f"cuda:{last + 1}")


def test_onnxruntime_says_where_it_runs(scene) -> None:
    """With a GPU provider the session runs on the GPU with IO binding; with a CPU-only
    onnxruntime it says so and runs as a CPU backend, never a table row that lies."""
    ort = pytest.importorskip("onnxruntime")
    eng = FusionEngine(device="cuda", backend="onnxruntime")
    gpu_providers = {"TensorrtExecutionProvider", "CUDAExecutionProvider"}
    if gpu_providers & set(ort.get_available_providers()):
        assert eng.device.type == "cuda" and "CPU" not in eng.backend.name
    else:
        assert eng.device.type == "cpu" and eng.backend.name == "onnxruntime (CPU)"
    ref = FusionEngine(device="cpu").run(scene.ir, scene.vis)
    _close(ref, eng.run(scene.ir, scene.vis), labels_equal=0.995, fused_max=2)
