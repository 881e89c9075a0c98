"""Training data: crops of real, visible-only and synthetic samples, and the batches of
any step on.

Every random choice is a function of (seed, epoch, sample index) and the sampler is a
seeded DistributedSampler, so a resumed run sees exactly the batches the uninterrupted
run would have, and any number of processes see disjoint shards.

A sample says what supervises it, so one batch mixes sources: ``has_ir`` (the IR input is
a real image, not ``MISSING_IR``: the fusion loss applies), ``labels`` (255 where unknown),
``boxes`` (K×5 ``cls x0 y0 x1 y1`` in crop pixels, cls −1 for padding), ``has_boxes``
(the image has box supervision, even if the crop holds no box) and ``source``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, DistributedSampler

from mtvif_ros.classes import IGNORE_INDEX
from mtvif_ros.data.boxes import Box
from mtvif_ros.data.camvid import CamVid
from mtvif_ros.data.datasets import Pair, SyntheticScenes
from mtvif_ros.imaging import IRNormalization, normalize_ir, split_luma
from mtvif_ros.model.config import MISSING_IR
from mtvif_ros.train.config import TrainConfig

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]

# what a sample is (``source``): a real IR+visible pair, a synthetic scene, a CamVid scene
SOURCE_REAL, SOURCE_SYNTHETIC, SOURCE_CAMVID = 0, 1, 2
MAX_BOXES = 32  # boxes per sample tensor; a crop with more keeps the largest


class NoTrainingDataError(ValueError):
    """The settings select no training sample, or too few for one batch per process."""


@dataclass
class Prepared:
    """A decoded sample before augmentation (real pairs are cached in this form)."""

    y: np.ndarray
    ir: np.ndarray | None  # None: no thermal image (visible-only scene, or dropped)
    labels: np.ndarray  # MSRS ids, 255 unknown
    boxes: np.ndarray  # N×5 float32 cls x0 y0 x1 y1 in pixels (x1, y1 exclusive)
    box_supervised: bool  # the pair has a box file: its box classes lie in its boxes only
    labelled: bool  # the pair has pixel labels
    ir_standin: bool = False  # ir is a stand-in (a visible-only scene's grey image)


def source_kind(source: Any) -> int:
    """SOURCE_* of a dataset: CamVid and synthetic scenes by type, any other is real."""
    if isinstance(source, CamVid):
        return SOURCE_CAMVID
    return SOURCE_SYNTHETIC if isinstance(source, SyntheticScenes) else SOURCE_REAL


class TrainSamples(Dataset):
    """Crops of real pairs, CamVid and synthetic scenes as network tensors.

    Item i of epoch e is a pure function of (seed, e, i): scale, crop, flip, the visible
    photometric jitter and the IR dropout are drawn from ``np.random.default_rng([seed,
    e, i])`` (scale, dropout and the CamVid stand-in IR only when enabled, so other runs
    draw as before). A CamVid scene given a stand-in IR (``camvid_ir``) goes through the
    with-IR path with its own grey image as IR; the photometric jitter, applied to the
    visible image only, makes the two differ.
    """

    def __init__(
        self,
        sources: list[Any],
        crop: int,
        seed: int,
        scale: tuple[float, float] = (1.0, 1.0),
        ir_dropout: float = 0.0,
        ir_stretch: float = 0.0,
        camvid_ir: float = 0.0,
    ) -> None:
        self.sources = sources
        self.ir_stretch, self.camvid_ir = ir_stretch, camvid_ir
        self.index = [(s, i) for s, src in enumerate(sources) for i in range(len(src))]
        self.crop, self.seed, self.scale, self.ir_dropout = crop, seed, scale, ir_dropout
        self.kinds = [source_kind(src) for src in sources]
        # real pairs are few and slow to decode: decoded once here, shared by forked workers
        self.cache: dict[tuple[int, int], Prepared] = {}
        real = [s for s, k in zip(sources, self.kinds, strict=True) if k == SOURCE_REAL]
        for src in {id(s): s for s in real}.values():
            for i in range(len(src)):
                self.cache[(id(src), i)] = prepare_sample(src[i])

    def __len__(self) -> int:
        return len(self.index)

    def _prepared(self, s: int, i: int) -> Prepared:
        src = self.sources[s]
        return self.cache.get((id(src), i)) or prepare_sample(src[i])

    def __getitem__(self, key: int) -> dict[str, torch.Tensor]:
        epoch, k = divmod(key, len(self.index))  # keys are epoch·N + index (EpochBatches)
        s, i = self.index[k]
        rng = np.random.default_rng([self.seed, epoch, k])
        sample = self._prepared(s, i)
        if self.camvid_ir > 0 and self.kinds[s] == SOURCE_CAMVID and rng.random() < self.camvid_ir:
            sample = replace(sample, ir=sample.y, ir_standin=True)
        if self.ir_stretch > 0 and sample.ir is not None and rng.random() < self.ir_stretch:
            # the node's default window of a 16-bit frame: its 1-99 % percentiles
            sample = replace(sample, ir=normalize_ir(sample.ir, IRNormalization("percentile")))
        sample = random_scale(rng, sample, *self.scale)
        sample = random_crop_flip(rng, sample, self.crop)
        sample = replace(sample, y=jitter_luma(rng, sample.y))
        if self._may_drop_ir(sample, self.kinds[s]) and rng.random() < self.ir_dropout:
            sample = replace(sample, ir=None)
        return sample_tensors(sample, self.kinds[s])

    def _may_drop_ir(self, sample: Prepared, kind: int) -> bool:
        """IR dropout is for real pairs that teach segmentation: dropping an unsupervised
        pair's IR would only switch its one loss (fusion) off."""
        supervised = sample.box_supervised or sample.labelled
        return self.ir_dropout > 0 and kind == SOURCE_REAL and supervised and sample.ir is not None


