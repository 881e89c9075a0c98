"""Training of MultiTaskVIF (one stage) and of the cascade baseline (two stages).

Public API::

    from mtvif_ros.train import TrainConfig, Trainer, parse_config
    Trainer(parse_config(["--steps", "100", "--out", "runs/x"])).run()

The command line (``mtvif-train``, ``torchrun -m mtvif_ros.train``) is ``cli.main``.
"""

from mtvif_ros.train.args import build_parser, parse_config
from mtvif_ros.train.cli import main
from mtvif_ros.train.config import TrainConfig, TrainConfigError
from mtvif_ros.train.data import NoTrainingDataError, prepare_pair
from mtvif_ros.train.loop import Trainer

__all__ = [
    "NoTrainingDataError",
    "TrainConfig",
    "TrainConfigError",
    "Trainer",
    "build_parser",
    "main",
    "parse_config",
    "prepare_pair",
]
