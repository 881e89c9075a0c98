"""Segmentation scores from one confusion matrix accumulated over a whole dataset.

Published MSRS tables compute IoU from the dataset-wide confusion matrix (not a mean of
per-image IoUs) and average over all 9 classes, "unlabelled" included; both that mIoU and
the mIoU without class 0 are reported. Pixels labelled ``IGNORE_INDEX`` are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtvif_ros.classes import IGNORE_INDEX, MSRS_CLASSES

# column headers of the field's tables, in MSRS class order
MSRS_SHORT = ("Unl", "Car", "Per", "Bik", "Cur", "CS", "GD", "CC", "Bu")


class ConfusionMatrix:
    """``matrix[t, p]`` counts pixels of true class t predicted as p."""

    def __init__(self, num_classes: int = len(MSRS_CLASSES), ignore_index: int = IGNORE_INDEX):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), np.int64)

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        if pred.shape != target.shape:
            raise ValueError(f"prediction {pred.shape} and target {target.shape} differ in shape")
        t = target.astype(np.int64).ravel()
        p = pred.astype(np.int64).ravel()
        keep = (t != self.ignore_index) & (t < self.num_classes) & (t >= 0)
        n = self.num_classes
        p = np.clip(p[keep], 0, n - 1)
        self.matrix += np.bincount(t[keep] * n + p, minlength=n * n).reshape(n, n)

    def iou(self) -> np.ndarray:
        """Per-class IoU; NaN for a class absent from both target and prediction."""
        tp = np.diag(self.matrix).astype(np.float64)
        union = self.matrix.sum(0) + self.matrix.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / union, np.nan)

    def scores(self) -> dict[str, float]:
        """mIoU (all classes, absent ones skipped), mIoU without class 0, pixel accuracy."""
        iou = self.iou()
        total = self.matrix.sum()
        return {
            "mIoU": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
            "mIoU_no_unlabelled": float(np.nanmean(iou[1:]))
            if np.isfinite(iou[1:]).any()
            else float("nan"),
            "pixel_accuracy": float(np.trace(self.matrix) / total) if total else float("nan"),
        }


def iou_table_row(name: str, cm: ConfusionMatrix) -> str:
    """One Markdown row ``| name | Unl | Car | ... | mIoU |`` with IoU in % (one decimal)."""
    cells = ["-" if np.isnan(v) else f"{100 * v:.1f}" for v in cm.iou()]
    return f"| {name} | " + " | ".join(cells) + f" | {100 * cm.scores()['mIoU']:.1f} |"


def iou_table_header(short: Sequence[str] = MSRS_SHORT) -> str:
    """Header and alignment rows of the table ``iou_table_row`` fills, one column per class."""
    return "| method | " + " | ".join(short) + " | mIoU |\n|---|" + "---:|" * (len(short) + 1)
