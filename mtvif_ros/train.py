"""Single-stage multi-task training of MultiTaskVIF (and two-stage training of the cascade).

    mtvif-train --data-manifest ../shared/data/manifest.csv --steps 4000 --out runs/mtvif
    torchrun --nproc_per_node 8 -m mtvif_ros.train --config train.yaml      # many GPUs

One network, one stage: L_total = β1·L_fusion + β2·L_seg, with β2 held at 0 for
``seg_warmup_steps`` and ramped linearly over ``seg_ramp_steps``. Real pairs without labels
contribute the fusion loss only; labelled (synthetic) scenes contribute both, in the same
batches. ``--architecture cascade`` trains the baseline in its two stages (fusion network,
then the U-Net on the frozen fusion network's output) with the same script, so training
cost is measured side by side.

Every random choice of the data pipeline is a function of (seed, epoch, sample index), and
the sampler is a seeded DistributedSampler, so ``--resume`` continues exactly where a run
stopped (model, optimizer, scheduler, step, RNG) and any number of processes see disjoint
shards. Rank 0 alone logs and writes checkpoints.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import json
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch.utils.data import BatchSampler, DataLoader, Dataset, DistributedSampler

from mtvif_ros.classes import IGNORE_INDEX
from mtvif_ros.data.datasets import Pair, PairList, SyntheticScenes, folder_pairs, manifest_pairs
from mtvif_ros.host_memory import keep_freed_memory
from mtvif_ros.imaging import normalize_ir, split_luma
from mtvif_ros.losses import FusionLoss, OhemCrossEntropy, seg_weight
from mtvif_ros.metrics import ConfusionMatrix
from mtvif_ros.model import ModelConfig, build_model, load_checkpoint, save_checkpoint


@dataclass
class TrainConfig:
    """Every training setting; YAML keys and ``--flags`` use these names."""

    # data
    data_manifest: str = field(
        default="", metadata={"help": "manifest CSV of real pairs (fusion loss)"}
    )
    data_split: str = field(default="train", metadata={"help": "manifest split used for training"})
    data_sets: list[str] = field(
        default_factory=list, metadata={"help": "manifest sets (empty: all)"}
    )
    data_folders: list[str] = field(
        default_factory=list, metadata={"help": "paired folders ir/ vi/ [labels/]"}
    )
    real_repeat: int = field(
        default=1, metadata={"help": "times each real pair appears per epoch"}
    )
    val_real: int = field(
        default=8, metadata={"help": "real pairs held out (from the end) for validation"}
    )
    synthetic: int = field(default=512, metadata={"help": "labelled synthetic scenes per epoch"})
    synthetic_size: list[int] = field(
        default_factory=lambda: [240, 320], metadata={"help": "H W of synthetic scenes"}
    )
    val_synthetic: int = field(default=16, metadata={"help": "synthetic validation scenes (mIoU)"})
    crop: int = field(default=160, metadata={"help": "square random crop (px)"})
    batch_size: int = field(default=8, metadata={"help": "per process"})
    workers: int = field(default=2, metadata={"help": "data loader workers per process"})
    # model
    architecture: str = field(default="multitaskvif", metadata={"help": "multitaskvif | cascade"})
    model: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "ModelConfig overrides (YAML)"}
    )
    init: str = field(default="", metadata={"help": "start from this checkpoint's weights"})
    # loss
    beta1: float = field(default=1.0, metadata={"help": "weight of the fusion loss"})
    beta2: float = field(
        default=1.0, metadata={"help": "weight of the segmentation loss after the ramp"}
    )
    seg_warmup_steps: int = field(default=200, metadata={"help": "steps with β2 = 0"})
    seg_ramp_steps: int = field(default=400, metadata={"help": "steps of the linear β2 ramp"})
    gradient_weight: float = field(default=10.0, metadata={"help": "weight of the gradient term"})
    ssim_weight: float = field(default=0.0, metadata={"help": "optional SSIM term weight"})
    ohem_thresh: float = field(default=0.7, metadata={"help": "OHEM probability threshold"})
    cascade_fusion_steps: int = field(
        default=0, metadata={"help": "cascade stage 1 steps (0: half)"}
    )
    # optimisation
    optimizer: str = field(default="adamw", metadata={"help": "adamw | adam"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate"})
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay"})
    warmup_steps: int = field(default=100, metadata={"help": "linear LR warm-up steps"})
    min_lr_ratio: float = field(
        default=0.05, metadata={"help": "cosine floor as a fraction of lr"}
    )
    steps: int = field(default=2000, metadata={"help": "total optimisation steps"})
    grad_clip: float = field(default=1.0, metadata={"help": "max gradient norm (0: off)"})
    amp: str = field(default="auto", metadata={"help": "auto | none | bf16 | fp16 (CUDA only)"})
    seed: int = field(default=0, metadata={"help": "seed of init, sampling and augmentation"})
    deterministic: bool = field(default=False, metadata={"help": "deterministic kernels (slower)"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda"})
    # output
    out: str = field(default="runs/mtvif", metadata={"help": "output folder"})
    ckpt_every: int = field(default=500, metadata={"help": "checkpoint every N steps"})
    log_every: int = field(default=10, metadata={"help": "CSV log row every N steps"})
    val_every: int = field(default=0, metadata={"help": "validate every N steps (0: each epoch)"})
    stop_after: int = field(
        default=0, metadata={"help": "end this invocation after N steps (chunks; resume later)"}
    )
    resume: str = field(default="", metadata={"help": "train_state.pt to continue from"})
    progress: bool = field(default=True, metadata={"help": "tqdm progress bar"})


# --------------------------------------------------------------------------- data
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
        self.cache: dict[tuple[int, int], tuple] = {}
        for src in {id(s): s for s in sources if isinstance(s, PairList)}.values():
            for i in range(len(src)):
                self.cache[(id(src), i)] = prepare_pair(src[i])

    def __len__(self) -> int:
        return len(self.index)

    def _prepared(self, s: int, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def prepare_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def random_crop_flip(rng, y, ir, labels, crop: int):
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


def jitter_luma(rng, y: np.ndarray) -> np.ndarray:
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

    def __iter__(self):
        self.sampler.set_epoch(self.epoch)
        batches = BatchSampler(self.sampler, self.batch_size, drop_last=True)
        for batch in itertools.islice(batches, self.skip, None):
            yield [self.epoch * self.n + i for i in batch]

    def __len__(self) -> int:
        return max(0, len(self.sampler) // self.batch_size - self.skip)


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


# --------------------------------------------------------------------------- setup
def dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) otherwise."""
    return (
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
        int(os.environ.get("LOCAL_RANK", 0)),
    )


