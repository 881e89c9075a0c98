"""Training settings: one dataclass read from YAML and ``--flags``, checked before any work.

A setting is refused up front, with its name and what it accepts, so a typo costs nothing
instead of silently training something else (an unknown optimizer used to become Adam)
or failing an hour in.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtvif_ros.model import ModelConfig
from mtvif_ros.params.options import DEVICE_HELP, PRECISIONS, parse_device


class TrainConfigError(ValueError):
    """A training setting that cannot be used; the message names it and what is allowed."""


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
    msrs_boxes: str = field(
        default="",
        metadata={
            "help": "box folder inside each manifest set (e.g. boxes: <set>/boxes/<name>.txt, "
            "YOLO): training pairs with a box file get box supervision; empty: off"
        },
    )
    exclude_misregistered: bool = field(
        default=True,
        metadata={
            "help": "no box supervision for pairs flagged in alignment_check.csv next to "
            "the manifest (their fusion loss stays)"
        },
    )
    box_repeat: int = field(
        default=1,
        metadata={
            "help": "times each box-supervised real pair appears per epoch "
            "(instead of real_repeat)"
        },
    )
    camvid: str = field(
        default="",
        metadata={
            "help": "CamVid folder or its index.csv: visible-only street scenes with pixel "
            "labels (research use only, see the data README); empty: off"
        },
    )
    camvid_split: str = field(
        default="train", metadata={"help": "CamVid split trained on (train | val; test is never)"}
    )
    camvid_repeat: int = field(
        default=1, metadata={"help": "times each CamVid scene appears per epoch"}
    )
    val_camvid: int = field(
        default=8,
        metadata={
            "help": "CamVid val scenes scored for car/person/bike IoU (with camvid, unless "
            "camvid_split is val)"
        },
    )
    camvid_ir: float = field(
        default=0.0,
        metadata={
            "help": "probability that a CamVid scene is given a stand-in IR (its own grey "
            "image) instead of MISSING_IR, so its labels, negatives included, also teach the "
            "with-IR path what objects look like (no fusion loss on it)"
        },
    )
    camvid_class_weights: list[float] = field(
        default_factory=list,
        metadata={
            "help": "weights of car, person, bike pixels in the CamVid loss (every other "
            "pixel 1); empty: all 1"
        },
    )
    val_boxes: list[str] = field(
        default_factory=list,
        metadata={
            "help": "manifest pairs with box files (set/name, e.g. msrs/00002D) held out of "
            "training; validation scores their box recall and pixel precision"
        },
    )
    ir_dropout: float = field(
        default=0.0,
        metadata={
            "help": "probability that a real pair with segmentation supervision (boxes or "
            "labels) gets MISSING_IR instead of its IR; its fusion loss is then off"
        },
    )
    ir_stretch: float = field(
        default=0.0,
        metadata={
            "help": "probability that a pair's IR is shown with the node's default window for "
            "16-bit cameras (1-99 %% percentile stretch of the frame) instead of its 8-bit "
            "scale, so the network expects both"
        },
    )
    crop: int = field(default=160, metadata={"help": "square random crop (px)"})
    scale: list[float] = field(
        default_factory=lambda: [1.0, 1.0],
        metadata={"help": "low high: random (log-uniform) image scale before the crop"},
    )
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
        default=1.0,
        metadata={"help": "weight of the segmentation loss (all its terms) after the ramp"},
    )
    seg_warmup_steps: int = field(default=200, metadata={"help": "steps with β2 = 0"})
    seg_ramp_steps: int = field(default=400, metadata={"help": "steps of the linear β2 ramp"})
    gradient_weight: float = field(default=10.0, metadata={"help": "weight of the gradient term"})
    ssim_weight: float = field(default=0.0, metadata={"help": "optional SSIM term weight"})
    ohem_thresh: float = field(default=0.7, metadata={"help": "OHEM probability threshold"})
    camvid_weight: float = field(
        default=1.0, metadata={"help": "weight of the CamVid pixel-label loss within L_seg"}
    )
    box_weight: float = field(
        default=1.0, metadata={"help": "weight of the box projection loss within L_seg"}
    )
    box_negative_weight: float = field(
        default=1.0,
        metadata={"help": "weight within L_seg of the loss against box classes outside boxes"},
    )
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
    amp: str = field(
        default="auto",
        metadata={
            "help": "autocast precision, the node's words: fp32 | fp16 | bf16 (CUDA only), "
            "or auto (bf16 where the GPU has it); none = fp32"
        },
    )
    seed: int = field(default=0, metadata={"help": "seed of init, sampling and augmentation"})
    deterministic: bool = field(default=False, metadata={"help": "deterministic kernels (slower)"})
    device: str = field(default="auto", metadata={"help": DEVICE_HELP})
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

    def validate(self) -> None:
        """Raise TrainConfigError naming the first unusable setting and what it accepts."""
        for f in dataclasses.fields(self):
            _check_type(f.name, f.type, getattr(self, f.name))
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                _refuse(name, getattr(self, name), f"one of {', '.join(allowed)}")
        for name, bound in BOUNDS.items():
            if not bound.admits(getattr(self, name)):
                _refuse(name, getattr(self, name), bound.text)
        if self.cascade_fusion_steps and self.cascade_fusion_steps >= self.steps:
            _refuse("cascade_fusion_steps", self.cascade_fusion_steps, f"< steps ({self.steps})")
        if len(self.synthetic_size) != 2 or min(self.synthetic_size) < 8:
            _refuse("synthetic_size", self.synthetic_size, "two integers (H W) >= 8")
        self._validate_sources()
        try:
            parse_device(self.device)
        except ValueError:
            _refuse("device", self.device, DEVICE_HELP)
        try:
            self.model_config()
        except (TypeError, ValueError) as exc:
            raise TrainConfigError(f"model (--model): {exc}") from None

    def _validate_sources(self) -> None:
        """The real-supervision settings: paths that exist, a scale range that is one."""
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1] <= 4:
            _refuse("scale", self.scale, "two numbers (low high) with 0 < low <= high <= 4")
        if self.msrs_boxes and not self.data_manifest:
            _refuse("msrs_boxes", self.msrs_boxes, "empty unless data_manifest is set")
        if self.msrs_boxes and Path(self.msrs_boxes).is_absolute():
            _refuse("msrs_boxes", self.msrs_boxes, "a folder name inside each manifest set")
        if self.camvid_class_weights and (
            len(self.camvid_class_weights) != 3 or min(self.camvid_class_weights) <= 0
        ):
            _refuse("camvid_class_weights", self.camvid_class_weights, "three positive numbers")
        if self.val_boxes and not self.msrs_boxes:
            _refuse("val_boxes", self.val_boxes, "empty unless msrs_boxes is set")
        if self.camvid:
            path = Path(self.camvid)
            if not (path.is_file() or (path / "index.csv").is_file()):
                _refuse("camvid", self.camvid, "a CamVid folder with index.csv, or the index")

    def model_config(self) -> ModelConfig:
        """The network to train: the ``model`` overrides with this run's architecture."""
        return ModelConfig.from_dict({**self.model, "architecture": self.architecture})


