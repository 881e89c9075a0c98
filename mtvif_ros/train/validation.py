"""Validation during training: scores on held-out data, val.csv, and the best checkpoint.

The training loss says how well the batches are fitted; these scores, on pairs never
trained on, choose which weights to keep (best.pt).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from mtvif_ros.classes import IGNORE_INDEX
from mtvif_ros.data.datasets import Pair, PairList
from mtvif_ros.metrics import BoxScores, ConfusionMatrix
from mtvif_ros.tables import write_csv
from mtvif_ros.train.checkpoints import Checkpointer
from mtvif_ros.train.config import TrainConfig
from mtvif_ros.train.data import prepare_pair
from mtvif_ros.train.losses import FusionLoss

CAMVID_IOU = {"car": 1, "person": 2, "bike": 3}  # the classes CamVid labels, MSRS ids


class Validator:
    """Fusion loss on held-out real pairs and synthetic scenes, mIoU on the latter, with
    CamVid the IoU of car, person and bike on a few CamVid val scenes (visible only, fed
    ``MISSING_IR``) and, with held-out box pairs, their box recall and pixel precision.
    Keeps best.pt for the lowest ``val_fusion + (1 − mIoU)``, plus ``(1 −
    val_camvid_mIoU)`` with CamVid, plus ``(1 − val_box_score)`` with box pairs. Rank 0
    alone validates."""

    def __init__(
        self,
        sources: list[Any],
        cfg: TrainConfig,
        device: torch.device,
        checkpoints: Checkpointer,
        camvid: Sequence[Pair] = (),
        boxed: Sequence[Pair] | PairList = (),
    ) -> None:
        self.sources, self.device, self.checkpoints = sources, device, checkpoints
        self.camvid = list(camvid)
        self.boxed = boxed
        self.model: nn.Module = checkpoints.model
        self.num_classes = checkpoints.mcfg.num_classes
        self.fusion_loss = FusionLoss(cfg.gradient_weight, cfg.ssim_weight).to(device)
        self.best = math.inf

    def _run(self, pair: Pair) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
        """(network input, fused, logits, labels) of one pair at its full size."""
        y, ir, labels = prepare_pair(pair)
        t = torch.from_numpy(np.stack((y, ir))[None]).to(self.device)
        fused, logits = self.model(t[:, :1], t[:, 1:])
        return t, fused, logits, labels

    @torch.inference_mode()
    def scores(self) -> dict[str, float]:
        """``val_fusion`` (mean fusion loss) and ``val_mIoU`` (labelled sources only), and
        with CamVid ``val_camvid_<class>`` and their mean ``val_camvid_mIoU``."""
        self.model.eval()
        cm = ConfusionMatrix(self.num_classes)
        losses = []
        for src in self.sources:
            for i in range(len(src)):
                t, fused, logits, labels = self._run(src[i])
                losses.append(float(self.fusion_loss(fused, t[:, :1], t[:, 1:])["fusion"]))
                if (labels != IGNORE_INDEX).any():
                    cm.update(logits.argmax(1)[0].cpu().numpy(), labels)
        out = {"val_fusion": float(np.mean(losses)), "val_mIoU": cm.scores()["mIoU"]}
        if self.camvid:
            out |= self._camvid_scores()
        return out | self._box_scores() if len(self.boxed) else out

    def _camvid_scores(self) -> dict[str, float]:
        cm = ConfusionMatrix(self.num_classes)
        for pair in self.camvid:
            _, _, logits, labels = self._run(pair)
            cm.update(logits.argmax(1)[0].cpu().numpy(), labels)
        iou = cm.iou()
        out = {f"val_camvid_{name}": float(iou[c]) for name, c in CAMVID_IOU.items()}
        values = [v for v in out.values() if math.isfinite(v)]
        out["val_camvid_mIoU"] = float(np.mean(values)) if values else math.nan
        return out

    def _box_scores(self) -> dict[str, float]:
        """Box recall and pixel precision of car, person and bike on the held-out box
        pairs, and ``val_box_score``: the mean over person and car of the lower of the two
        (what a planner needs is both)."""
        boxes = BoxScores()
        for i in range(len(self.boxed)):
            pair = self.boxed[i]
            _, _, logits, _ = self._run(pair)
            boxes.update(logits.argmax(1)[0].cpu().numpy(), pair.box_variants, pair.name)
        scores = boxes.scores()["all"]
        out = {}
        for name, c in CAMVID_IOU.items():
            out[f"val_box_{name}_recall"] = scores[c]["recall"]
            out[f"val_box_{name}_precision"] = scores[c]["precision"]
        out["val_box_score"] = float(
            np.mean(
                [
                    min(_finite(scores[c]["recall"]), _finite(scores[c]["precision"]))
                    for c in (CAMVID_IOU["person"], CAMVID_IOU["car"])
                ]
            )
        )
        return out

    def __call__(self, step: int) -> None:
        """Validate at ``step``: a row of val.csv, and best.pt if the score improved."""
        if self.checkpoints.rank:
            return
        scores = self.scores()
        score = scores["val_fusion"] + (1.0 - _finite(scores["val_mIoU"]))
        row = {
            "step": step,
            "val_fusion": f"{scores['val_fusion']:.5f}",
            "val_mIoU": f"{_finite(scores['val_mIoU']):.4f}",
        }
        if self.camvid:
            score += 1.0 - _finite(scores["val_camvid_mIoU"])
            row |= {k: f"{v:.4f}" for k, v in scores.items() if k.startswith("val_camvid")}
        if len(self.boxed):
            score += 1.0 - scores["val_box_score"]
            row |= {k: f"{_finite(v):.4f}" for k, v in scores.items() if k.startswith("val_box")}
        row["score"] = f"{score:.5f}"
        write_csv(self.checkpoints.out / "val.csv", [row], append=True)
        if score < self.best:
            self.best = score
            self.checkpoints.save("best.pt", step)


def _finite(value: float) -> float:
    """A score that is undefined (NaN: no such class seen) counts as 0."""
    return value if math.isfinite(value) else 0.0