def pick_device(spec: str, local_rank: int) -> torch.device:
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device(spec)


def amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or cfg.amp == "none":
        return None
    if cfg.amp in ("auto", "bf16"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16


def lr_lambda(cfg: TrainConfig):
    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (
            1 + math.cos(math.pi * min(1.0, t))
        )

    return f


def model_config(cfg: TrainConfig) -> ModelConfig:
    return ModelConfig.from_dict({**cfg.model, "architecture": cfg.architecture})


# --------------------------------------------------------------------------- loop
class Trainer:
    def __init__(self, cfg: TrainConfig, command: str = "") -> None:
        self.cfg, self.command = cfg, command
        self.rank, self.world, local = dist_info()
        self.device = pick_device(cfg.device, local)
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        torch.manual_seed(cfg.seed)
        self.out = Path(cfg.out)
        self.mcfg = model_config(cfg)
        self.model = build_model(self.mcfg)
        if cfg.init:
            self.model.load_state_dict(load_checkpoint(cfg.init).model.state_dict())
        self.model.to(self.device)
        self.ddp = (
            torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
            if self.world > 1
            else self.model
        )
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        wd = cfg.weight_decay if cfg.optimizer == "adamw" else 0.0
        self.optimizer = opt_cls(params, lr=cfg.lr, weight_decay=wd)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(cfg))
        self.fusion_loss = FusionLoss(cfg.gradient_weight, cfg.ssim_weight).to(self.device)
        self.seg_loss = OhemCrossEntropy(cfg.ohem_thresh)
        self.amp = amp_dtype(cfg, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == torch.float16)
        train_real, self.val_real = real_sources(cfg)
        synth = (
            [SyntheticScenes(cfg.synthetic, *cfg.synthetic_size, seed=10_000)]
            if cfg.synthetic
            else []
        )
        self.data = TrainSamples(train_real * cfg.real_repeat + synth, cfg.crop, cfg.seed)
        if len(self.data) == 0:
            raise SystemExit(
                "no training data: give --data-manifest/--data-folders or --synthetic N"
            )
        self.val_synth = SyntheticScenes(cfg.val_synthetic, *cfg.synthetic_size, seed=90_000)
        self.sampler = DistributedSampler(
            self.data,
            num_replicas=self.world,
            rank=self.rank,
            shuffle=True,
            seed=cfg.seed,
            drop_last=True,
        )
        self.steps_per_epoch = max(1, len(self.sampler) // cfg.batch_size)
        self.step = 0
        self.best = math.inf
        self.history: list[dict[str, float]] = []
        self.cascade_split = cfg.cascade_fusion_steps or cfg.steps // 2

    # -- checkpoints -------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        real = [str(p) for p in ([self.cfg.data_manifest] if self.cfg.data_manifest else [])]
        return {
            "trained": True,
            "description": f"{self.cfg.architecture} trained {self.step} steps by mtvif-train",
            "steps": self.step,
            "command": self.command,
            "train_config": json.loads(json.dumps(dataclasses.asdict(self.cfg))),
            "data": {
                "real_pairs_fusion_loss_only": (len(self.data) - self.cfg.synthetic)
                // max(1, self.cfg.real_repeat),
                "real_sources": real + list(self.cfg.data_folders),
                "real_split": self.cfg.data_split,
                "synthetic_labelled_scenes_per_epoch": self.cfg.synthetic,
            },
        }

    def save(self, name: str) -> None:
        if self.rank:
            return
        save_checkpoint(self.out / name, self.model, self.mcfg, self.meta())

    def save_state(self) -> None:
        if self.rank:
            return
        state = {
            "step": self.step,
            "best": self.best,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "config": dataclasses.asdict(self.cfg),
        }
        tmp = self.out / "train_state.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.out / "train_state.pt")

    def load_state(self, path: str) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.step, self.best = int(state["step"]), float(state["best"])
        csv_path = self.out / "log.csv"
        if csv_path.is_file():
            with open(csv_path) as f:
                self.history = [
                    {k: float(v) for k, v in row.items()}
                    for row in csv.DictReader(f)
                    if int(float(row["step"])) < self.step
                ]

    # -- one step ------------------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        vis = batch["vis_y"].to(self.device, non_blocking=True)
        ir = batch["ir"].to(self.device, non_blocking=True)
        labels = batch["labels"].to(self.device, non_blocking=True)
        beta2 = seg_weight(self.step, cfg.beta2, cfg.seg_warmup_steps, cfg.seg_ramp_steps)
        self.ddp.train()
        with torch.autocast(
            self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None
        ):
            if cfg.architecture == "cascade":
                model = self.model
                if self.step < self.cascade_split:  # stage 1: the fusion network alone
                    fused = model.fusion(vis, ir)
                    parts = self.fusion_loss(fused, vis, ir)
                    seg = torch.zeros((), device=self.device)
                    total = cfg.beta1 * parts["fusion"]
                else:  # stage 2: segmenter on the frozen fusion network's output
                    with torch.no_grad():
                        fused = model.fusion(vis, ir)
                    parts = self.fusion_loss(fused, vis, ir)
                    seg = self.seg_loss(model.segmenter(fused), labels)
                    total = seg
                    beta2 = 1.0
            else:
                fused, logits = self.ddp(vis, ir)
                parts = self.fusion_loss(fused, vis, ir)
                seg = self.seg_loss(logits, labels)
                total = cfg.beta1 * parts["fusion"] + beta2 * seg
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return {
            "loss": total.item(),
            "fusion": parts["fusion"].item(),
            "intensity": parts["intensity"].item(),
            "gradient": parts["gradient"].item(),
            "seg": seg.item(),
            "beta2": beta2,
            "lr": self.scheduler.get_last_lr()[0],
        }

    # -- validation -----------------------------------------------------------------
    @torch.inference_mode()
    def validate(self) -> dict[str, float]:
        """Fusion loss on held-out real pairs and synthetic scenes; mIoU on the latter."""
        self.model.eval()
        cm = ConfusionMatrix(self.mcfg.num_classes)
        losses = []
        for src in [*self.val_real, self.val_synth]:
            for i in range(len(src)):
                y, ir, labels = prepare_pair(src[i])
                t = torch.from_numpy(np.stack((y, ir))[None]).to(self.device)
                fused, logits = self.model(t[:, :1], t[:, 1:])
                losses.append(float(self.fusion_loss(fused, t[:, :1], t[:, 1:])["fusion"]))
                if (labels != IGNORE_INDEX).any():
                    cm.update(logits.argmax(1)[0].cpu().numpy(), labels)
        scores = cm.scores()
        return {"val_fusion": float(np.mean(losses)), "val_mIoU": scores["mIoU"]}

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> Path:
        cfg = self.cfg
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "train_config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg)))
        if cfg.resume:
            self.load_state(cfg.resume)
        bar = None
        if self.rank == 0 and cfg.progress:
            from tqdm import tqdm

            bar = tqdm(total=cfg.steps, initial=self.step, desc="train", dynamic_ncols=True)
        log_rows: list[dict[str, float]] = []
        epoch = -1
        batches = None
        plan = EpochBatches(self.sampler, len(self.data), cfg.batch_size)
        loader = DataLoader(
            self.data,
            batch_sampler=plan,
            num_workers=cfg.workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=cfg.workers > 0,
        )
        t_last, n_last = time.perf_counter(), self.step
        peak_mem = 0.0
        started = time.perf_counter()
        stop_at = min(cfg.steps, self.step + cfg.stop_after) if cfg.stop_after else cfg.steps
        while self.step < stop_at:
            e, within = divmod(self.step, self.steps_per_epoch)
            if e != epoch or batches is None:
                if epoch >= 0 and cfg.val_every == 0:
                    self.after_validation(self.validate())
                epoch = e
                plan.epoch, plan.skip = epoch, within
                batches = iter(loader)
            try:
                batch = next(batches)
            except StopIteration:  # epoch done: the next loop turn starts the next epoch
                batches = None
                continue
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.device)
            t0 = time.perf_counter()
            row = self.train_step(batch)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
                peak_mem = max(peak_mem, torch.cuda.max_memory_allocated(self.device) / 2**20)
            row["step_time_s"] = time.perf_counter() - t0
            row["wall_s"] = time.perf_counter() - started
            self.step += 1
            row["step"] = self.step
            row["epoch"] = epoch
            row["peak_mem_mib"] = peak_mem
            if self.rank == 0:
                self.history.append(row)
                log_rows.append(row)
                if bar is not None:
                    bar.update(1)
                    if self.step % cfg.log_every == 0:
                        dt = time.perf_counter() - t_last
                        ips = (self.step - n_last) * cfg.batch_size * self.world / max(dt, 1e-9)
                        t_last, n_last = time.perf_counter(), self.step
                        bar.set_postfix(
                            loss=f"{row['loss']:.3f}",
                            fus=f"{row['fusion']:.3f}",
                            seg=f"{row['seg']:.3f}",
                            b2=f"{row['beta2']:.2f}",
                            img_s=f"{ips:.0f}",
                        )
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    self.write_log(log_rows)
                    log_rows = []
            if cfg.val_every and self.step % cfg.val_every == 0:
                self.after_validation(self.validate())
            if self.step % cfg.ckpt_every == 0 and self.step < cfg.steps:
                self.save("last.pt")
                self.save_state()
        self.after_validation(self.validate())
        self.save("last.pt")
        self.save_state()
        if self.rank == 0:
            self.write_log(log_rows)
            self.plot()
        if bar is not None:
            bar.close()
        if self.world > 1:
            dist.barrier()
        return self.out / "last.pt"

    def after_validation(self, scores: dict[str, float]) -> None:
        """Log validation; keep a copy of the best checkpoint (lowest fusion loss + 1 − mIoU)."""
        if self.rank:
            return
        miou = scores["val_mIoU"] if math.isfinite(scores["val_mIoU"]) else 0.0
        score = scores["val_fusion"] + (1.0 - miou)
        with open(self.out / "val.csv", "a", newline="") as f:
            w = csv.writer(f)
            if f.tell() == 0:
                w.writerow(["step", "val_fusion", "val_mIoU", "score"])
            w.writerow([self.step, f"{scores['val_fusion']:.5f}", f"{miou:.4f}", f"{score:.5f}"])
        if score < self.best:
            self.best = score
            self.save("best.pt")

    def write_log(self, rows: list[dict[str, float]]) -> None:
        if not rows:
            return
        path = self.out / "log.csv"
        new = not path.is_file()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            if new:
                w.writeheader()
            w.writerows(rows)

    def plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if not self.history:
            return
        steps = [r["step"] for r in self.history]
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for key in ("loss", "fusion", "seg"):
            ax.plot(steps, [r[key] for r in self.history], label=key, lw=0.8)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_yscale("log")
        ax.set_title(f"{self.cfg.architecture}: training losses")
        ax.legend()
        fig.tight_layout()
        fig.savefig(self.out / "loss_curve.png", dpi=120)
        plt.close(fig)


