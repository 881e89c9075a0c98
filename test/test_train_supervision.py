"""Real supervision in training: masked fusion loss, box losses, CamVid, IR dropout, sources.

A tiny data folder made from the project's sample scenes stands in for the real data (same
layout: manifest, box files, alignment_check.csv, CamVid index); the real data is used
only through the ``shared_data`` fixture.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mtvif_ros.data import make_scene
from mtvif_ros.model import load_checkpoint
from mtvif_ros.model.config import MISSING_IR
from mtvif_ros.train import Trainer, parse_config
from mtvif_ros.train.data import (
    SOURCE_CAMVID,
    SOURCE_REAL,
    SOURCE_SYNTHETIC,
    Prepared,
    random_crop_flip,
    random_scale,
)
from mtvif_ros.train.losses import (
    BoxNegativeLoss,
    BoxProjectionLoss,
    FusionLoss,
    KnownClassesCrossEntropy,
    OhemCrossEntropy,
)
from mtvif_ros.train.sources import real_sources, training_samples

FAST = (
    "--crop 48 --batch-size 4 --workers 0 --val-synthetic 1 --synthetic-size 64 80 "
    "--no-progress --log-every 1 --warmup-steps 2 --seg-warmup-steps 0 --seg-ramp-steps 0"
).split()
NEW_COLUMNS = ("seg_ce", "seg_camvid", "box_proj", "box_neg", "fusion_samples")
H = W = 32


# ----------------------------------------------------------------------------- data
def _yolo_lines(labels: np.ndarray) -> list[str]:
    """YOLO boxes (person 0, car 2) of the connected regions of a scene's labels."""
    lines = []
    for msrs, yolo in ((2, 0), (1, 2)):
        n, _, stats, _ = cv2.connectedComponentsWithStats((labels == msrs).astype(np.uint8))
        for x, y, w, h, _area in stats[1:n]:
            hh, ww = labels.shape
            cx, cy = (x + w / 2) / ww, (y + h / 2) / hh
            lines.append(f"{yolo} {cx:.6f} {cy:.6f} {w / ww:.6f} {h / hh:.6f}")
    return lines


def _write_pairs(root: Path, set_name: str, names: list[str], boxes: bool) -> list[dict]:
    rows = []
    for name in names:
        s = make_scene(len(rows) + 7 * len(set_name), 96, 128, night=name.endswith("N"))
        for sub, img in (("ir", s.ir), ("vi", s.vis)):
            (root / set_name / sub).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / set_name / sub / f"{name}.png"), img)
        if boxes:
            (root / set_name / "boxes").mkdir(exist_ok=True)
            text = "\n".join(_yolo_lines(s.labels)) + "\n"
            (root / set_name / "boxes" / f"{name}.txt").write_text(text)
        rows.append(
            {
                "set": set_name,
                "name": name,
                "ir_path": f"{set_name}/ir/{name}.png",
                "vi_path": f"{set_name}/vi/{name}.png",
                "width": 128,
                "height": 96,
                "ir_mode": "I;16",
                "vi_mode": "RGB",
                "split": "train",
            }
        )
    return rows


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _write_camvid(root: Path) -> None:
    """3 train and 2 val scenes in CamVid's layout and label values (8 car, 9 pedestrian)."""
    to_camvid = np.full(256, 3, np.uint8)  # everything else: road
    to_camvid[1], to_camvid[2], to_camvid[4] = 8, 9, 4
    rows = []
    for i, split in enumerate(["train"] * 3 + ["val"] * 2):
        s = make_scene(100 + i, 72, 96)
        labels = to_camvid[s.labels]
        labels[:4] = 11  # void
        for sub, ext, img in (("images", "jpg", s.vis), ("labels", "png", labels)):
            (root / "camvid" / split / sub).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "camvid" / split / sub / f"c{i}.{ext}"), img)
        rows.append(
            {
                "split": split,
                "name": f"c{i}",
                "image_path": f"camvid/{split}/images/c{i}.jpg",
                "label_path": f"camvid/{split}/labels/c{i}.png",
                "width": 96,
                "height": 72,
                "px_car": 0,
                "px_pedestrian": 0,
                "px_bicyclist": 0,
            }
        )
    _write_csv(root / "camvid" / "index.csv", rows)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """manifest.csv (msrs: 4 pairs with boxes, 00002N flagged; roadscene: 3 without)."""
    root = tmp_path_factory.mktemp("data")
    rows = _write_pairs(root, "roadscene", ["r0", "r1", "r2"], boxes=False)
    rows += _write_pairs(root, "msrs", ["00001D", "00002N", "00003D", "00004N"], boxes=True)
    _write_csv(root / "manifest.csv", rows)
    flags = [
        {"set": r["set"], "name": r["name"], "flag": int(r["name"] == "00002N")} for r in rows
    ]
    _write_csv(root / "alignment_check.csv", flags)
    _write_camvid(root)
    return root


