"""The training loop and what it is made of: setup, one step, and the run from step to step."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
import yaml
from torch import nn

from mtvif_ros.engine.device import bf16_native, resolve_device
from mtvif_ros.model import build_model, load_checkpoint
from mtvif_ros.train.checkpoints import Checkpointer, Optimisation, RunInfo
from mtvif_ros.train.config import TrainConfig
from mtvif_ros.train.data import BatchStream
from mtvif_ros.train.objectives import Batch, Objective, build_objectives
from mtvif_ros.train.sources import (
    box_validation,
    camvid_validation,
    data_summary,
    real_sources,
    training_samples,
    validation_sources,
)
from mtvif_ros.train.steplog import StepLogger
from mtvif_ros.train.validation import Validator


def dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) otherwise."""
    return (
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
        int(os.environ.get("LOCAL_RANK", 0)),
    )


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of an ``amp`` setting (None: full precision; CUDA only)."""
    if device.type != "cuda" or amp in ("none", "fp32"):
        return None
    if amp in ("auto", "bf16"):
        return torch.bfloat16 if bf16_native(device) else torch.float16
    return torch.float16


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    """LR factor per step: linear warm-up, then a cosine down to ``min_lr_ratio``."""

    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (
            1 + math.cos(math.pi * min(1.0, t))
        )

    return f


def make_optimisation(model: nn.Module, cfg: TrainConfig, amp: torch.dtype | None) -> Optimisation:
    """Optimiser over every trainable weight (one for all stages), schedule, loss scaler."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        optimizer: torch.optim.Optimizer = torch.optim.AdamW(
            params, lr=cfg.lr, weight_decay=cfg.weight_decay
        )
    else:
        optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg))
    scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
    return Optimisation(optimizer, scheduler, scaler)


class PeakMemory:
    """Peak CUDA memory of the training steps (MiB); 0 on CPU.

    Read on log steps only: the reading needs a device synchronize, which on every step
    would keep the host from queueing the next step's work while the GPU runs this one.
    """

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak = device, 0.0

    def reset(self) -> None:
        """Forget allocations so far (e.g. validation's), keeping the peak already read."""
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def read(self) -> float:
        """The peak so far, after waiting for the device."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = max(self.peak, torch.cuda.max_memory_allocated(self.device) / 2**20)
        return self.peak


def warm_start(model: nn.Module, source: nn.Module) -> dict[str, list[str]]:
    """Copy into ``model`` every weight of ``source`` with the same name and shape, so a
    changed network (e.g. a segmentation branch moved to another scale) keeps the trained
    parts; → ``{"loaded": names, "new": names left at their initialization}``. ValueError
    when nothing matches (not a relative of this network)."""
    theirs = source.state_dict()
    ours = model.state_dict()
    loaded = [k for k, v in ours.items() if k in theirs and theirs[k].shape == v.shape]
    if not loaded:
        raise ValueError("init (--init): no weight of that checkpoint fits this network")
    model.load_state_dict({**ours, **{k: theirs[k] for k in loaded}})
    return {"loaded": loaded, "new": [k for k in ours if k not in set(loaded)]}


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the message names the step, the epoch and the last
    good checkpoint to resume from."""


