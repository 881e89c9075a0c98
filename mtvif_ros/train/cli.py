"""Single-stage multi-task training of MultiTaskVIF (and two-stage training of the cascade).

    mtvif-train --data-manifest ../shared/data/manifest.csv --steps 4000 --out runs/mtvif
    mtvif-train --config config/train_robot.yaml --out runs/robot --stop-after 500
    torchrun --nproc_per_node 8 -m mtvif_ros.train --config train.yaml      # many GPUs

One network, one stage: L_total = β1·L_fusion + β2·L_seg, with β2 held at 0 for
``seg_warmup_steps`` and ramped linearly over ``seg_ramp_steps``. Sources, mixed in every
batch, each with its share of an epoch as a setting:
  real pairs (--data-manifest/--data-folders, --real-repeat): the fusion loss;
  their box files (--msrs-boxes, --box-repeat; not for pairs flagged misregistered):
    box supervision of car/person/bike;
  CamVid (--camvid, --camvid-repeat; research use only): visible-only scenes with pixel
    labels, fed MISSING_IR (zeros) as their IR, no fusion loss;
  synthetic scenes (--synthetic): pixel labels of every class.
--ir-dropout feeds MISSING_IR instead of a supervised real pair's IR (its fusion loss off),
so the network segments with either modality. L_fusion is averaged over the samples with
a real IR image; L_seg = L_ce (OHEM, pixel labels) + camvid_weight·L_camvid (its CamVid
form: a pixel that is no car/person/bike is any other class) + box_weight·L_proj (BoxInst
projections inside each box) + box_negative_weight·L_neg (mean −log(1 − p_c) outside
every box of class c). log.csv has a column per term. ``--architecture cascade`` trains
the baseline in its two stages (fusion network, then the U-Net on the frozen fusion
network's output) with the same script, so training cost is measured side by side.

Every random choice of the data pipeline is a function of (seed, epoch, sample index), and
the sampler is a seeded DistributedSampler, so ``--resume`` continues exactly where a run
stopped (model, optimizer, scheduler, step, RNG) and any number of processes see disjoint
shards. Rank 0 alone logs and writes checkpoints.
"""

from __future__ import annotations

import shlex
import sys

import torch.distributed as dist

from mtvif_ros.host_memory import keep_freed_memory_for
from mtvif_ros.train.config import parse_config
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
