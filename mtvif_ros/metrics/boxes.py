"""Box-level scores of a segmentation against object boxes: weak real labels for car,
person and bike.

Boxes are not masks (a person fills about half of its box), so IoU against them would
mostly measure the box shape. Two one-sided numbers are reported per class instead:

* **box recall**: the share of boxes at least ``min_height`` px tall (default 16) in which
  at least ``coverage`` (default 0.25) of the box's pixels are predicted as the box's
  class. Shorter boxes are left out: at that size the network's output stride blurs them
  away, and most reference segmenters miss them too.
* **pixel precision**: the share of the pixels predicted as a class that lie inside a box
  of that class, pooled over all images (like the dataset-wide confusion matrix).

Read them together: painting a whole box does not hurt precision, and a false positive
outside every box does not hurt recall.

Box variants: the MSRS detection labels were drawn separately on the infrared, visible
and fused images. Recall counts the boxes of the **first** variant given only (use the
infrared one: the most complete, it has the people at night the visible one misses);
counting the union would count one object two or three times, since the variants'
boxes of one object do not coincide. Precision uses the **union** of all given variants,
so a pixel is a false positive only where no annotator put a box of that class.

Scores are kept overall and for day / night images, told apart by the MSRS name suffix
(``00055D``, ``msrs/00004N``); other names count in the overall scores only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mtvif_ros.classes import MSRS_CLASSES
from mtvif_ros.data.boxes import BOX_CLASSES, Box

GROUPS = ("all", "day", "night")
_DAY_NIGHT = re.compile(r"\d([DN])$")


def day_or_night(name: str) -> str | None:
    """'day' or 'night' for an MSRS name (``…D`` / ``…N``, any folder prefix), else None."""
    m = _DAY_NIGHT.search(name.replace("\\", "/").rsplit("/", 1)[-1])
    return None if m is None else {"D": "day", "N": "night"}[m.group(1)]


@dataclass
class BoxCounts:
    """Counts behind one class's scores: boxes scored for recall and how many were found;
    pixels predicted as the class and how many of them lie inside a box of it."""

    boxes: int = 0
    found: int = 0
    predicted: int = 0
    inside: int = 0

    def add(self, other: BoxCounts) -> None:
        self.boxes += other.boxes
        self.found += other.found
        self.predicted += other.predicted
        self.inside += other.inside

    @property
    def recall(self) -> float:
        return self.found / self.boxes if self.boxes else math.nan

    @property
    def precision(self) -> float:
        return self.inside / self.predicted if self.predicted else math.nan


class BoxScores:
    """Box recall and pixel precision per class, accumulated over images and kept per group
    (``all``, ``day``, ``night``): ``counts[group][class id]`` and ``images[group]``."""

    def __init__(
        self,
        classes: Sequence[int] = BOX_CLASSES,
        min_height: float = 16.0,
        coverage: float = 0.25,
    ) -> None:
        self.classes = tuple(classes)
        self.min_height = min_height
        self.coverage = coverage
        self.counts = {g: {c: BoxCounts() for c in self.classes} for g in GROUPS}
        self.images = dict.fromkeys(GROUPS, 0)

    def update(self, pred: np.ndarray, variants: Sequence[Sequence[Box]], name: str) -> None:
        """Score one H×W label image against its box variants (boxes in its pixels; recall
        over ``variants[0]``, precision against the union); ``name`` picks day/night."""
        if pred.ndim != 2:
            raise ValueError(f"predicted labels must be H×W, got {pred.shape}")
        if not variants:
            raise ValueError("at least one box variant is needed (it may be empty)")
        groups = ["all"] + [g for g in (day_or_night(name),) if g]
        for c in self.classes:
            counts = self._image_counts(pred, variants, c)
            for g in groups:
                self.counts[g][c].add(counts)
        for g in groups:
            self.images[g] += 1

    def _image_counts(
        self, pred: np.ndarray, variants: Sequence[Sequence[Box]], cls: int
    ) -> BoxCounts:
        """One image's counts for class ``cls``; boxes clipped to the image, empty ones skipped."""
        h, w = pred.shape
        is_cls = pred == cls
        counts = BoxCounts()
        for box in (b for b in variants[0] if b.cls == cls and b.height >= self.min_height):
            region = is_cls[box.pixels(w, h)]
            if region.size == 0:
                continue
            counts.boxes += 1
            counts.found += int(np.count_nonzero(region) >= self.coverage * region.size)
        in_box = np.zeros_like(is_cls)
        for box in (b for variant in variants for b in variant if b.cls == cls):
            in_box[box.pixels(w, h)] = True
        counts.predicted = int(np.count_nonzero(is_cls))
        counts.inside = int(np.count_nonzero(is_cls & in_box))
        return counts

    def scores(self) -> dict[str, dict[int, dict[str, float]]]:
        """group → class id → recall, precision (NaN when undefined) and the counts."""
        return {
            g: {
                c: {"recall": n.recall, "precision": n.precision, **vars(n)}
                for c, n in per_class.items()
            }
            for g, per_class in self.counts.items()
        }


def _percent(value: float, detail: str = "") -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f}{detail}"


def box_table(scores: Mapping[str, BoxScores]) -> list[str]:
    """Markdown rows, one per method and class: recall % (found/boxes) and precision %
    for all / day / night images."""
    lines = [
        "| method | class | recall all | recall day | recall night "
        "| precision all | precision day | precision night |",
        "|---|---|" + "---:|" * 6,
    ]
    for method, s in scores.items():
        for c in s.classes:
            per_group = [s.counts[g][c] for g in GROUPS]
            recall = [_percent(n.recall, f" ({n.found}/{n.boxes})") for n in per_group]
            precision = [_percent(n.precision) for n in per_group]
            lines.append(
                f"| {method} | {MSRS_CLASSES[c]} | " + " | ".join(recall + precision) + " |"
            )
    return lines
