"""FusionEngine: inputs of every supported kind, sizes, recombination, devices, errors."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mtvif_ros.data import make_scene
from mtvif_ros.engine import FusionEngine, resolve_device
from mtvif_ros.imaging import IRNormalization, normalize_ir, split_luma
from mtvif_ros.model import ModelConfig, build_model, save_checkpoint

H, W = 60, 80


@pytest.fixture(scope="module")
def scene():
    return make_scene(3, H, W, night=True)


def _network_luma(engine: FusionEngine, ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """The network's fused Y at native size, computed without the engine."""
    y, _ = split_luma(vis)
    ir01 = normalize_ir(ir, engine.ir_normalization)
    with torch.no_grad():
        fused, _ = engine.checkpoint.model(
            torch.from_numpy(y)[None, None], torch.from_numpy(ir01)[None, None]
        )
    return fused[0, 0].numpy()


def test_bgr_and_16bit_ir(engine: FusionEngine, scene) -> None:
    r = engine.run(scene.ir, scene.vis)
    assert r.fused.shape == (H, W, 3) and r.fused.dtype == np.uint8
    assert r.labels.shape == (H, W) and r.labels.dtype == np.uint8
    assert r.labels.max() < 9
    assert set(r.timings) == {"pre", "infer", "post"} and all(v >= 0 for v in r.timings.values())


def test_fused_luma_is_the_networks_and_chroma_is_the_visibles(engine, scene) -> None:
    r = engine.run(scene.ir, scene.vis)
    y_fused, chroma_fused = split_luma(r.fused)
    y_net = _network_luma(engine, scene.ir, scene.vis)
    # where the new luma with the old chroma stays inside the RGB gamut, the round trip is
    # exact to rounding; out-of-gamut colours are clipped (a few pixels, small error)
    in_gamut = ((r.fused > 0) & (r.fused < 255)).all(axis=2)
    assert in_gamut.mean() > 0.9
    err = np.abs(y_fused - y_net) * 255
    assert err[in_gamut].max() <= 1.0 and err.mean() < 0.5
    _, chroma_vis = split_luma(scene.vis)
    assert np.abs(chroma_fused - chroma_vis)[in_gamut].max() * 255 <= 3.0


def test_labels_are_the_argmax_of_the_logits(engine, scene) -> None:
    y, _ = split_luma(scene.vis)
    ir01 = normalize_ir(scene.ir)
    with torch.no_grad():
        _, logits = engine.checkpoint.model(
            torch.from_numpy(y)[None, None], torch.from_numpy(ir01)[None, None]
        )
    assert np.array_equal(engine.run(scene.ir, scene.vis).labels, logits.argmax(1)[0].numpy())


def test_confident_labels_leave_unsure_pixels_unlabelled() -> None:
    """Class 0 where the winning probability is below the threshold, argmax elsewhere."""
    from mtvif_ros.engine.engine import confident_labels

    logits = torch.tensor([[5.0, 0.0, 0.0], [0.0, 0.2, 0.1], [0.0, 0.0, 3.0]]).T
    logits = logits.reshape(1, 3, 1, 3)  # pixels: class 0 sure, class 1 unsure, class 2 sure
    assert confident_labels(logits, 0.0).flatten().tolist() == [0, 1, 2]
    assert confident_labels(logits, 0.5).flatten().tolist() == [0, 0, 2]
    assert confident_labels(logits, 0.99).flatten().tolist() == [0, 0, 0]


def test_min_confidence_only_unlabels_pixels(engine, scene) -> None:
    """Per call or per engine: every pixel keeps the argmax class or becomes 0, and a
    higher threshold unlabels more."""
    plain = engine.run(scene.ir, scene.vis).labels
    counts = []
    for t in (0.5, 0.9):
        labels = engine.run(scene.ir, scene.vis, min_confidence=t).labels
        assert np.all((labels == 0) | (labels == plain))
        counts.append(int((labels > 0).sum()))
    assert (plain > 0).sum() > counts[0] > counts[1] > 0
    strict = FusionEngine(device="cpu", min_confidence=0.9)
    assert np.array_equal(
        strict.run(scene.ir, scene.vis).labels,
        engine.run(scene.ir, scene.vis, min_confidence=0.9).labels,
    )
    with pytest.raises(ValueError, match="min_confidence must be in"):
        engine.run(scene.ir, scene.vis, min_confidence=1.5)


