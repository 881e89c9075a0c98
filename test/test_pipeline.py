"""The frame pipeline (shared by the node and bag evaluation) and the option grammar."""

from __future__ import annotations

import numpy as np
import pytest

from mtvif_ros.data import make_scene
from mtvif_ros.imaging import IRNormalization, warp_ir
from mtvif_ros.params.options import check_inference_size, parse_device
from mtvif_ros.params.settings import Settings
from mtvif_ros.runtime.pipeline import FramePipeline

H, W = 48, 64
HOM = [1.0, 0.0, 4.0, 0.0, 1.0, -3.0, 0.0, 0.0, 1.0]


@pytest.fixture(scope="module")
def scene():
    return make_scene(2, H, W, night=True)


def test_registration_happens_before_the_engine(engine, scene) -> None:
    pipeline = FramePipeline(engine, Settings.from_mapping({"registration.homography": HOM}))
    frame = pipeline.run(scene.ir, scene.vis)
    warped = warp_ir(scene.ir, HOM, (H, W))
    assert np.array_equal(frame.ir, warped)
    assert np.array_equal(frame.result.labels, engine.run(warped, scene.vis).labels)
    assert frame.warnings() == {}


def test_what_is_processed_but_noticed_is_reported(engine, scene) -> None:
    pipeline = FramePipeline(engine, Settings.from_mapping({}))
    temps = scene.ir.astype(np.float32) / 100
    temps[0, 0] = np.nan
    assert set(pipeline.run(temps, scene.vis).warnings()) == {"nonfinite_ir"}
    small = pipeline.run(scene.ir[::2, ::2].copy(), scene.vis)
    assert small.size_mismatch == ((W // 2, H // 2), (W, H))
    assert "IR is 32x24 but visible is 64x48" in small.warnings()["size_mismatch"]
    assert small.result.labels.shape == (H, W)


def test_settings_of_one_frame_apply_to_that_frame_only(engine, scene) -> None:
    pipeline = FramePipeline(engine, Settings.from_mapping({}))
    before = pipeline.run(scene.ir, scene.vis).result.fused
    minmax = Settings.from_mapping({"ir.normalization": "minmax"})
    after = pipeline.run(scene.ir, scene.vis, minmax).result.fused
    assert np.array_equal(pipeline.run(scene.ir, scene.vis).result.fused, before)
    expected = engine.run(scene.ir, scene.vis, IRNormalization("minmax")).fused
    assert np.array_equal(after, expected) and not np.array_equal(after, before)
    assert engine.ir_normalization.method == "percentile"  # the shared engine is untouched


@pytest.mark.parametrize(
    ("text", "expected"),
    [("auto", "auto"), (" CPU ", "cpu"), ("cuda", "cuda"), ("cuda:01", "cuda:1"), (None, "auto")],
)
def test_device_grammar(text, expected) -> None:
    assert parse_device(text) == expected


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:x", "tpu:0", "cpu:0"])
def test_device_grammar_refuses_with_the_accepted_forms(text) -> None:
    with pytest.raises(ValueError, match="use auto, cpu, cuda or cuda:N"):
        parse_device(text)


def test_inference_size_grammar() -> None:
    assert check_inference_size([240, 320]) == (240, 320)
    assert check_inference_size([0, 0]) is None and check_inference_size(None) is None
    for bad, why in (([240], "invalid"), ([4, 4], "too small"), ([0, 320], "too small")):
        with pytest.raises(ValueError, match=why):
            check_inference_size(bad)