def sample_tensors(sample: Prepared, kind: int) -> dict[str, torch.Tensor]:
    """The tensors of an augmented sample; a missing IR is fed as ``MISSING_IR``.
    ``has_ir`` (the fusion loss applies) only for a real thermal image."""
    y = np.ascontiguousarray(sample.y)
    ir = np.full_like(y, MISSING_IR) if sample.ir is None else np.ascontiguousarray(sample.ir)
    return {
        "vis_y": torch.from_numpy(y)[None],
        "ir": torch.from_numpy(ir)[None],
        "labels": torch.from_numpy(np.ascontiguousarray(sample.labels)).long(),
        "has_ir": torch.tensor(sample.ir is not None and not sample.ir_standin),
        "boxes": torch.from_numpy(pad_boxes(sample.boxes, MAX_BOXES)),
        "has_boxes": torch.tensor(sample.box_supervised),
        "source": torch.tensor(kind),
    }


def prepare_sample(pair: Pair) -> Prepared:
    """Pair → Y and IR in [0, 1] (IR at the visible size, None if absent), labels or all
    ignore, boxes as an array; the engine's conventions."""
    y, _ = split_luma(pair.vis)
    ir = None
    if pair.ir is not None:
        ir = normalize_ir(pair.ir)
        if ir.shape != y.shape:
            ir = cv2.resize(ir, (y.shape[1], y.shape[0]), interpolation=cv2.INTER_LINEAR)
    labelled = pair.labels is not None
    labels = pair.labels if labelled else np.full(y.shape, IGNORE_INDEX, np.uint8)
    boxes = boxes_array(pair.boxes or [])
    return Prepared(y, ir, labels, boxes, pair.boxes is not None, labelled)


def prepare_pair(pair: Pair) -> Arrays:
    """Pair → (Y, IR in [0, 1] at the visible size, labels or all-ignore); a pair without
    IR gets ``MISSING_IR``, as the engine feeds it."""
    s = prepare_sample(pair)
    ir = np.full_like(s.y, MISSING_IR) if s.ir is None else s.ir
    return s.y, ir, s.labels


def boxes_array(boxes: list[Box]) -> np.ndarray:
    """Boxes as an N×5 float32 array ``cls x0 y0 x1 y1``."""
    rows = [(b.cls, b.x0, b.y0, b.x1, b.y1) for b in boxes]
    return np.asarray(rows, np.float32).reshape(-1, 5)


def pad_boxes(boxes: np.ndarray, k: int) -> np.ndarray:
    """A K×5 array: the (at most K largest) boxes, then rows of cls −1."""
    if len(boxes) > k:
        area = (boxes[:, 3] - boxes[:, 1]) * (boxes[:, 4] - boxes[:, 2])
        boxes = boxes[np.sort(np.argsort(-area, kind="stable")[:k])]
    out = np.zeros((k, 5), np.float32)
    out[:, 0] = -1
    out[: len(boxes)] = boxes
    return out


def random_scale(rng: np.random.Generator, s: Prepared, low: float, high: float) -> Prepared:
    """The sample resized by a log-uniform factor in [low, high], so objects are seen at
    several sizes (no draw when low == high)."""
    f = low if high <= low else float(np.exp(rng.uniform(np.log(low), np.log(high))))
    if f == 1.0:
        return s
    h, w = s.y.shape
    size = (max(1, round(w * f)), max(1, round(h * f)))
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    boxes = s.boxes.copy()
    boxes[:, 1::2] *= size[0] / w
    boxes[:, 2::2] *= size[1] / h
    return replace(
        s,
        y=cv2.resize(s.y, size, interpolation=interp),
        ir=None if s.ir is None else cv2.resize(s.ir, size, interpolation=interp),
        labels=cv2.resize(s.labels, size, interpolation=cv2.INTER_NEAREST),
        boxes=boxes,
    )


