"""The record of training steps: log.csv, the progress bar and the loss curve (rank 0).

Every step makes a row; rows are appended to log.csv every ``log_every`` steps, so a long
run costs one small write per interval, and a resumed run continues the same file. Loss
values arrive as device tensors and are read at those steps only: reading one waits for
the device, and doing so every step would stall the host's queueing of the next step.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import torch

from mtvif_ros.tables import write_csv
from mtvif_ros.train.config import TrainConfig

Row = dict[str, float]
StepRow = dict[str, float | torch.Tensor]  # losses still on the device


class StepLogger:
    """Rows of training steps → log.csv, tqdm progress and the history for loss_curve.png.

    Only rank 0 records; on other ranks every method does nothing.
    """

    def __init__(self, out: Path, cfg: TrainConfig, rank: int, world: int) -> None:
        self.path, self.cfg, self.rank, self.world = out / "log.csv", cfg, rank, world
        self.history: list[Row] = []
        self.pending: list[StepRow] = []
        self.columns: list[str] | None = None  # an existing log.csv's, kept when appending
        self.bar: Any = None
        self.t_last, self.n_last = time.perf_counter(), 0

    def start(self, step: int) -> None:
        """Begin at ``step``: history of earlier steps from log.csv, progress bar from there."""
        self.t_last, self.n_last = time.perf_counter(), step
        if self.rank:
            return
        if self.path.is_file():
            with open(self.path) as f:
                reader = csv.DictReader(f)
                self.columns = list(reader.fieldnames or []) or None
                self.history = [
                    {k: float(v) for k, v in row.items()}
                    for row in reader
                    if int(float(row["step"])) < step
                ]
        if self.cfg.progress:
            from tqdm import tqdm

            self.bar = tqdm(total=self.cfg.steps, initial=step, desc="train", dynamic_ncols=True)

    def is_log_step(self, step: int) -> bool:
        """Steps whose rows are written and shown (and the costlier readings taken)."""
        return step % self.cfg.log_every == 0 or step == self.cfg.steps

    def record(self, row: StepRow) -> None:
        """One step's row; read and written to log.csv at log steps."""
        if self.rank:
            return
        step = int(row["step"])
        self.pending.append(row)
        if self.bar is not None:
            self.bar.update(1)
        if self.is_log_step(step):
            rows = self._read_pending()
            if self.bar is not None and step % self.cfg.log_every == 0:
                self._show(rows[-1], step)
            self.flush()

    def _show(self, row: Row, step: int) -> None:
        dt = time.perf_counter() - self.t_last
        ips = (step - self.n_last) * self.cfg.batch_size * self.world / max(dt, 1e-9)
        self.t_last, self.n_last = time.perf_counter(), step
        self.bar.set_postfix(
            loss=f"{row['loss']:.3f}",
            fus=f"{row['fusion']:.3f}",
            seg=f"{row['seg']:.3f}",
            b2=f"{row['beta2']:.2f}",
            img_s=f"{ips:.0f}",
        )

    def _read_pending(self) -> list[Row]:
        """The pending rows with their device values read (one wait for the device)."""
        self.pending = [
            {k: v.item() if torch.is_tensor(v) else v for k, v in row.items()}
            for row in self.pending
        ]
        return self.pending

    def flush(self) -> None:
        """Append the rows not yet written (in an existing file's columns, if it has any)."""
        rows: list[dict[str, Any]] = list(self._read_pending())
        self.history += rows
        if self.columns:
            rows = [{k: r.get(k, "") for k in self.columns} for r in rows]
        write_csv(self.path, rows, append=True)
        self.pending = []

    def close(self) -> None:
        """Write what is pending, draw loss_curve.png, close the progress bar."""
        if self.rank:
            return
        self.flush()
        plot_losses(self.history, self.cfg.architecture, self.path.parent / "loss_curve.png")
        if self.bar is not None:
            self.bar.close()


def plot_losses(history: list[Row], title: str, path: Path) -> None:
    """Total, fusion and segmentation loss per step, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    steps = [r["step"] for r in history]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for key in ("loss", "fusion", "seg"):
        ax.plot(steps, [r[key] for r in history], label=key, lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(f"{title}: training losses")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