def _every_source(data: Path, *extra: str) -> list[str]:
    return [
        *FAST,
        *("--data-manifest", str(data / "manifest.csv"), "--msrs-boxes", "boxes"),
        *("--camvid", str(data / "camvid"), "--synthetic", "2", "--val-real", "1"),
        *("--ir-dropout", "0.5", "--scale", "0.7", "1.3", "--box-repeat", "2"),
        *("--val-camvid", "2", *extra),
    ]


def _log(path: Path) -> list[dict[str, float]]:
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


# ----------------------------------------------------------------------------- losses
def _logits(mask: torch.Tensor, cls: int = 2) -> torch.Tensor:
    """Confident logits: class ``cls`` where ``mask``, background elsewhere."""
    logits = torch.zeros(1, 9, H, W)
    logits[0, 0] = torch.where(mask, 0.0, 8.0)
    logits[0, cls] = torch.where(mask, 8.0, 0.0)
    return logits


def _box(cls: int = 2, x0: float = 8, y0: float = 4, x1: float = 20, y1: float = 28):
    boxes = torch.full((1, 3, 5), -1.0)
    boxes[0, 0] = torch.tensor([cls, x0, y0, x1, y1])
    return boxes


def _box_mask() -> torch.Tensor:
    mask = torch.zeros(H, W, dtype=torch.bool)
    mask[4:28, 8:20] = True
    return mask


def _ellipse() -> torch.Tensor:
    """A silhouette inscribed in the box: touches each of its rows and columns, ~80 % fill."""
    yy, xx = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    return ((xx - 14) / 6) ** 2 + ((yy - 16) / 12) ** 2 <= 1


def test_box_projection_accepts_any_shape_spanning_the_box_not_only_the_box() -> None:
    proj, boxes = BoxProjectionLoss(), _box()
    full, thin = _box_mask(), _ellipse()
    assert thin.sum() < 0.85 * full.sum() and not (thin & ~full).any()
    assert float(proj(_logits(full), boxes)) < 1e-3
    assert float(proj(_logits(thin), boxes)) < 1e-3  # boxes are not masks
    missing = float(proj(_logits(torch.zeros(H, W, dtype=torch.bool)), boxes))
    assert missing > 1.9  # both projections empty: dice 1 + 1
    half = full.clone()
    half[:, 14:] = False  # only the left half of the object
    assert 0.3 < float(proj(_logits(half), boxes)) < missing
    wrong_class = float(proj(_logits(full, cls=1), boxes))  # a car where the person is
    assert wrong_class > 1.9


def test_box_projection_is_zero_without_boxes_and_back_propagates() -> None:
    logits = torch.zeros(2, 9, H, W, requires_grad=True)
    loss = BoxProjectionLoss()(logits, torch.full((2, 4, 5), -1.0))
    loss.backward()
    assert float(loss.detach()) == 0.0 and logits.grad is not None


