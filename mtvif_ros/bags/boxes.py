"""Ground-truth object boxes beside a bag: one YOLO file per visible frame, named by stamp.

rosbag2 has no standard message for hand-drawn boxes, so they live in folders next to the
bag, one folder per annotation variant (e.g. drawn on the infrared and on the visible
image): ``<variant>/<stamp_ns>.txt``, where ``stamp_ns`` is the visible image's header stamp
in nanoseconds and the boxes are normalized to the visible image. An optional
``frames.csv`` (``stamp_ns,name``) names each frame's source image, so MSRS day/night
names keep their groups. ``mtvif-bag make --boxes`` writes such folders from a dataset;
``mtvif-bag eval --boxes`` scores the labels the node would publish against them.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from mtvif_ros.data.boxes import Box, format_yolo_boxes, read_yolo_boxes

FRAMES_CSV = "frames.csv"


class BoxFolderWriter:
    """Writes one file per frame and variant, and ``frames.csv`` in every variant folder."""

    def __init__(self, root: str | Path, variants: Sequence[str]) -> None:
        self.dirs = [Path(root) / v for v in variants]
        for d in self.dirs:
            d.mkdir(parents=True, exist_ok=True)
        self._frames: list[tuple[int, str]] = []

    def add(self, stamp_ns: int, name: str, variants: Sequence[list[Box]], size: tuple[int, int]):
        """The boxes of one frame (one list per variant, in the folders' order)."""
        height, width = size
        for d, boxes in zip(self.dirs, variants, strict=True):
            (d / f"{stamp_ns}.txt").write_text(format_yolo_boxes(boxes, width, height))
        self._frames.append((stamp_ns, name))

    def close(self) -> None:
        for d in self.dirs:
            with (d / FRAMES_CSV).open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["stamp_ns", "name"])
                w.writerows(self._frames)


class BoxFolders:
    """Reads the boxes of a frame from variant folders; recall is over the first folder."""

    def __init__(self, dirs: Sequence[str | Path]) -> None:
        self.dirs = [Path(d) for d in dirs]
        for d in self.dirs:
            if not d.is_dir():
                raise FileNotFoundError(
                    f"box folder {d} does not exist; pass folders of <stamp_ns>.txt YOLO files "
                    "(mtvif-bag make --boxes writes them)"
                )
        self.names = _read_frames(self.dirs[0] / FRAMES_CSV)

    def name_of(self, stamp_ns: int) -> str:
        """The frame's source name where frames.csv gives one, else its stamp."""
        return self.names.get(stamp_ns, str(stamp_ns))

    def boxes_for(
        self, stamp_ns: int, width: int, height: int
    ) -> tuple[list[list[Box]] | None, list[str]]:
        """(one box list per variant, problems); None when a variant has no file for the
        frame (a missing file is not "no objects", so the frame is not scored)."""
        paths = [d / f"{stamp_ns}.txt" for d in self.dirs]
        if not all(p.is_file() for p in paths):
            return None, []
        variants, problems = [], []
        for p in paths:
            boxes, bad = read_yolo_boxes(p, width, height)
            variants.append(boxes)
            problems += bad
        return variants, problems


def _read_frames(path: Path) -> dict[int, str]:
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        return {
            int(row["stamp_ns"]): row["name"]
            for row in csv.DictReader(f)
            if row.get("stamp_ns", "").isdigit() and row.get("name")
        }
