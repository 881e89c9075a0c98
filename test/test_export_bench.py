"""ONNX export parity with onnxruntime, the onnxruntime and channels_last engine paths, and
the benchmark's measuring helpers (correctness only: no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mtvif_ros.data import make_scene
from mtvif_ros.engine import FusionEngine
from mtvif_ros.model import default_checkpoint_path
from mtvif_ros.tools.bench import PeakLiveMemory, complexity, markdown

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is installed by make test")


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory) -> Path:
    from mtvif_ros.engine.export import export_onnx

    return export_onnx(default_checkpoint_path(), tmp_path_factory.mktemp("onnx") / "m.onnx")


def test_onnx_matches_pytorch_at_several_sizes(onnx_file: Path) -> None:
    from mtvif_ros.engine.export import verify_onnx

    check = verify_onnx(
        default_checkpoint_path(), onnx_file, sizes=((96, 128), (61, 83), (240, 320))
    )
    assert check["max_abs_diff_fused"] < 1e-4 and check["labels_equal_pct"] > 99.9


def test_onnx_carries_the_checkpoint_config(onnx_file: Path) -> None:
    import json

    import onnx

    meta = {p.key: p.value for p in onnx.load(str(onnx_file)).metadata_props}
    cfg = json.loads(meta["mtvif_ros.config"])
    assert cfg["num_classes"] == 9 and cfg["backbone"] == "multiscale"


def test_export_cli(tmp_path: Path, capsys) -> None:
    from mtvif_ros.tools.export import main

    assert main([str(tmp_path / "x.onnx")]) == 0
    assert "labels equal 100.00 %" in capsys.readouterr().out


def test_onnxruntime_and_channels_last_engines_match_the_torch_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    s = make_scene(4, 72, 96, night=True)
    ref = FusionEngine(device="cpu").run(s.ir, s.vis)
    for kw in ({"backend": "onnxruntime"}, {"channels_last": True}):
        out = FusionEngine(device="cpu", **kw).run(s.ir, s.vis)
        assert np.abs(out.fused.astype(int) - ref.fused).max() <= 1, kw
        assert (out.labels == ref.labels).mean() > 0.999, kw
    assert list((tmp_path / "mtvif_ros").glob("*.onnx"))  # exported once, cached
    with pytest.raises(ValueError, match="onnxruntime backend runs fp32"):
        FusionEngine(device="cpu", backend="onnxruntime", precision="bf16")
    with pytest.raises(ValueError, match="backend 'tensorrt' is unknown"):
        FusionEngine(device="cpu", backend="tensorrt")


def test_cpu_threads_cap_torch_and_the_onnxruntime_session(tmp_path, monkeypatch):
    """The entry point sets the thread cap; the engine's backends follow it."""
    from mtvif_ros.engine import set_cpu_threads

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    before = torch.get_num_threads()
    try:
        set_cpu_threads(1)
        eng = FusionEngine(device="cpu", backend="onnxruntime")
        assert torch.get_num_threads() == 1
        assert eng.backend.session.get_session_options().intra_op_num_threads == 1
        assert eng.backend.name.startswith("onnxruntime (")
    finally:
        set_cpu_threads(0)
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="num_threads -1 is negative"):
        set_cpu_threads(-1)


def test_the_onnxruntime_backend_leaves_the_torch_model_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    eng = FusionEngine(device="cpu", backend="onnxruntime")
    assert not hasattr(eng.backend, "model")  # not moved, not compiled: only the session
    assert eng.device.type == "cpu"


def test_peak_live_memory_counts_activations() -> None:
    with torch.inference_mode(), PeakLiveMemory() as mem:
        a = torch.ones(1024, 256)  # 1 MiB
        b = a * 2  # 1 MiB more while a is alive
        del a, b
    assert 2 * 2**20 <= mem.peak < 3 * 2**20
    assert mem.live == 0


def test_complexity_table_shows_the_cascade_is_heavier_on_every_backbone() -> None:
    comp = complexity(64, 80)
    for backbone in ("seafusion", "multiscale"):
        rows = {r["network"][:3]: r for r in comp if r["backbone"] == backbone}
        assert rows["(c)"]["params_M"] > rows["(b)"]["params_M"] > rows["(a)"]["params_M"]
        assert rows["(c)"]["GFLOPs"] > rows["(b)"]["GFLOPs"] > rows["(a)"]["GFLOPs"]
    text = markdown("test", comp, [])
    assert "| multiscale | (b) MultiTaskVIF (backbone + MTH) |" in text


def test_profile_script_attributes_time_to_the_head_modules() -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "profile_forward.py"
    out = subprocess.run(
        [sys.executable, str(script), "--size", "32x48", "--repeat", "2", "--top", "5"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    for module in ("| backbone |", "| head.hiaf |", "| head.hiaf.attn_high |"):
        assert module in out
    ops = [line for line in out.splitlines() if line.startswith("| `aten::")]
    assert 1 <= len(ops) <= 5  # the heaviest operators, --top of them
