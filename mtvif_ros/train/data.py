"""Training data: crops of real and synthetic pairs, and the batches of any step on.

Every random choice is a function of (seed, epoch, sample index) and the sampler is a
seeded DistributedSampler, so a resumed run sees exactly the batches the uninterrupted
run would have, and any number of processes see disjoint shards.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, DistributedSampler

from mtvif_ros.classes import IGNORE_INDEX
from mtvif_ros.data.datasets import Pair, PairList, SyntheticScenes, folder_pairs, manifest_pairs
from mtvif_ros.imaging import normalize_ir, split_luma
from mtvif_ros.train.config import TrainConfig

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]


class NoTrainingDataError(ValueError):
    """The settings select no training sample, or too few for one batch per process."""


class TrainSamples(Dataset):
    """Crops of real (unlabelled) and synthetic (labelled) pairs as network tensors.

    Item i of epoch e is a pure function of (seed, e, i): crop, flips and the visible
    photometric jitter are drawn from ``np.random.default_rng([seed, e, i])``.
    """

    def __init__(self, sources: list[Any], crop: int, seed: int) -> None:
        self.sources = sources
        self.index = [(s, i) for s, src in enumerate(sources) for i in range(len(src))]
        self.crop, self.seed = crop, seed
        # real pairs are few and slow to decode: decoded once here, shared by forked workers
        self.cache: dict[tuple[int, int], Arrays] = {}
        for src in {id(s): s for s in sources if isinstance(s, PairList)}.values():
            for i in range(len(src)):
                self.cache[(id(src), i)] = prepare_pair(src[i])

    def __len__(self) -> int:
        return len(self.index)

    def _prepared(self, s: int, i: int) -> Arrays:
        src = self.sources[s]
        return self.cache.get((id(src), i)) or prepare_pair(src[i])

    def __getitem__(self, key: int) -> dict[str, torch.Tensor]:
        epoch, k = divmod(key, len(self.index))  # keys are epoch·N + index (EpochBatches)
        y, ir, labels = self._prepared(*self.index[k])
        rng = np.random.default_rng([self.seed, epoch, k])
        y, ir, labels = random_crop_flip(rng, y, ir, labels, self.crop)
        y = jitter_luma(rng, y)
        return {
            "vis_y": torch.from_numpy(np.ascontiguousarray(y))[None],
            "ir": torch.from_numpy(np.ascontiguousarray(ir))[None],
            "labels": torch.from_numpy(np.ascontiguousarray(labels)).long(),
        }


def prepare_pair(pair: Pair) -> Arrays:
    """Pair → (Y, IR in [0, 1] at the visible size, labels or all-ignore), engine conventions."""
    y, _ = split_luma(pair.vis)
    ir = normalize_ir(pair.ir)
    if ir.shape != y.shape:
        ir = cv2.resize(ir, (y.shape[1], y.shape[0]), interpolation=cv2.INTER_LINEAR)
    if pair.labels is None:
        labels = np.full(y.shape, IGNORE_INDEX, np.uint8)
    else:
        labels = pair.labels
    return y, ir, labels


def random_crop_flip(
    rng: np.random.Generator, y: np.ndarray, ir: np.ndarray, labels: np.ndarray, crop: int
) -> Arrays:
    """Same random crop and horizontal flip for all three (pads small images with ignore)."""
    h, w = y.shape
    if h < crop or w < crop:
        ph, pw = max(0, crop - h), max(0, crop - w)
        y = np.pad(y, ((0, ph), (0, pw)))
        ir = np.pad(ir, ((0, ph), (0, pw)))
        labels = np.pad(labels, ((0, ph), (0, pw)), constant_values=IGNORE_INDEX)
        h, w = y.shape
    top, left = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    sl = (slice(top, top + crop), slice(left, left + crop))
    y, ir, labels = y[sl], ir[sl], labels[sl]
    if rng.random() < 0.5:
        y, ir, labels = y[:, ::-1], ir[:, ::-1], labels[:, ::-1]
    return y, ir, labels


def jitter_luma(rng: np.random.Generator, y: np.ndarray) -> np.ndarray:
    """Photometric jitter of the visible image only: contrast, brightness, gamma."""
    contrast, brightness = rng.uniform(0.7, 1.3), rng.uniform(-0.1, 0.1)
    gamma = float(np.exp(rng.uniform(-0.3, 0.3)))
    y = np.clip((y - 0.5) * contrast + 0.5 + brightness, 0.0, 1.0)
    return (y**gamma).astype(np.float32)


def real_sources(cfg: TrainConfig) -> tuple[list[PairList], list[PairList]]:
    """(training, validation) real pair lists; the last ``val_real`` pairs are held out."""
    lists = []
    if cfg.data_manifest:
        lists.append(manifest_pairs(cfg.data_manifest, cfg.data_sets or None, cfg.data_split))
    lists += [folder_pairs(f) for f in cfg.data_folders]
    items = [it for pl in lists for it in pl.items]
    n_val = min(cfg.val_real, max(0, len(items) - 1))
    train = PairList(items[: len(items) - n_val]) if items else None
    val = PairList(items[len(items) - n_val :]) if n_val else None
    return [train] if train else [], [val] if val else []


def training_samples(cfg: TrainConfig, train_real: list[PairList]) -> TrainSamples:
    """The training set: real pairs ``real_repeat`` times, then the synthetic scenes."""
    synth = (
        [SyntheticScenes(cfg.synthetic, *cfg.synthetic_size, seed=10_000)] if cfg.synthetic else []
    )
    data = TrainSamples(train_real * cfg.real_repeat + synth, cfg.crop, cfg.seed)
    if len(data) == 0:
        raise NoTrainingDataError(
            "no training data: give --data-manifest/--data-folders or --synthetic N"
        )
    return data


def validation_sources(cfg: TrainConfig, val_real: list[PairList]) -> list[Any]:
    """Held-out real pairs (fusion loss) and synthetic scenes (fusion loss and mIoU)."""
    return [*val_real, SyntheticScenes(cfg.val_synthetic, *cfg.synthetic_size, seed=90_000)]


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

    def from_step(self, step: int) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
        """Endless (epoch, batch) pairs, the first being the batch of ``step``."""
        while True:
            self.plan.epoch, self.plan.skip = divmod(step, self.steps_per_epoch)
            for batch in self.loader:
                yield self.plan.epoch, batch
                step += 1
