"""IR normalization, luma/chroma round trip and palette helpers."""

from __future__ import annotations

import numpy as np
import pytest

from mtvif_ros.classes import MSRS_PALETTE
from mtvif_ros.imaging import (
    IRNormalization,
    colorize,
    luma,
    normalize_ir,
    overlay,
    percentiles_uint16,
    recombine_luma,
    replace_luma,
    split_luma,
)


def _rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_uint8_ir_is_only_scaled() -> None:
    ir = np.array([[0, 51, 255]], np.uint8)
    np.testing.assert_allclose(normalize_ir(ir, IRNormalization("minmax")), [[0, 0.2, 1]])


def test_percentile_ignores_hot_pixels_but_minmax_does_not() -> None:
    ir = _rng().integers(7000, 8000, (100, 100)).astype(np.uint16)
    ir[0, 0] = 16383  # one dead-hot pixel
    p = normalize_ir(ir, IRNormalization("percentile", 1, 99))
    m = normalize_ir(ir, IRNormalization("minmax"))
    assert p.dtype == np.float32 and 0 <= p.min() and p.max() <= 1
    assert p[1:].std() > 0.25  # contrast preserved for the scene
    assert m[1:].max() < 0.15  # minmax is ruined by the hot pixel
    assert np.isclose(m[0, 0], 1.0)


def test_fixed_window_clips() -> None:
    ir = np.array([[100, 200, 300]], np.uint16)
    out = normalize_ir(ir, IRNormalization("fixed", min=150, max=250))
    np.testing.assert_allclose(out, [[0, 0.5, 1]])


def test_float_temperatures_with_nan_and_inf() -> None:
    t = np.linspace(10, 40, 100, dtype=np.float32).reshape(10, 10)
    t[0, 0], t[0, 1], t[0, 2] = np.nan, np.inf, -np.inf
    out = normalize_ir(t, IRNormalization("minmax"))
    assert np.isfinite(out).all() and out[0, :3].tolist() == [0, 0, 0]
    assert np.isclose(out[-1, -1], 1.0)


@pytest.mark.parametrize("method", ["percentile", "minmax"])
def test_constant_frame_gives_zeros_not_nan(method: str) -> None:
    out = normalize_ir(np.full((8, 8), 7777, np.uint16), IRNormalization(method))
    assert np.array_equal(out, np.zeros((8, 8), np.float32))
    assert np.array_equal(normalize_ir(np.full((4, 4), np.nan, np.float32)), np.zeros((4, 4)))


def test_bad_normalization_settings() -> None:
    with pytest.raises(ValueError, match="unknown"):
        IRNormalization("histeq")
    with pytest.raises(ValueError, match="percentile_low 99 and percentile_high 1 must satisfy"):
        IRNormalization(percentile_low=99, percentile_high=1)
    with pytest.raises(ValueError, match="min 5 must be a finite number below max 5"):
        IRNormalization("fixed", min=5, max=5)
    with pytest.raises(ValueError, match="H×W"):
        normalize_ir(np.zeros((4, 4, 3), np.uint16))