def test_grey_visible_gives_grey_fused(engine, scene) -> None:
    grey = cv2.cvtColor(scene.vis, cv2.COLOR_BGR2GRAY)
    r = engine.run(scene.ir, grey)
    assert r.fused.shape == (H, W, 3)
    assert np.array_equal(r.fused[:, :, 0], r.fused[:, :, 1])
    assert np.array_equal(engine.run(scene.ir, grey[:, :, None]).fused, r.fused)


def test_uint8_and_float_ir(engine, scene) -> None:
    ir8 = (normalize_ir(scene.ir) * 255).astype(np.uint8)
    temps = scene.ir.astype(np.float32) / 100.0 - 40.0  # a "temperature" image
    a = engine.run(ir8, scene.vis)
    b = engine.run(temps, scene.vis)
    c = engine.run(scene.ir, scene.vis)
    # the float image is an affine map of the counts: percentile normalization is identical
    assert np.abs(b.fused.astype(int) - c.fused).max() <= 1
    assert a.fused.shape == b.fused.shape == (H, W, 3)


def test_ir_of_another_size_is_resized_to_visible(engine, scene) -> None:
    small_ir = cv2.resize(scene.ir, (W // 2, H // 2), interpolation=cv2.INTER_AREA)
    r = engine.run(small_ir, scene.vis)
    assert r.fused.shape == (H, W, 3) and r.labels.shape == (H, W)
    assert np.abs(r.fused.astype(int) - engine.run(scene.ir, scene.vis).fused).mean() < 12


def test_inference_size_runs_small_and_resizes_back(scene) -> None:
    eng = FusionEngine(device="cpu", size=(32, 48))
    r = eng.run(scene.ir, scene.vis)
    assert r.fused.shape == (H, W, 3) and r.labels.shape == (H, W)
    x = torch.from_numpy(np.stack((split_luma(scene.vis)[0], normalize_ir(scene.ir)))[None])
    x = F.interpolate(x, size=(32, 48), mode="bilinear", align_corners=False)
    with torch.no_grad():
        _, logits = eng.checkpoint.model(x[:, :1], x[:, 1:])
    low = logits.argmax(1, keepdim=True).float()
    expected = F.interpolate(low, size=(H, W), mode="nearest")[0, 0].to(torch.uint8).numpy()
    assert np.array_equal(r.labels, expected)


def test_full_size_480x640(engine) -> None:
    s = make_scene(0)
    r = engine.run(s.ir, s.vis)
    assert r.fused.shape == (480, 640, 3) and r.labels.shape == (480, 640)


def test_deterministic(engine, scene) -> None:
    a, b = engine.run(scene.ir, scene.vis), engine.run(scene.ir, scene.vis)
    assert np.array_equal(a.fused, b.fused) and np.array_equal(a.labels, b.labels)


def test_ir_normalization_setting_is_used(scene) -> None:
    fixed = FusionEngine(device="cpu", ir_normalization=IRNormalization("fixed", min=0, max=1))
    # every count >= 1 saturates to 1.0, so the result differs from percentile stretching
    pct = FusionEngine(device="cpu")
    assert not np.array_equal(
        fixed.run(scene.ir, scene.vis).fused, pct.run(scene.ir, scene.vis).fused
    )


def test_bf16_on_cpu_runs_and_is_close(engine, scene) -> None:
    bf = FusionEngine(device="cpu", precision="bf16")
    a, b = engine.run(scene.ir, scene.vis), bf.run(scene.ir, scene.vis)
    assert np.abs(a.fused.astype(int) - b.fused).mean() < 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device": "cpu", "precision": "fp16"}, "fp16' needs a CUDA device"),
        ({"device": "cpu", "precision": "fp8"}, "precision 'fp8' is unknown"),
        ({"device": "tpu"}, "device 'tpu'"),
        ({"device": "cpu", "size": (4, 4)}, "too small"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        FusionEngine(**kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_requested_without_cuda() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda:0")
    assert resolve_device("auto").type == "cpu"


def test_bad_inputs(engine, scene) -> None:
    with pytest.raises(ValueError, match="IR dtype float64"):
        engine.run(scene.ir.astype(np.float64), scene.vis)
    with pytest.raises(ValueError, match="IR image must be H×W"):
        engine.run(scene.ir[:, :, None], scene.vis)
    with pytest.raises(ValueError, match="empty image"):
        engine.run(np.zeros((0, 0), np.uint16), scene.vis)
    with pytest.raises(ValueError, match="visible image must be uint8"):
        engine.run(scene.ir, scene.vis.astype(np.float32))
    for bad_vis in (scene.vis[0, :, 0], np.zeros((H, W, 4), np.uint8)):
        with pytest.raises(ValueError, match="H×W×3 BGR or H×W grey"):
            engine.run(scene.ir, bad_vis)


def test_untrained_default_is_announced(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="mtvif_ros.engine"):
        eng = FusionEngine(device="cpu")
    if not eng.checkpoint.trained:
        assert "UNTRAINED" in caplog.text


def test_custom_and_cascade_checkpoints(tmp_path, scene) -> None:
    cfg = ModelConfig(architecture="cascade", widths=[4, 8, 8], cascade_seg_widths=[8, 16])
    save_checkpoint(tmp_path / "c.pt", build_model(cfg), cfg, {"trained": True})
    r = FusionEngine(tmp_path / "c.pt", device="cpu").run(scene.ir, scene.vis)
    assert r.labels.shape == (H, W)
    fcfg = ModelConfig(architecture="fusion")
    save_checkpoint(tmp_path / "f.pt", build_model(fcfg), fcfg)
    with pytest.raises(ValueError, match="no segmentation output"):
        FusionEngine(tmp_path / "f.pt", device="cpu")


def test_colorize_uses_checkpoint_palette(engine) -> None:
    rgb = engine.colorize(np.array([[1, 2]], np.uint8))
    assert rgb[0].tolist() == [engine.palette[1], engine.palette[2]]


def test_staging_buffer_is_reused_per_size_and_results_stay_independent(scene) -> None:
    eng = FusionEngine(device="cpu")
    other, small = make_scene(5, H, W), make_scene(6, H // 2, W // 2)
    first = eng.run(scene.ir, scene.vis)
    kept_fused, kept_labels = first.fused.copy(), first.labels.copy()
    staged = eng.buffers.current.staged_in.data_ptr()
    second = eng.run(other.ir, other.vis)
    assert (
        eng.buffers.current.staged_in.data_ptr() == staged
    )  # same size: the buffer is refilled, not new
    assert np.array_equal(first.fused, kept_fused) and np.array_equal(first.labels, kept_labels)
    eng.run(small.ir, small.vis)
    assert tuple(eng.buffers.current.staged_in.shape[-2:]) == (
        H // 2,
        W // 2,
    )  # new size: new buffer
    fresh = FusionEngine(device="cpu")
    for pair, result in ((other, second), (scene, eng.run(scene.ir, scene.vis))):
        ref = fresh.run(pair.ir, pair.vis)
        assert np.array_equal(result.fused, ref.fused)
        assert np.array_equal(result.labels, ref.labels)


def test_steady_state_host_work_allocates_little_beyond_the_outputs() -> None:
    """Pre/post-processing at 480×640 writes into the reused buffers: what numpy/OpenCV
    allocate during a frame is the fused image plus, for 16-bit IR, the histogram used for
    the percentile window (before the buffers, a frame allocated about 21 MiB here)."""
    import tracemalloc

    eng = FusionEngine(device="cpu", size=(48, 64))  # host work at 480×640, a small network
    s = make_scene(8, 480, 640)
    for ir, extra in ((s.ir, 1 << 20), ((s.ir >> 8).astype(np.uint8), 64 << 10)):
        eng.run(ir, s.vis)
        tracemalloc.start()
        try:
            r = eng.run(ir, s.vis)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < r.fused.nbytes + extra, (ir.dtype, peak)


def test_visible_only_runs_with_the_missing_ir_convention(engine, scene) -> None:
    """A thermal drop-out still gives labels: IR is fed as MISSING_IR, as in training."""
    from mtvif_ros.model.config import MISSING_IR

    r = engine.run(None, scene.vis)
    assert r.fused.shape == (H, W, 3) and r.labels.shape == (H, W)
    y, _ = split_luma(scene.vis)
    ir = torch.full((1, 1, H, W), MISSING_IR)
    with torch.no_grad():
        _, logits = engine.checkpoint.model(torch.from_numpy(y)[None, None], ir)
    assert np.array_equal(r.labels, logits.argmax(1)[0].numpy())
    with pytest.raises(ValueError, match="visible image is required"):
        engine.run(scene.ir, None)