def random_crop_flip(rng: np.random.Generator, s: Prepared, crop: int) -> Prepared:
    """Same random crop and horizontal flip for images, labels and boxes (pads small
    images with ignore; boxes cut by the crop are clipped, those left outside dropped)."""
    y, ir, labels = s.y, s.ir, s.labels
    h, w = y.shape
    if h < crop or w < crop:
        pad = ((0, max(0, crop - h)), (0, max(0, crop - w)))
        y, labels = np.pad(y, pad), np.pad(labels, pad, constant_values=IGNORE_INDEX)
        ir = None if ir is None else np.pad(ir, pad)
        h, w = y.shape
    top, left = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    sl = (slice(top, top + crop), slice(left, left + crop))
    y, labels, ir = y[sl], labels[sl], None if ir is None else ir[sl]
    flip = rng.random() < 0.5
    if flip:
        y, labels, ir = y[:, ::-1], labels[:, ::-1], None if ir is None else ir[:, ::-1]
    boxes = crop_boxes(s.boxes, top, left, crop, flip)
    return replace(s, y=y, ir=ir, labels=labels, boxes=boxes)


def crop_boxes(boxes: np.ndarray, top: int, left: int, crop: int, flip: bool) -> np.ndarray:
    """Boxes in the coordinates of a ``crop``² window at (top, left), clipped to it, then
    mirrored if ``flip``; a box keeping less than one pixel of width or height is dropped."""
    b = boxes.copy()
    b[:, 1::2] -= left
    b[:, 2::2] -= top
    b[:, 1:] = np.clip(b[:, 1:], 0, crop)
    b = b[(b[:, 3] - b[:, 1] >= 1) & (b[:, 4] - b[:, 2] >= 1)]
    if flip:
        b[:, [1, 3]] = crop - b[:, [3, 1]]
    return b


def jitter_luma(rng: np.random.Generator, y: np.ndarray) -> np.ndarray:
    """Photometric jitter of the visible image only: contrast, brightness, gamma."""
    contrast, brightness = rng.uniform(0.7, 1.3), rng.uniform(-0.1, 0.1)
    gamma = float(np.exp(rng.uniform(-0.3, 0.3)))
    y = np.clip((y - 0.5) * contrast + 0.5 + brightness, 0.0, 1.0)
    return (y**gamma).astype(np.float32)


class EpochBatches:
    """Batches of one epoch of a DistributedSampler, as keys ``epoch·N + index``.

    The key carries the epoch to the (persistent) workers, which draw the augmentation from
    it; ``skip`` starts the epoch that many batches in, for an exact resume mid-epoch.
    """

    def __init__(self, sampler: DistributedSampler, n: int, batch_size: int) -> None:
        self.sampler, self.n, self.batch_size = sampler, n, batch_size
        self.epoch, self.skip = 0, 0

    def __iter__(self) -> Iterator[list[int]]:
        self.sampler.set_epoch(self.epoch)
        batches = BatchSampler(self.sampler, self.batch_size, drop_last=True)
        for batch in itertools.islice(batches, self.skip, None):
            yield [self.epoch * self.n + i for i in batch]

    def __len__(self) -> int:
        return max(0, len(self.sampler) // self.batch_size - self.skip)


class BatchStream:
    """This process's batches from any step on, with the epoch each belongs to.

    Owns the epoch/resume bookkeeping: step s is batch ``s mod steps_per_epoch`` of epoch
    ``s div steps_per_epoch`` of the sampler's shard, so starting at a resumed step yields
    what the uninterrupted run would have. One DataLoader serves every epoch, so persistent
    workers are started once.
    """

    def __init__(
        self, data: TrainSamples, cfg: TrainConfig, rank: int, world: int, pin_memory: bool
    ) -> None:
        self.sampler = DistributedSampler(
            data, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True
        )
        self.steps_per_epoch = len(self.sampler) // cfg.batch_size
        if self.steps_per_epoch == 0:
            raise NoTrainingDataError(
                f"{len(data)} training samples give {len(self.sampler)} per process, fewer "
                f"than batch_size {cfg.batch_size}: lower --batch-size or add data"
            )
        self.plan = EpochBatches(self.sampler, len(data), cfg.batch_size)
        self.loader = DataLoader(
            data,
            batch_sampler=self.plan,
            num_workers=cfg.workers,
            pin_memory=pin_memory,
            persistent_workers=cfg.workers > 0,
        )

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, batch index in it) of the batch that step ``step`` (1-based) trained on."""
        return divmod(step - 1, self.steps_per_epoch)

    def from_step(self, step: int) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
        """Endless (epoch, batch) pairs, the first being the batch of ``step``."""
        while True:
            self.plan.epoch, self.plan.skip = divmod(step, self.steps_per_epoch)
            for batch in self.loader:
                yield self.plan.epoch, batch
                step += 1