def test_ycrcb_round_trip_is_under_one_grey_level() -> None:
    bgr = _rng().integers(0, 256, (64, 64, 3)).astype(np.uint8)
    y, chroma = split_luma(bgr)
    assert y.dtype == np.float32 and 0 <= y.min() and y.max() <= 1
    # float luma
    assert np.abs(recombine_luma(y, chroma).astype(int) - bgr).max() < 1
    # luma quantized to uint8, as the engine downloads it
    y8 = np.clip(y * 255 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(recombine_luma(y8, chroma).astype(int) - bgr).max() <= 1


def test_luma_is_bt601() -> None:
    bgr = np.zeros((1, 3, 3), np.uint8)
    bgr[0, 0, 2] = 255  # red
    bgr[0, 1, 1] = 255  # green
    bgr[0, 2, 0] = 255  # blue
    y, _ = split_luma(bgr)
    np.testing.assert_allclose(y[0], [0.299, 0.587, 0.114], atol=1e-3)


def test_grey_visible_and_bad_visible() -> None:
    grey = np.arange(16, dtype=np.uint8).reshape(4, 4)
    y, chroma = split_luma(grey)
    assert chroma is None
    out = recombine_luma(y, None)
    assert out.shape == (4, 4, 3) and np.array_equal(out[:, :, 0], grey)
    with pytest.raises(ValueError, match="uint8"):
        split_luma(grey.astype(np.float32))
    with pytest.raises(ValueError, match="H×W×3"):
        split_luma(np.zeros((4, 4, 4), np.uint8))


def test_colorize_uses_palette_and_blacks_out_unknown_ids() -> None:
    labels = np.array([[0, 1, 2, 200]], np.uint8)
    rgb = colorize(labels, MSRS_PALETTE)
    assert rgb[0, 1].tolist() == list(MSRS_PALETTE[1])
    assert rgb[0, 2].tolist() == list(MSRS_PALETTE[2])
    assert rgb[0, 3].tolist() == [0, 0, 0]


def test_overlay_leaves_background_and_tints_classes() -> None:
    bgr = np.full((2, 2, 3), 100, np.uint8)
    labels = np.array([[0, 1], [0, 2]], np.uint8)
    out = overlay(bgr, labels, MSRS_PALETTE, alpha=0.5)
    assert np.array_equal(out[0, 0], bgr[0, 0])
    expected = (np.array(MSRS_PALETTE[1][::-1]) * 0.5 + 50).round()
    assert np.abs(out[0, 1].astype(int) - expected).max() <= 1


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (97, 131), (480, 640)])
def test_uint16_percentiles_from_the_histogram_equal_numpys(shape) -> None:
    rng = _rng()
    img = rng.integers(3000, 3000 + 2**14, shape).astype(np.uint16)
    img.flat[:: max(1, img.size // 7)] = 65535  # hot pixels
    qs = (0.0, 1.0, 37.5, 50.0, 99.0, 100.0)
    np.testing.assert_allclose(
        percentiles_uint16(img, qs), np.percentile(img.astype(np.float64), qs), rtol=1e-12
    )
    # a non-contiguous view (a crop) gives the same as its copy
    crop = img[:, ::2]
    np.testing.assert_allclose(percentiles_uint16(crop, qs), np.percentile(crop, qs), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_normalize_ir_writes_into_out(dtype) -> None:
    ir = (_rng().random((16, 24)) * (200 if dtype == np.uint8 else 9000)).astype(dtype)
    out = np.full((16, 24), -1.0, np.float32)
    res = normalize_ir(ir, out=out)
    assert res is out and np.array_equal(out, normalize_ir(ir))
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_luma_equals_split_luma_and_fills_the_given_buffer() -> None:
    bgr = _rng().integers(0, 256, (33, 47, 3)).astype(np.uint8)
    out = np.zeros((33, 47), np.float32)
    assert luma(bgr, out=out, scratch=np.empty((33, 47, 3), np.float32)) is out
    np.testing.assert_allclose(out, split_luma(bgr)[0], atol=1e-6)
    grey = bgr[:, :, 1].copy()
    np.testing.assert_allclose(luma(grey), split_luma(grey)[0], atol=1e-7)
    np.testing.assert_allclose(luma(grey[:, :, None]), split_luma(grey)[0], atol=1e-7)
    with pytest.raises(ValueError, match="H×W×3 BGR or H×W grey"):
        luma(np.zeros((4, 4, 4), np.uint8))


def test_replace_luma_is_ycrcb_recombination_without_the_round_trip() -> None:
    rng = _rng()
    bgr = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    y = luma(bgr)
    # same luma back: the visible image, exactly
    same = np.clip(y * 255 + 0.5, 0, 255).astype(np.uint8)
    assert np.array_equal(replace_luma(bgr, y, same), bgr)
    # ... also where ΔY is a tie (±0.5), on odd and even channel values, with the luma
    # rounded either way (OpenCV 5's uint8 + float32 add rounds ties to even: the
    # recombination must not hand the tie to OpenCV)
    big = rng.integers(0, 256, (512, 512, 3)).astype(np.uint8)
    y_big = luma(big)
    ties = (y_big * 255) % 1 == 0.5
    assert ties.sum() > 50 and len(np.unique(big[ties] % 2)) == 2
    for rounded in (np.floor(y_big * 255 + 0.5), np.rint(y_big * 255)):
        assert np.array_equal(replace_luma(big, y_big, rounded.astype(np.uint8)), big)
    # any new luma: what YCrCb recombination with the visible chroma gives, to 1 level
    new = rng.integers(0, 256, (64, 64)).astype(np.uint8)
    _, chroma = split_luma(bgr)
    out = replace_luma(bgr, y, new, np.empty((64, 64, 3), np.float32), np.empty_like(y))
    assert np.abs(out.astype(int) - recombine_luma(new, chroma)).max() <= 1
    # grey visible: the new luma in three channels
    grey = bgr[:, :, 0].copy()
    assert np.array_equal(replace_luma(grey, luma(grey), new), np.dstack((new, new, new)))


def test_warp_ir_is_bilinear_at_the_mapped_coordinates_under_every_opencv() -> None:
    """On a linear ramp bilinear interpolation is exact, so the warp must equal the ramp at
    H⁻¹(x, y), to 1/32 px (OpenCV 4.x's coordinate quantization; 5.x is exact)."""
    from mtvif_ros.imaging import warp_ir

    h, w, slope = 120, 160, (0.003, 0.002)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    ramp = (slope[0] * xx + slope[1] * yy).astype(np.float32)
    homography = np.array([[1.01, 0.02, 3.5], [-0.01, 0.99, -2.25], [1e-5, 2e-5, 1.0]])
    out = warp_ir(ramp, homography.ravel().tolist(), (h, w))
    src = np.linalg.inv(homography) @ np.stack((xx.ravel(), yy.ravel(), np.ones(h * w)))
    sx, sy = src[0] / src[2], src[1] / src[2]
    inside = ((sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)).reshape(h, w)
    expected = (slope[0] * sx + slope[1] * sy).reshape(h, w)
    assert inside.mean() > 0.8 and (out[~inside] == 0).mean() > 0.5
    assert np.abs(out - expected)[inside].max() <= sum(slope) / 32 + 1e-6


def test_plane_homography_maps_points_of_the_plane_between_the_cameras() -> None:
    from mtvif_ros.imaging.registration import plane_homography, rotation_rpy

    k_ir = [110.0, 0.0, 30.0, 0.0, 112.0, 25.0, 0.0, 0.0, 1.0]
    k_vis = [400.0, 0.0, 320.0, 0.0, 401.0, 240.0, 0.0, 0.0, 1.0]
    extrinsic = [0.12, -0.03, 0.02, 0.01, -0.02, 0.03]
    d = 8.0
    h = np.array(plane_homography(k_ir, k_vis, extrinsic, d)).reshape(3, 3)
    r, t = rotation_rpy(*extrinsic[3:]), np.array(extrinsic[:3])
    kir, kvis = np.reshape(k_ir, (3, 3)), np.reshape(k_vis, (3, 3))
    for u, v in [(0, 0), (30, 25), (63, 47), (10, 40)]:
        ray = np.linalg.inv(kir) @ [u, v, 1.0]
        x_vis = r @ (ray * d / ray[2]) + t  # the plane point seen at (u, v), in the visible frame
        expected = (kvis @ x_vis)[:2] / (kvis @ x_vis)[2]
        got = h @ [u, v, 1.0]
        np.testing.assert_allclose(got[:2] / got[2], expected, atol=1e-9)
    same = plane_homography(k_ir, k_ir, [0.0] * 6, 5.0)
    np.testing.assert_allclose(same, np.eye(3).ravel(), atol=1e-12)
    with pytest.raises(ValueError, match="singular"):
        plane_homography([0.0] * 9, k_vis, extrinsic, d)
    with pytest.raises(ValueError, match="> 0 m"):
        plane_homography(k_ir, k_vis, extrinsic, 0.0)
