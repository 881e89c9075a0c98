"""Fusion metrics: hand-computable cases, properties, known traps, and agreement with the
reference implementations (scipy / scikit-learn / scikit-image) the published tables use."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from mtvif_ros.data.boxes import Box
from mtvif_ros.metrics import FUSION_KEYS, BoxScores, ConfusionMatrix, box_table, fusion_metrics
from mtvif_ros.metrics import fusion as fm
from mtvif_ros.metrics.boxes import day_or_night
from mtvif_ros.metrics.segmentation import iou_table_header, iou_table_row

RNG = np.random.default_rng(11)


def _images(h: int = 64, w: int = 80) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    base = cv2.GaussianBlur(RNG.uniform(0, 255, (h, w)), (0, 0), 3)
    a = np.clip(base * 1.5 - 40, 0, 255).astype(np.uint8)
    b = np.clip(255 - base + RNG.normal(0, 8, (h, w)), 0, 255).astype(np.uint8)
    f = ((a.astype(int) + b) // 2).astype(np.uint8)
    return f, a, b


def test_entropy_known_values() -> None:
    assert fm.entropy(np.zeros((8, 8))) == 0.0
    two = np.zeros((8, 8))
    two[:, :4] = 200  # two levels, equally likely: 1 bit
    assert fm.entropy(two) == pytest.approx(1.0)
    four = np.repeat(np.array([0, 1, 2, 3]), 16).reshape(8, 8).astype(float)
    assert fm.entropy(four) == pytest.approx(2.0)


def test_sd_sf_ag_on_simple_images() -> None:
    const = np.full((10, 10), 77.0)
    assert fm.sd(const) == fm.sf(const) == fm.ag(const) == 0.0
    two = np.zeros((4, 4))
    two[:, 2:] = 10  # one vertical edge
    assert fm.sd(two) == pytest.approx(5.0)  # population std
    assert fm.sf(two) == pytest.approx(math.sqrt(100 * 4 / 12))  # 4 of 12 horizontal diffs
    ramp = np.tile(np.arange(6, dtype=float) * 2, (5, 1))  # gx = 2 everywhere
    assert fm.ag(ramp) == pytest.approx(math.sqrt(4 / 2))


def test_mi_of_an_image_with_itself_is_its_entropy() -> None:
    _, a, _ = _images()
    af = a.astype(float)
    assert fm.mutual_information(af, af, base=2) == pytest.approx(fm.entropy(af))
    assert fm.mutual_information(af, af) == pytest.approx(fm.entropy(af) * math.log(2))


def test_trap_unrounded_floats_would_explode_mi() -> None:
    f, a, _ = _images()
    noisy = f.astype(float) + RNG.uniform(-0.4, 0.4, f.shape)  # rounds back to f
    assert fm.mutual_information(noisy, a.astype(float)) == pytest.approx(
        fm.mutual_information(f.astype(float), a.astype(float))
    )
    # the trap: treating every distinct float as its own level gives a huge MI
    _, counts = np.unique(noisy, return_counts=True)
    assert len(counts) > 256


def test_trap_vif_needs_the_0_255_scale() -> None:
    f, a, _ = _images()
    g = np.clip(a * 0.8 + 30 + RNG.normal(0, 4, a.shape), 0, 255)  # a fair copy of a
    v255 = fm.vif(a.astype(float), g)
    v01 = fm.vif(a / 255.0, g / 255.0)
    assert abs(v255 - v01) > 0.1  # σn² = 2 is calibrated for 0-255: [0, 1] changes VIF
    with pytest.raises(ValueError, match="must be uint8"):
        fusion_metrics(f.astype(np.float32) / 255, a, a)


def test_trap_fused_equal_to_a_source_gives_nan_scd_not_an_error() -> None:
    _, a, b = _images()
    m = fusion_metrics(a, a, b)
    assert math.isnan(m["SCD"])
    assert m["SSIM"] == pytest.approx(1.0 + fm.ssim(a.astype(float), b.astype(float)))


def test_identical_images() -> None:
    _, a, _ = _images()
    af = a.astype(float)
    assert fm.ssim(af, af) == pytest.approx(1.0)
    assert fm.ssim_legacy(af, af) == pytest.approx(1.0)
    assert fm.vif(af, af) == pytest.approx(1.0)
    assert fm.psnr(af, af, af) == math.inf
    assert fm.cc(af, af, af) == pytest.approx(1.0)


def test_properties() -> None:
    f, a, b = _images()
    ff, af, bf = (x.astype(float) for x in (f, a, b))
    # SD and SF are translation invariant and scale linearly
    assert fm.sd(ff + 10) == pytest.approx(fm.sd(ff))
    assert fm.sf(2 * ff) == pytest.approx(2 * fm.sf(ff))
    assert fm.ag(2 * ff) == pytest.approx(2 * fm.ag(ff))
    # entropy depends only on the histogram: invariant to a pixel permutation
    perm = RNG.permutation(ff.ravel()).reshape(ff.shape)
    assert fm.entropy(perm) == pytest.approx(fm.entropy(ff))
    # PSNR decreases as noise grows; CC and SSIM are symmetric in their arguments
    n1 = np.clip(ff + RNG.normal(0, 5, ff.shape), 0, 255)
    n2 = np.clip(ff + RNG.normal(0, 20, ff.shape), 0, 255)
    assert fm.psnr(n1, ff, ff) > fm.psnr(n2, ff, ff)
    assert fm.ssim(af, bf) == pytest.approx(fm.ssim(bf, af))
    # Qabf of a fused image equal to a source keeps that source's edges: higher than blur
    blur = cv2.GaussianBlur(ff, (0, 0), 3)
    assert fm.qabf(af, af, bf) > fm.qabf(blur, af, bf)


def test_fusion_metrics_accepts_bgr_and_grey_and_checks_sizes() -> None:
    f, a, b = _images()
    f3, b3 = cv2.cvtColor(f, cv2.COLOR_GRAY2BGR), cv2.cvtColor(b, cv2.COLOR_GRAY2BGR)
    m1, m2 = fusion_metrics(f, a, b), fusion_metrics(f3, a, b3)
    assert set(m1) == set(FUSION_KEYS)
    for k in FUSION_KEYS:
        assert m1[k] == pytest.approx(m2[k], nan_ok=True)
    with pytest.raises(ValueError, match="sizes differ"):
        fusion_metrics(f, a[:10], b)


def test_against_reference_implementations() -> None:
    signal = pytest.importorskip("scipy.signal")
    skm = pytest.importorskip("sklearn.metrics")
    skimage_metrics = pytest.importorskip("skimage.metrics")
    f, a, b = _images(70, 90)
    ff, af, bf = (x.astype(float) for x in (f, a, b))
    m = fusion_metrics(f, a, b, legacy_ssim=True)

    mi = skm.mutual_info_score(ff.ravel(), af.ravel()) + skm.mutual_info_score(
        ff.ravel(), bf.ravel()
    )
    assert m["MI"] == pytest.approx(mi, rel=1e-9)

    ssim_ref = sum(
        skimage_metrics.structural_similarity(
            ff, x, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        for x in (af, bf)
    )
    assert m["SSIM"] == pytest.approx(ssim_ref, rel=1e-6)
    legacy = sum(skimage_metrics.structural_similarity(ff, x, data_range=2) for x in (af, bf))
    assert m["SSIM_legacy"] == pytest.approx(legacy, rel=1e-6)

    # Qabf and VIF as the evaluator computes them, with scipy's convolve2d
    def edges(img):
        h1 = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], float)
        h3 = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)
        sx, sy = signal.convolve2d(img, h3, mode="same"), signal.convolve2d(img, h1, mode="same")
        ang = np.full(img.shape, math.pi / 2)
        ang[sx != 0] = np.arctan(sy[sx != 0] / sx[sx != 0])
        return np.sqrt(sx * sx + sy * sy), ang

    def q(g_s, a_s, g_f, a_f):
        gaf = np.where(g_s > g_f, g_f / np.where(g_s == 0, 1, g_s), 0.0)
        gaf = np.where(g_s < g_f, g_s / np.where(g_f == 0, 1, g_f), gaf)
        gaf = np.where(g_s == g_f, g_f, gaf)  # the reference's quirk
        aaf = 1 - np.abs(a_s - a_f) / (math.pi / 2)
        return 0.9994 / (1 + np.exp(-15 * (gaf - 0.5))) * 0.9879 / (1 + np.exp(-22 * (aaf - 0.8)))

    (ga, aa), (gb, ab), (gf, af_) = edges(af), edges(bf), edges(ff)
    qref = np.sum(q(ga, aa, gf, af_) * ga + q(gb, ab, gf, af_) * gb) / np.sum(ga + gb)
    assert m["Qabf"] == pytest.approx(qref, abs=1e-5)

    def vif_ref(ref, dist):
        num = den = 0.0
        for scale in range(1, 5):
            n = 2 ** (4 - scale + 1) + 1
            win = fm._matlab_gaussian(n, n / 5)
            if scale > 1:
                ref = signal.convolve2d(ref, win, mode="valid")[::2, ::2]
                dist = signal.convolve2d(dist, win, mode="valid")[::2, ::2]
            mu1, mu2 = signal.convolve2d(ref, win, "valid"), signal.convolve2d(dist, win, "valid")
            s1 = np.maximum(signal.convolve2d(ref * ref, win, "valid") - mu1**2, 0)
            s2 = np.maximum(signal.convolve2d(dist * dist, win, "valid") - mu2**2, 0)
            s12 = signal.convolve2d(ref * dist, win, "valid") - mu1 * mu2
            g = s12 / (s1 + 1e-10)
            sv = s2 - g * s12
            g[s1 < 1e-10], sv[s1 < 1e-10] = 0, s2[s1 < 1e-10]
            s1[s1 < 1e-10] = 0
            g[s2 < 1e-10], sv[s2 < 1e-10] = 0, 0
            sv[g < 0] = s2[g < 0]
            g[g < 0] = 0
            sv[sv <= 1e-10] = 1e-10
            num += np.sum(np.log10(1 + g * g * s1 / (sv + 2)))
            den += np.sum(np.log10(1 + s1 / 2))
        return num / den

    assert m["VIF"] == pytest.approx(vif_ref(af, ff) + vif_ref(bf, ff), rel=1e-6)


def test_confusion_matrix_is_dataset_wide_and_ignores_255() -> None:
    cm = ConfusionMatrix(3)
    cm.update(np.array([[0, 1], [1, 2]]), np.array([[0, 1], [2, 255]]))
    cm.update(np.array([[2, 2]]), np.array([[2, 2]]))
    assert cm.matrix.sum() == 5  # the 255 pixel is ignored
    iou = cm.iou()
    # class 2: tp 2, one pixel of class 2 predicted 1 → IoU 2/3
    assert iou[0] == 1.0 and iou[1] == pytest.approx(0.5) and iou[2] == pytest.approx(2 / 3)
    s = cm.scores()
    assert s["mIoU"] == pytest.approx((1 + 0.5 + 2 / 3) / 3)
    assert s["mIoU_no_unlabelled"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert s["pixel_accuracy"] == pytest.approx(4 / 5)
    # pooled, not a mean of per-image IoUs
    per_image = ConfusionMatrix(3)
    per_image.update(np.array([[2, 2]]), np.array([[2, 2]]))
    assert per_image.iou()[2] == 1.0


def test_iou_table_layout() -> None:
    cm = ConfusionMatrix()
    cm.update(np.array([[0, 1, 2]]), np.array([[0, 1, 1]]))
    header = iou_table_header()
    assert header.startswith("| method | Unl | Car | Per | Bik | Cur | CS | GD | CC | Bu | mIoU |")
    row = iou_table_row("m", cm)
    assert row.startswith("| m | 100.0 | 50.0 | 0.0 | - |")


def test_day_or_night_from_the_msrs_name_suffix() -> None:
    assert day_or_night("00055D") == "day" and day_or_night("msrs/00004N") == "night"
    assert day_or_night("msrs\\00881N") == "night"
    for other in ("FLIR_00006", "01", "camvid/0001TP_006690", "RUN", "msrs/00004N/x"):
        assert day_or_night(other) is None


def test_box_recall_counts_tall_boxes_at_the_coverage_threshold() -> None:
    pred = np.zeros((40, 40), np.uint8)
    tall_found = Box(2, 0, 0, 10, 20)  # 200 px, 50 painted: exactly 25 % → found
    tall_missed = Box(2, 20, 0, 30, 20)  # 200 px, 49 painted: < 25 % → missed
    short = Box(2, 0, 25, 10, 35)  # 10 px tall: left out of recall even when all painted
    pred[0:5, 0:10] = 2
    pred[0:7, 20:27] = 2
    pred[25:35, 0:10] = 2
    s = BoxScores()
    s.update(pred, [[tall_found, tall_missed, short]], "msrs/00001D")
    person = s.counts["all"][2]
    assert (person.boxes, person.found) == (2, 1) and person.recall == 0.5
    # every painted pixel lies in a person box (the short one counts for precision)
    assert (person.predicted, person.inside) == (50 + 49 + 100, 199) and person.precision == 1
    assert s.counts["day"][2] == person and s.counts["night"][2].boxes == 0
    assert s.images == {"all": 1, "day": 1, "night": 0}
    assert math.isnan(s.counts["all"][1].recall) and math.isnan(s.counts["all"][1].precision)
    lower = BoxScores(min_height=10, coverage=0.2)  # the short box now counts, 49 px too
    lower.update(pred, [[tall_found, tall_missed, short]], "00001D")
    assert (lower.counts["all"][2].boxes, lower.counts["all"][2].found) == (3, 3)


def test_box_precision_is_hurt_by_pixels_outside_boxes_not_by_painting_a_box() -> None:
    box = Box(1, 4, 4, 24, 20)  # car, 20×16 = 320 px, exactly 16 px tall
    whole = np.zeros((32, 32), np.uint8)
    whole[4:20, 4:24] = 1
    s = BoxScores()
    s.update(whole, [[box]], "msrs/00002N")
    car = s.counts["night"][1]
    assert (car.boxes, car.found, car.predicted, car.inside) == (1, 1, 320, 320)
    assert car.precision == 1.0
    outside = whole.copy()
    outside[25:30, 0:16] = 1  # 80 car pixels where no car box is
    s.update(outside, [[box]], "FLIR_00006")  # not an MSRS name: overall only
    assert s.counts["night"][1] == car and s.images == {"all": 2, "day": 0, "night": 1}
    total = s.counts["all"][1]
    assert (total.predicted, total.inside) == (320 + 400, 640)  # pooled over images
    assert total.precision == pytest.approx(640 / 720) and total.recall == 1.0
    wrong_class = np.where(whole == 1, 2, 0).astype(np.uint8)  # a person painted on a car
    s.update(wrong_class, [[box]], "00003D")
    assert s.counts["day"][1].found == 0 and s.counts["day"][2].precision == 0.0


def test_box_recall_uses_the_first_variant_precision_the_union() -> None:
    infrared = [Box(2, 0, 0, 8, 20)]
    visible = [Box(2, 0, 0, 8, 20), Box(2, 20, 0, 28, 20)]  # one more person, drawn on VIS
    pred = np.zeros((20, 30), np.uint8)
    pred[:, 0:8] = 2
    pred[:, 20:28] = 2
    s = BoxScores()
    s.update(pred, [infrared, visible], "00010D")
    person = s.counts["all"][2]
    assert (person.boxes, person.found) == (1, 1)  # the same person is not counted twice
    assert (person.predicted, person.inside) == (320, 320)
    only_infrared = BoxScores()
    only_infrared.update(pred, [infrared], "00010D")
    assert only_infrared.counts["all"][2].precision == 0.5
    with pytest.raises(ValueError, match="box variant"):
        s.update(pred, [], "00010D")
    with pytest.raises(ValueError, match="H×W"):
        s.update(pred[..., None], [infrared], "00010D")
    assert s.scores()["day"][2] == {
        "recall": 1.0,
        "precision": 1.0,
        "boxes": 1,
        "found": 1,
        "predicted": 320,
        "inside": 320,
    }


def test_box_table_layout() -> None:
    s = BoxScores()
    pred = np.zeros((20, 20), np.uint8)
    pred[0:20, 0:5] = 2
    s.update(pred, [[Box(2, 0, 0, 10, 20), Box(2, 10, 0, 20, 20)]], "00001N")
    lines = box_table({"net": s})
    assert lines[0].startswith("| method | class | recall all | recall day | recall night |")
    assert lines[1] == "|---|---|" + "---:|" * 6
    assert lines[2] == "| net | car | - | - | - | - | - | - |"
    assert lines[3] == "| net | person | 50.0 (1/2) | - | 50.0 (1/2) | 100.0 | - | 100.0 |"
    assert len(lines) == 5 and lines[4].startswith("| net | bike |")