def test_negative_term_rises_with_the_class_outside_its_boxes() -> None:
    neg, boxes, yes = BoxNegativeLoss(), _box(), torch.tensor([True])
    inside = float(neg(_logits(_box_mask()), boxes, yes))
    spill = _box_mask()
    spill[:, 24:30] = True  # person predicted right of the box too
    assert float(neg(_logits(spill), boxes, yes)) > inside + 0.2  # mean over 3 classes
    assert float(neg(_logits(_ellipse()), boxes, yes)) <= inside + 1e-6
    # a car box does not license a person; an image without box supervision says nothing
    assert float(neg(_logits(_box_mask()), _box(cls=1), yes)) > inside + 0.2
    assert float(neg(_logits(spill), boxes, torch.tensor([False]))) == 0.0


def test_fusion_loss_averages_over_the_samples_with_ir_only() -> None:
    loss = FusionLoss(ssim_weight=0.5)
    fused, vis, ir = torch.rand(3, 2, 1, 16, 16).unbind(0)
    one = loss(fused[:1], vis[:1], ir[:1])
    masked = loss(fused, vis, ir, torch.tensor([True, False]))
    for key in ("fusion", "intensity", "gradient", "ssim"):
        assert float(masked[key]) == pytest.approx(float(one[key]), rel=1e-5)
    fused.requires_grad_(True)
    none = loss(fused, vis, ir, torch.tensor([False, False]))["fusion"]
    none.backward()
    assert float(none.detach()) == 0.0 and fused.grad is not None


def test_camvid_loss_reads_other_pixels_as_not_car_person_bike() -> None:
    loss = KnownClassesCrossEntropy()
    other = torch.zeros(1, H, W, dtype=torch.long)  # CamVid "everything else"
    curve = _logits(torch.ones(H, W, dtype=torch.bool), cls=4)
    person = _logits(torch.ones(H, W, dtype=torch.bool), cls=2)
    assert float(loss(curve, other)) < 0.01  # a curb is not background, but not wrong
    assert float(OhemCrossEntropy()(curve, other)) > 5.0  # as plain labels it would be
    assert float(loss(person, other)) > 5.0
    assert float(loss(person, other + 2)) < 0.01  # known classes: plain cross-entropy


# ----------------------------------------------------------------------------- samples
def _prepared(box: tuple[float, ...], size: tuple[int, int] = (60, 80)) -> Prepared:
    """An image that is > 0.5 exactly on the pixels of ``box`` (cls x0 y0 x1 y1), rising
    from left to right there, so a flip shows."""
    y = np.zeros(size, np.float32)
    _, x0, y0, x1, y1 = (int(v) for v in box)
    y[y0:y1, x0:x1] = np.linspace(0.6, 1.0, x1 - x0, dtype=np.float32)
    boxes = np.asarray([box], np.float32)
    return Prepared(y, y.copy(), np.zeros(size, np.uint8), boxes, True, False)


