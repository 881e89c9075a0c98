"""``mtvif-train`` and ``torchrun -m mtvif_ros.train``: parse (``train.args``, whose
``USAGE`` is the help text), build the ``Trainer``, run it, and turn its failures into
exit statuses."""

from __future__ import annotations

import shlex
import sys

import torch.distributed as dist

from mtvif_ros.host_memory import keep_freed_memory_for
from mtvif_ros.train.args import parse_config
from mtvif_ros.train.loop import Trainer, TrainingDivergedError


def main(argv: list[str] | None = None) -> int:
    """``mtvif-train``: 0 when trained, 2 (with ``error: …`` on stderr) for bad settings,
    3 when the loss became NaN/inf (the line names the step and the checkpoint to resume)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        return _train(argv)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _train(argv: list[str]) -> int:
    try:
        config = parse_config(argv)
        keep_freed_memory_for(config.device)
        trainer = Trainer(config, command="mtvif-train " + shlex.join(argv))
    except ValueError as exc:  # TrainConfigError, NoTrainingDataError, an unusable device
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 2
    try:
        path = trainer.run()
    except TrainingDivergedError as exc:
        print("error: " + str(exc), file=sys.stderr)
        return 3
    if trainer.rank == 0:
        print(f"done: {trainer.step} steps; checkpoint {path}, best {trainer.out / 'best.pt'}")
    return 0
