"""The built-in sample scene: deterministic, registered, physically plausible."""

from __future__ import annotations

import numpy as np

from mtvif_ros.data import make_scene, sample_scenes, sample_sequence
from mtvif_ros.data.sample_scene import CAR, CURVE, PERSON


def test_deterministic_and_typed() -> None:
    a, b = make_scene(5, 120, 160), make_scene(5, 120, 160)
    assert np.array_equal(a.ir, b.ir) and np.array_equal(a.vis, b.vis)
    assert np.array_equal(a.labels, b.labels)
    assert a.ir.dtype == np.uint16 and a.ir.max() < 2**14  # 14-bit counts
    assert a.vis.shape == (120, 160, 3) and a.vis.dtype == np.uint8
    assert a.labels.shape == (120, 160) and a.labels.dtype == np.uint8
    assert not np.array_equal(a.labels, make_scene(6, 120, 160).labels)


def test_labels_hold_road_scene_classes() -> None:
    present = set()
    for s in sample_scenes(4, 240, 320):
        present |= set(np.unique(s.labels).tolist())
    assert {0, CAR, PERSON, CURVE} <= present


def test_people_are_hot_and_sky_is_cold() -> None:
    s = make_scene(1, 240, 320, night=True)
    ir = s.ir.astype(float)
    assert ir[s.labels == PERSON].mean() > ir[s.labels == 0].mean() + 500
    assert ir[:20].mean() < ir[s.labels == 0].mean()  # top rows are sky


def test_night_visible_is_dark_and_ir_still_has_contrast() -> None:
    day, night = make_scene(2, 240, 320, night=False), make_scene(2, 240, 320, night=True)
    assert night.vis.mean() < 0.5 * day.vis.mean()
    person = night.labels == PERSON
    ir = night.ir.astype(float)
    assert ir[person].mean() - ir[~person].mean() > 500


def test_sequence_moves_objects() -> None:
    frames = list(sample_sequence(3, fps=2.0, seed=0, height=120, width=160))
    assert len(frames) == 3 and frames[0].name.endswith("_f0000")
    assert not np.array_equal(frames[0].labels, frames[2].labels)