def test_boxes_follow_scale_crop_and_flip() -> None:
    """Whatever is drawn, a box still covers the pixels it covered; a box cut by the crop
    is clipped to it, one left outside is dropped."""
    box = (2.0, 30.0, 10.0, 50.0, 40.0)
    seen = {"flipped": 0, "kept": 0, "clipped": 0, "dropped": 0}
    for seed in range(60):
        rng = np.random.default_rng(seed)
        s = random_crop_flip(rng, random_scale(rng, _prepared(box), 0.5, 2.0), 32)
        assert s.y.shape == s.ir.shape == s.labels.shape == (32, 32)
        bright = s.y > 0.5
        if len(s.boxes) == 0:
            seen["dropped"] += 1
            assert not bright.any() or min(np.ptp(np.nonzero(bright), 1)) <= 1  # a sliver
            continue
        assert len(s.boxes) == 1 and s.boxes[0, 0] == 2
        x0, y0, x1, y1 = _extent(bright)
        assert np.abs(np.array([x0, y0, x1, y1]) - s.boxes[0, 1:]).max() <= 1.5, seed
        row = s.y[(y0 + y1) // 2]
        seen["flipped"] += bool(row[x0] > row[x1 - 1])
        seen["kept"] += bool(row[x0] < row[x1 - 1])
        seen["clipped"] += bool(np.isin(s.boxes[0, 1:], (0, 32)).any())
    assert all(seen.values()), seen


def _extent(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def test_samples_are_a_pure_function_of_seed_epoch_and_index(tiny_data: Path) -> None:
    cfg = parse_config(_every_source(tiny_data, "--out", "unused"))
    a = training_samples(cfg, real_sources(cfg)[0])
    b = training_samples(cfg, real_sources(cfg)[0])
    n = len(a)
    for key in (0, 5, n - 1, n + 5, 3 * n + 2):
        x, y = a[key], b[key]
        assert x.keys() == y.keys()
        assert all(torch.equal(x[k], y[k]) for k in x), key
    assert not torch.equal(a[5]["vis_y"], a[n + 5]["vis_y"])  # another epoch, another draw


def test_ir_stretch_shows_the_ir_as_the_node_windows_a_16_bit_camera() -> None:
    """--ir-stretch 1: every IR is its frame's 1-99 % percentile stretch, as the engine's
    default window makes of the same image sent as mono16."""
    from mtvif_ros.imaging import IRNormalization, normalize_ir

    ir8 = make_scene(0, 48, 64).ir
    ir8 = ir8 if ir8.dtype == np.uint8 else (ir8 >> 8).astype(np.uint8)
    node = normalize_ir(ir8.astype(np.uint16) * 64, IRNormalization("percentile"))
    ours = normalize_ir(ir8.astype(np.float32) / 255, IRNormalization("percentile"))
    assert np.abs(node - ours).max() < 0.02  # the same window, up to histogram binning
    from mtvif_ros.data import Pair
    from mtvif_ros.train.data import TrainSamples

    scene = make_scene(1, 48, 64)
    dim = (100 + (np.arange(48 * 64) % 41)).reshape(48, 64).astype(np.uint8)  # 100..140
    pair = Pair("dim", dim, scene.vis, scene.labels)
    plain = TrainSamples([[pair]], crop=48, seed=0)[0]["ir"]
    stretched = TrainSamples([[pair]], crop=48, seed=0, ir_stretch=1.0)[0]["ir"]
    assert 0.38 < float(plain.min()) and float(plain.max()) < 0.56  # 100/255 .. 140/255
    assert float(stretched.min()) == 0.0 and float(stretched.max()) == 1.0


def test_has_ir_is_false_for_camvid_and_for_dropped_ir(tiny_data: Path) -> None:
    cfg = parse_config(_every_source(tiny_data, "--ir-dropout", "1", "--out", "unused"))
    data = training_samples(cfg, real_sources(cfg)[0])
    seen = set()
    for key in range(len(data)):
        s = data[key]
        kind, boxed = int(s["source"]), bool(s["has_boxes"])
        seen.add((kind, boxed))
        dropped = kind == SOURCE_CAMVID or (kind == SOURCE_REAL and boxed)
        assert bool(s["has_ir"]) is not dropped, (kind, boxed)
        if dropped:
            assert torch.all(s["ir"] == MISSING_IR)
    # camvid, box-supervised and fusion-only real pairs, synthetic scenes: all present
    assert seen == {(SOURCE_CAMVID, False), (SOURCE_REAL, True), (SOURCE_REAL, False)} | {
        (SOURCE_SYNTHETIC, False)
    }


def test_box_supervision_skips_misregistered_pairs_and_is_never_held_out(
    tiny_data: Path,
) -> None:
    cfg = parse_config(_every_source(tiny_data, "--val-real", "2", "--out", "unused"))
    train, val = real_sources(cfg)
    plain, boxed = train
    assert [n for n, *_ in boxed.pairs.items] == ["msrs/00001D", "msrs/00003D", "msrs/00004N"]
    assert [n for n, *_ in plain.items] == ["roadscene/r0", "msrs/00002N"]  # flagged: fusion
    assert [n for n, *_ in val[0].items] == ["roadscene/r1", "roadscene/r2"]
    cfg.exclude_misregistered = False
    assert len(real_sources(cfg)[0][1]) == 4
    assert all(boxes for boxes in (boxed[i].boxes for i in range(len(boxed))))


# ----------------------------------------------------------------------------- runs
def test_a_run_with_every_source_logs_each_term(tiny_data: Path, tmp_path: Path) -> None:
    Trainer(parse_config(_every_source(tiny_data, "--steps", "4", "--out", str(tmp_path)))).run()
    rows = _log(tmp_path / "log.csv")
    assert len(rows) == 4 and all(k in rows[0] for k in NEW_COLUMNS)
    assert all(np.isfinite(list(r.values())).all() for r in rows)
    assert any(r["seg_camvid"] > 0 for r in rows) and any(r["box_proj"] > 0 for r in rows)
    for r in rows:  # L_seg is the weighted sum of its terms (all weights 1 here)
        parts = r["seg_ce"] + r["seg_camvid"] + r["box_proj"] + r["box_neg"]
        assert r["seg"] == pytest.approx(parts, rel=1e-4, abs=1e-6)
    val = _log(tmp_path / "val.csv")
    assert {"val_camvid_car", "val_camvid_person", "val_camvid_mIoU"} <= set(val[0])
    meta = load_checkpoint(tmp_path / "last.pt").meta
    assert "research use" in meta["data"]["camvid"]["terms"]
    assert meta["data"]["real_pairs_box_supervised"] == 3


def test_resume_with_every_source_is_exact(tiny_data: Path, tmp_path: Path) -> None:
    args = _every_source(tiny_data, "--steps", "6", "--batch-size", "3")
    Trainer(parse_config([*args, "--out", str(tmp_path / "a")])).run()
    b = [*args, "--out", str(tmp_path / "b")]
    Trainer(parse_config([*b, "--stop-after", "3"])).run()
    Trainer(parse_config([*b, "--resume", str(tmp_path / "b" / "train_state.pt")])).run()
    ra, rb = _log(tmp_path / "a" / "log.csv"), _log(tmp_path / "b" / "log.csv")
    assert [r["step"] for r in rb] == list(range(1, 7))
    for x, y in zip(ra[3:], rb[3:], strict=True):
        assert all(x[k] == y[k] for k in ("loss", "box_proj", "seg_camvid", "fusion_samples"))


def test_real_data_trains_a_few_steps(shared_data: Path, tmp_path: Path) -> None:
    """The real manifest (MSRS train pairs with infrared boxes) and CamVid."""
    args = [
        *FAST,
        *("--data-manifest", str(shared_data / "manifest.csv"), "--data-sets", "msrs"),
        *("--msrs-boxes", "boxes", "--camvid", str(shared_data / "camvid")),
        *("--ir-dropout", "0.3", "--synthetic", "2", "--val-real", "1", "--val-camvid", "1"),
        *("--steps", "2", "--crop", "64", "--model", '{"backbone": "multiscale"}'),
        *("--out", str(tmp_path)),
    ]
    trainer = Trainer(parse_config(args))
    trainer.run()
    data = load_checkpoint(tmp_path / "last.pt").meta["data"]
    # 30 MSRS train pairs, 1 held out, 10 misregistered ones without box supervision
    assert data["real_pairs_box_supervised"] + data["real_pairs_fusion_loss_only"] == 29
    assert 19 <= data["real_pairs_box_supervised"] <= 20
    names = {n for s in trainer.data.sources if hasattr(s, "pairs") for n, *_ in s.pairs.items}
    assert names and all(n.startswith("msrs/000") for n in names)
    rows = _log(tmp_path / "log.csv")
    assert len(rows) == 2 and all(np.isfinite(r["loss"]) for r in rows)


def test_camvid_class_weights_weigh_the_rare_classes_pixels_more() -> None:
    """Half the pixels are persons predicted as road, half road predicted as person: with
    person pixels weighing 3, the weighted mean moves toward the person pixels' loss."""
    target = torch.zeros(1, H, W, dtype=torch.long)
    target[:, :, : W // 2] = 2
    logits = _logits(target[0] == 0, cls=2)  # person where it is road and vice versa
    plain = KnownClassesCrossEntropy(thresh=1.0, min_kept_ratio=1.0)(logits, target)
    weighted = KnownClassesCrossEntropy(thresh=1.0, min_kept_ratio=1.0, weights=(1.0, 3.0, 1.0))
    person_px = F.cross_entropy(logits, target, reduction="none")[target == 2].mean()
    other_px = KnownClassesCrossEntropy(thresh=1.0, min_kept_ratio=1.0)(
        logits, target.masked_fill(target == 2, 255)
    )
    expected = (3 * person_px + other_px) / 4
    assert float(weighted(logits, target)) == pytest.approx(float(expected), rel=1e-5)
    assert float(plain) == pytest.approx(float((person_px + other_px) / 2), rel=1e-5)
    with pytest.raises(ValueError, match="3 class weights for 2 known classes"):
        KnownClassesCrossEntropy(known=(1, 2), weights=(1.0, 2.0, 3.0))


def test_camvid_stand_in_ir_goes_through_the_with_ir_path_without_fusion_loss(
    tiny_data: Path,
) -> None:
    """--camvid-ir 1: every CamVid scene gets its own grey image as IR (not MISSING_IR),
    yet has_ir stays False (no fusion loss on a stand-in); 0 keeps MISSING_IR."""
    for prob in (1.0, 0.0):
        cfg = parse_config(_every_source(tiny_data, "--camvid-ir", str(prob), "--out", "x"))
        data = training_samples(cfg, real_sources(cfg)[0])
        camvid = [data[k] for k in range(len(data)) if int(data[k]["source"]) == SOURCE_CAMVID]
        assert camvid and not any(bool(s["has_ir"]) for s in camvid)
        for s in camvid:
            if prob:  # the stand-in is the scene's luma before the visible-only jitter
                both = torch.stack((s["ir"].flatten(), s["vis_y"].flatten()))
                assert float(s["ir"].std()) > 0.02 and float(torch.corrcoef(both)[0, 1]) > 0.9
            else:
                assert torch.all(s["ir"] == MISSING_IR)


def test_held_out_box_pairs_leave_training_and_are_scored(tiny_data: Path, tmp_path: Path) -> None:
    """--val-boxes: those pairs are not trained on (neither as boxes nor for fusion) and
    val.csv gets their box recall/precision; a name outside the training split is refused."""
    args = _every_source(tiny_data, "--val-boxes", "msrs/00003D", "--steps", "2")
    cfg = parse_config([*args, "--out", str(tmp_path)])
    train, _ = real_sources(cfg)
    names = [n for src in train for n, *_ in getattr(src, "pairs", src).items]
    assert "msrs/00003D" not in names and "msrs/00001D" in names
    Trainer(cfg).run()
    val = _log(tmp_path / "val.csv")
    assert {"val_box_person_recall", "val_box_car_precision", "val_box_score"} <= set(val[0])
    assert 0.0 <= val[-1]["val_box_score"] <= 1.0
    bad = parse_config([*_every_source(tiny_data, "--val-boxes", "msrs/nope"), "--out", "y"])
    with pytest.raises(ValueError, match="msrs/nope not in the 'train' split"):
        Trainer(bad)


def test_init_keeps_every_weight_that_fits_a_changed_network() -> None:
    """--init from a checkpoint of another head layout: the backbone and fusion branch
    come from it, the reshaped segmentation branch starts fresh, and the run says which."""
    from mtvif_ros.model import build_model, preset
    from mtvif_ros.train.loop import warm_start

    old = build_model(preset("multiscale"))
    new = build_model(preset("multiscale", seg_stride=4, seg_channels=32))
    report = warm_start(new, old)
    assert "head.to_seg.0.0.weight" in report["new"]
    assert "backbone.vis.stem.0.0.weight" in report["loaded"]
    for name in report["loaded"]:
        assert torch.equal(new.state_dict()[name], old.state_dict()[name])
    with pytest.raises(ValueError, match="no weight of that checkpoint fits"):
        warm_start(new, torch.nn.Linear(2, 2))