class Trainer:
    """One training run: MultiTaskVIF in one stage, or the cascade in two, on 1..N processes.

    It exists so that the CLI, the tests and scripts build the same run from a TrainConfig,
    run it, and then inspect it (``model``, ``data``, ``step``, ``out``). The work is done by
    collaborators, each testable on its own: ``stream`` (which batch a step gets, also
    after a resume), the objectives (the loss of a stage, through DDP), ``logger`` (log.csv
    and progress), ``validator`` (val.csv, best.pt) and ``checkpoints`` (last.pt and the
    exact-resume state). Raises TrainConfigError or NoTrainingDataError (both ValueError) for
    settings it cannot train with.
    """

    def __init__(self, cfg: TrainConfig, command: str = "") -> None:
        cfg.validate()
        self.cfg, self.command = cfg, command
        self.rank, self.world, local = dist_info()
        train_real, val_real = real_sources(cfg)
        self.data = training_samples(cfg, train_real)
        self.device = resolve_device(cfg.device, local)
        self.stream = BatchStream(
            self.data, cfg, self.rank, self.world, pin_memory=self.device.type == "cuda"
        )
        self._start_processes()
        self.out = Path(cfg.out)
        self.mcfg = cfg.model_config()
        self.init_report: dict[str, list[str]] = {}
        self.model = self._build_model()
        self.stages = build_objectives(self.model, cfg, self.device, self.world)
        self.amp = amp_dtype(cfg.amp, self.device)
        self.opt = make_optimisation(self.model, cfg, self.amp)
        info = RunInfo(cfg, command, len(self.data), data_summary(cfg, self.data))
        self.checkpoints = Checkpointer(self.out, self.rank, self.model, self.mcfg, self.opt, info)
        self.validator = Validator(
            validation_sources(cfg, val_real),
            cfg,
            self.device,
            self.checkpoints,
            camvid=camvid_validation(cfg) if self.rank == 0 else [],
            boxed=box_validation(cfg) if self.rank == 0 else [],
        )
        self.logger = StepLogger(self.out, cfg, self.rank, self.world)
        self.memory = PeakMemory(self.device)
        self.step = 0
        # the first step whose loss was not finite (-1: none), kept on the device and read
        # on log steps and before every checkpoint, so a healthy run never waits for it
        self._first_bad = torch.full((2,), -1, dtype=torch.long, device=self.device)
        self._last_good: Path | None = None

    def _start_processes(self) -> None:
        """Join the process group (torchrun), pick this process's GPU, determinism."""
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)

    def _build_model(self) -> nn.Module:
        """The network, seeded (identical on every process), optionally from ``init``."""
        torch.manual_seed(self.cfg.seed)
        model = build_model(self.mcfg)
        if self.cfg.init:
            self.init_report = warm_start(model, load_checkpoint(self.cfg.init).model)
        return model.to(self.device)

    def objective(self, step: int) -> Objective:
        """The objective of the stage ``step`` belongs to."""
        return [obj for first, obj in self.stages if first <= step][-1]

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float | torch.Tensor]:
        """One optimisation step on ``batch``; the logged losses (detached tensors, read
        by the logger on log steps only, so the host never waits for the device between
        steps), weights and lr."""
        cfg, opt = self.cfg, self.opt
        self.model.train()
        with torch.autocast(
            self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None
        ):
            losses = self.objective(self.step)(Batch.of(batch, self.device), self.step)
        opt.optimizer.zero_grad(set_to_none=True)
        opt.scaler.scale(losses["loss"]).backward()
        if cfg.grad_clip > 0:
            opt.scaler.unscale_(opt.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        opt.scaler.step(opt.optimizer)
        opt.scaler.update()
        opt.scheduler.step()
        loss = losses["loss"].detach()
        here = torch.tensor([self.step + 1, -1], device=self.device)
        bad = (self._first_bad[0] < 0) & ~torch.isfinite(loss)
        self._first_bad = torch.where(bad, here, self._first_bad)
        row = {k: v.detach() if torch.is_tensor(v) else float(v) for k, v in losses.items()}
        row["lr"] = opt.scheduler.get_last_lr()[0]
        return row

    def run(self) -> Path:
        """Train up to ``steps`` (or ``stop_after`` more), validate, save; path of last.pt."""
        cfg = self.cfg
        self._prepare_out()
        if cfg.resume:
            self.step, self.validator.best = self.checkpoints.load_state(cfg.resume)
        self.logger.start(self.step)
        self.memory.reset()
        stop_at = min(cfg.steps, self.step + cfg.stop_after) if cfg.stop_after else cfg.steps
        batches = self.stream.from_step(self.step)
        started, epoch = time.perf_counter(), None
        while self.step < stop_at:
            new_epoch, batch = next(batches)
            if epoch is not None and new_epoch != epoch and cfg.val_every == 0:
                self._validate()  # the epoch just finished
            epoch = new_epoch
            self._logged_step(batch, epoch, started)
            if self.logger.is_log_step(self.step):
                self._check_finite()
            if cfg.val_every and self.step % cfg.val_every == 0 and self.step < stop_at:
                self._validate()
            if self.step % cfg.ckpt_every == 0 and self.step < cfg.steps:
                self._save()
        self._validate()  # once per chunk end, even where val_every falls on it
        self._save()
        self.logger.close()
        if self.world > 1:
            dist.barrier()
        return self.out / "last.pt"

    def _save(self) -> None:
        """last.pt + train_state.pt, only of weights no non-finite loss has touched."""
        self._check_finite()
        self.checkpoints.save_all(self.step, self.validator.best)
        self._last_good = self.out / "train_state.pt"

    def _check_finite(self) -> None:
        """Stop with TrainingDivergedError if any step so far had a NaN/inf loss."""
        bad_step = int(self._first_bad[0])
        if bad_step < 0:
            return
        self.logger.close()
        resume = (
            f"resume from {self._last_good} (--resume) with a lower --lr or --grad-clip"
            if self._last_good is not None
            else "no checkpoint was written before it; lower --lr and start again"
        )
        bad_epoch, batch = self.stream.position(bad_step)
        raise TrainingDivergedError(
            f"the loss became NaN/inf at step {bad_step} (epoch {bad_epoch}, batch {batch} of "
            f"it); stopped without saving those weights; {resume}"
        )

    def _prepare_out(self) -> None:
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            config = yaml.safe_dump(dataclasses.asdict(self.cfg))
            (self.out / "train_config.yaml").write_text(config)
            if self.init_report:  # which weights came from --init, which start fresh
                (self.out / "init_weights.yaml").write_text(yaml.safe_dump(self.init_report))

    def _logged_step(self, batch: dict[str, torch.Tensor], epoch: int, started: float) -> None:
        """``train_step`` plus its timing and memory, recorded as the step's log row.

        On a log step the device is waited for (``memory.read``) before the clock is read,
        so that row's step time is the device's; other rows (CUDA) time the host's queueing
        and repeat the last peak-memory reading."""
        t0 = time.perf_counter()
        row = self.train_step(batch)
        self.step += 1
        log_step = self.logger.is_log_step(self.step)
        peak = self.memory.read() if log_step else self.memory.peak
        row["step_time_s"] = time.perf_counter() - t0
        row["wall_s"] = time.perf_counter() - started
        row.update(step=self.step, epoch=epoch, peak_mem_mib=peak)
        self.logger.record(row)

    def _validate(self) -> None:
        self.validator(self.step)
        self.memory.reset()  # validation's allocations are not a training step's
