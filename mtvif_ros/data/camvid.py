"""CamVid street scenes as visible-only samples with MSRS class ids.

CamVid (Brostow et al., 2009; research use) has per-pixel labels for real street scenes
but no thermal image. Its Car, Pedestrian and Bicyclist become MSRS car, person and bike,
void becomes ignore, everything else background (unlabelled): CamVid has none of the MSRS
road-marking classes. The samples carry ``ir=None``; the engine and training feed the
network ``MISSING_IR`` for them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mtvif_ros.classes import IGNORE_INDEX
from mtvif_ros.data.datasets import Pair, read_vis

# CamVid (SegNet copy) label values: 0 Sky … 8 Car, 9 Pedestrian, 10 Bicyclist, 11 void
CAMVID_TO_MSRS = np.zeros(256, np.uint8)
CAMVID_TO_MSRS[8], CAMVID_TO_MSRS[9], CAMVID_TO_MSRS[10] = 1, 2, 3
CAMVID_TO_MSRS[11:] = IGNORE_INDEX


@dataclass
class CamVid:
    """The items of one split listed in CamVid's ``index.csv`` (``split,name,image_path,
    label_path,...``; paths relative to the folder above the index's), read on access."""

    index: Path
    split: str = "train"
    items: list[tuple[str, Path, Path]] = field(default_factory=list, init=False)
    problems: list[str] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.index = Path(self.index)
        if self.index.is_dir():
            self.index = self.index / "index.csv"
        if not self.index.is_file():
            raise FileNotFoundError(f"{self.index}: CamVid index.csv not found")
        root = self.index.parent.parent
        with open(self.index, newline="") as f:
            for row in csv.DictReader(f):
                if row["split"] != self.split:
                    continue
                image, label = root / row["image_path"], root / row["label_path"]
                if image.is_file() and label.is_file():
                    self.items.append((row["name"], image, label))
                else:
                    self.problems.append(f"camvid/{row['name']}: image or label file missing")
        if not self.items:
            raise FileNotFoundError(f"{self.index}: no '{self.split}' items found")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Pair:
        name, image, label = self.items[i]
        raw = cv2.imread(str(label), cv2.IMREAD_GRAYSCALE)
        if raw is None:
            raise OSError(f"cannot read CamVid label {label}")
        return Pair(f"camvid/{name}", None, read_vis(image), CAMVID_TO_MSRS[raw])