@dataclass(frozen=True)
class Bound:
    """A numeric range: ``low`` (inclusive unless ``open_low``) up to ``high`` (inclusive)."""

    low: float
    high: float = math.inf
    open_low: bool = False

    def admits(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        return math.isfinite(value) and above and value <= self.high

    @property
    def text(self) -> str:
        low = f"{'>' if self.open_low else '>='} {self.low:g}"
        return low if self.high == math.inf else f"{low} and <= {self.high:g}"


CHOICES: dict[str, tuple[str, ...]] = {
    "architecture": ("multitaskvif", "cascade"),
    "optimizer": ("adamw", "adam"),
    "amp": ("auto", "none", *PRECISIONS),  # none: fp32, the word of earlier versions
    "camvid_split": ("train", "val"),
}

_AT_LEAST_ONE = (
    "steps batch_size log_every ckpt_every real_repeat box_repeat camvid_repeat"
).split()
_AT_LEAST_ZERO = (
    "workers val_real val_synthetic synthetic warmup_steps seg_warmup_steps seg_ramp_steps "
    "cascade_fusion_steps stop_after val_every seed beta1 beta2 weight_decay grad_clip "
    "gradient_weight ssim_weight val_camvid camvid_weight box_weight box_negative_weight"
).split()
BOUNDS: dict[str, Bound] = {
    **{name: Bound(1) for name in _AT_LEAST_ONE},
    **{name: Bound(0) for name in _AT_LEAST_ZERO},
    "crop": Bound(8),
    "lr": Bound(0, open_low=True),
    "min_lr_ratio": Bound(0, 1),
    "ohem_thresh": Bound(0, 1, open_low=True),
    "ir_dropout": Bound(0, 1),
    "ir_stretch": Bound(0, 1),
    "camvid_ir": Bound(0, 1),
}


def _check_type(name: str, kind: str, value: Any) -> None:
    """Refuse a value of the wrong type (YAML gives whatever was written)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": number,
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "list[str]": isinstance(value, list) and all(isinstance(v, str) for v in value),
        "list[int]": isinstance(value, list)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value),
        "list[float]": isinstance(value, list)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value),
        "dict[str, Any]": isinstance(value, dict),
    }[kind]
    if not ok:
        _refuse(name, value, f"a value of type {kind}")


def _refuse(name: str, value: Any, allowed: str) -> None:
    flag = "--" + name.replace("_", "-")
    raise TrainConfigError(f"{name} ({flag}) must be {allowed}, got {value!r}")
