"""``mtvif-train``'s command line: one flag per ``TrainConfig`` field, plus ``--config``
(a YAML file of the same names; flags win). Parsing only: nothing here loads torch or
the training loop."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any, NoReturn

import yaml

from mtvif_ros.train.config import TrainConfig, TrainConfigError

USAGE = """\
Single-stage multi-task training of MultiTaskVIF (and two-stage training of the cascade).

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


class _Parser(argparse.ArgumentParser):
    """argparse that raises TrainConfigError instead of exiting the process."""

    def error(self, message: str) -> NoReturn:
        raise TrainConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    """The ``mtvif-train`` flags: one per TrainConfig field, plus ``--config``."""
    p = _Parser(
        prog="mtvif-train",
        description=USAGE,
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
            kind = type(default[0]) if default else str
            p.add_argument(flag, dest=f.name, nargs="*", type=kind, default=None, help=helptext)
        elif isinstance(default, dict):
            p.add_argument(
                flag, dest=f.name, type=json.loads, default=None, help=helptext + " JSON"
            )
        else:
            p.add_argument(flag, dest=f.name, type=type(default), default=None, help=helptext)
    return p


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """Settings from the ``--config`` YAML, then the flags (flags win); validated."""
    args = build_parser().parse_args(argv)
    values: dict[str, Any] = _read_yaml(args.config) if args.config else {}
    values.update({k: v for k, v in vars(args).items() if k != "config" and v is not None})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TrainConfigError(f"unknown training setting(s): {', '.join(unknown)}")
    cfg = TrainConfig(**values)
    cfg.validate()
    return cfg


def _read_yaml(path: str) -> dict[str, Any]:
    """The settings of a YAML file (a mapping); TrainConfigError if unreadable."""
    try:
        with open(path) as f:
            values = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TrainConfigError(f"config (--config) {path}: {exc}") from None
    if not isinstance(values, dict):
        raise TrainConfigError(f"config (--config) {path}: needs a mapping of settings")
    return values