# --------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mtvif-train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", help="YAML file with any of the settings below (flags win)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        helptext = f"{f.metadata.get('help', '')} (default: {default!r})"
        if f.type in ("bool", bool):
            p.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=helptext,
            )
        elif isinstance(default, list):
            kind = int if default and isinstance(default[0], int) else str
            p.add_argument(flag, dest=f.name, nargs="*", type=kind, default=None, help=helptext)
        elif isinstance(default, dict):
            p.add_argument(
                flag, dest=f.name, type=json.loads, default=None, help=helptext + " JSON"
            )
        else:
            p.add_argument(flag, dest=f.name, type=type(default), default=None, help=helptext)
    return p


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    args = build_parser().parse_args(argv)
    values: dict[str, Any] = {}
    if args.config:
        with open(args.config) as f:
            values.update(yaml.safe_load(f) or {})
    values.update({k: v for k, v in vars(args).items() if k != "config" and v is not None})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SystemExit(f"unknown training setting(s): {', '.join(unknown)}")
    cfg = TrainConfig(**values)
    if cfg.architecture not in ("multitaskvif", "cascade"):
        raise SystemExit(f"--architecture {cfg.architecture}: use multitaskvif or cascade")
    return cfg


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()
    argv = sys.argv[1:] if argv is None else argv
    cfg = parse_config(argv)
    trainer = Trainer(cfg, command="mtvif-train " + shlex.join(argv))
    path = trainer.run()
    if trainer.rank == 0:
        print(f"done: {trainer.step} steps; checkpoint {path}, best {trainer.out / 'best.pt'}")
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
