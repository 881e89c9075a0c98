"""Registered IR/visible pair datasets: manifest CSV, paired folders, MSRS layout, synthetic.

Every dataset yields ``Pair`` objects with arrays in the engine's conventions (IR H×W,
visible BGR H×W×3 or grey H×W, labels H×W uint8 or None). Files are read lazily. Names
present on one side only are not crashed on: they are listed in ``problems`` and skipped.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from mtvif_ros.data.boxes import Box, read_yolo_boxes
from mtvif_ros.data.sample_scene import make_scene

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass
class Pair:
    """One sample: ``ir`` is None for a visible-only scene (e.g. CamVid); ``labels`` are
    pixel labels (MSRS ids, 255 ignored) and ``boxes`` object boxes, where known.
    ``box_variants`` holds the boxes of each annotation variant read (e.g. drawn on the
    infrared and on the visible image), in the order asked for; ``boxes`` is the first."""

    name: str
    ir: np.ndarray | None
    vis: np.ndarray
    labels: np.ndarray | None = None
    boxes: list[Box] | None = None
    box_variants: list[list[Box]] | None = None  # every variant given; boxes is the first


def read_ir(path: Path) -> np.ndarray:
    """IR image as stored (8- or 16-bit single channel; colour files are reduced to grey)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f"cannot read IR image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img


def read_vis(path: Path) -> np.ndarray:
    """Visible image as BGR uint8, or grey uint8 for single-channel files."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f"cannot read visible image {path}")
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return img


def one_line(text: str) -> str:
    """A problem as one line: control characters from the file (a quoted field may hold
    line breaks) shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


MANIFEST_COLUMNS = frozenset({"set", "name", "ir_path", "vi_path"})


class ManifestError(ValueError):
    """A manifest cannot be used at all (unreadable, columns missing); the message says why."""


class PairItem(NamedTuple):
    """One pair's files. Boxes are parsed when the list is built (small text files), so
    their problems are known up front and they travel with the item when lists are sliced
    or joined; ``boxes`` holds one list per variant, or is None."""

    name: str
    ir: Path
    vis: Path
    labels: Path | None = None
    boxes: tuple[list[Box], ...] | None = None


@dataclass
class PairList:
    """A list of ``PairItem`` (plain (name, ir, vis, labels) tuples work too), images read
    on access."""

    items: list[PairItem]
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Pair:
        name, ir, vis, lab, boxes = PairItem(*self.items[i])
        labels = cv2.imread(str(lab), cv2.IMREAD_GRAYSCALE) if lab is not None else None
        variants = [list(v) for v in boxes] if boxes is not None else None
        first = variants[0] if variants else None
        return Pair(name, read_ir(ir), read_vis(vis), labels, first, variants)


def _by_stem(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXTS}


def _pair_folders(ir_dir: Path, vis_dir: Path, lab_dir: Path | None) -> PairList:
    irs, viss = _by_stem(ir_dir), _by_stem(vis_dir)
    labs = _by_stem(lab_dir) if lab_dir is not None else {}
    problems = [
        f"{n}: IR image without a visible partner in {vis_dir}" for n in irs if n not in viss
    ]
    problems += [
        f"{n}: visible image without an IR partner in {ir_dir}" for n in viss if n not in irs
    ]
    names = sorted(set(irs) & set(viss))
    return PairList([PairItem(n, irs[n], viss[n], labs.get(n)) for n in names], problems)


def folder_pairs(root: str | Path) -> PairList:
    """``root/ir``, ``root/vi`` (or ``root/vis``), optional ``root/labels``, matched by stem."""
    root = Path(root)
    vis_dir = root / "vi" if (root / "vi").is_dir() else root / "vis"
    if not (root / "ir").is_dir() or not vis_dir.is_dir():
        raise FileNotFoundError(f"{root}: expected folders ir/ and vi/ (paired by file name)")
    lab = root / "labels"
    return _pair_folders(root / "ir", vis_dir, lab if lab.is_dir() else None)


def msrs_pairs(root: str | Path, split: str = "test") -> PairList:
    """The MSRS release layout: ``root/{train,test}/{vi,ir,Segmentation_labels}/NAME.png``."""
    base = Path(root) / split
    if not (base / "ir").is_dir():
        raise FileNotFoundError(f"{base}: expected the MSRS layout {split}/ir, {split}/vi")
    lab = base / "Segmentation_labels"
    return _pair_folders(base / "ir", base / "vi", lab if lab.is_dir() else None)


def manifest_pairs(
    manifest: str | Path,
    sets: Sequence[str] | None = None,
    split: str | None = None,
    labels_dir: str | None = None,
    boxes_dirs: Sequence[str] = (),
) -> PairList:
    """Rows of a manifest CSV (``set,name,ir_path,vi_path,...,split``), paths relative to it.

    ``labels_dir`` (relative to each set's folder, e.g. ``teacher_labels``) attaches
    label images named like the pair when they exist. ``boxes_dirs`` (e.g. ``boxes``,
    ``boxes_visible``) attach the YOLO boxes of ``<set>/<dir>/<name>.txt``, one variant per
    folder in the order given, in pixels of the row's ``width``×``height``. A pair lacking
    one of the files gets no boxes (a missing file is not "no objects"); that, a set
    without the folder and unreadable lines are listed in ``problems``.
    """
    manifest = Path(manifest)
    root = manifest.parent
    items, problems = [], []
    seen_missing_dirs: set[Path] = set()
    try:
        with open(manifest, newline="") as f:
            reader = csv.DictReader(f)
            lacking = sorted(MANIFEST_COLUMNS - set(reader.fieldnames or ()))
            if lacking:
                raise ManifestError(
                    f"manifest {manifest} lacks the column(s) {', '.join(lacking)}; its first "
                    f"line must name at least {', '.join(sorted(MANIFEST_COLUMNS))}"
                )
            rows = list(enumerate(reader, 2))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"manifest {manifest} cannot be read ({type(exc).__name__})") from None
    for line, row in rows:
        if any(not isinstance(row.get(c), str) or not row[c] for c in MANIFEST_COLUMNS):
            problems.append(f"{manifest.name}:{line}: missing set, name or path; line skipped")
            continue
        if (sets and row["set"] not in sets) or (split and row.get("split") != split):
            continue
        ir, vis = root / row["ir_path"], root / row["vi_path"]
        missing = [str(p) for p in (ir, vis) if not p.is_file()]
        if missing:
            problems.append(one_line(f"{row['name']}: missing {', '.join(missing)}"))
            continue
        lab = None
        if labels_dir:
            cand = root / row["set"] / labels_dir / f"{row['name']}.png"
            lab = cand if cand.is_file() else None
        boxes = None
        if boxes_dirs:
            boxes = _row_boxes(root, row, vis, boxes_dirs, problems, seen_missing_dirs)
        items.append(PairItem(f"{row['set']}/{row['name']}", ir, vis, lab, boxes))
    return PairList(items, problems)


def _row_boxes(
    root: Path,
    row: dict[str, str],
    vis: Path,
    boxes_dirs: Sequence[str],
    problems: list[str],
    missing_dirs: set[Path],
) -> tuple[list[Box], ...] | None:
    """The box variants of one manifest row, or None when a file is missing; problems
    are appended (a set's missing folder once)."""
    width, height = _row_size(row, vis)
    variants = []
    for d in boxes_dirs:
        folder = root / row["set"] / d
        path = folder / f"{row['name']}.txt"
        if not folder.is_dir():
            if folder not in missing_dirs:
                missing_dirs.add(folder)
                problems.append(
                    one_line(f"{row['set']}: no box folder {folder}; its pairs have no boxes")
                )
            return None
        if not path.is_file():
            problems.append(
                one_line(f"{row['set']}/{row['name']}: no box file {path}; pair has no boxes")
            )
            return None
        boxes, bad = read_yolo_boxes(path, width, height)
        problems += bad
        variants.append(boxes)
    return tuple(variants)


def _row_size(row: dict[str, str], vis: Path) -> tuple[int, int]:
    """(width, height) from the manifest's columns, else read from the visible image."""
    try:
        return int(row["width"]), int(row["height"])
    except (KeyError, TypeError, ValueError):
        h, w = read_vis(vis).shape[:2]
        return w, h


@dataclass
class SyntheticScenes:
    """``count`` labelled sample scenes (day/night alternating) from the built-in generator."""

    count: int = 64
    height: int = 240
    width: int = 320
    seed: int = 1000

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> Pair:
        if not 0 <= i < self.count:
            raise IndexError(f"scene {i} of {self.count}")
        s = make_scene(self.seed + i, self.height, self.width, night=bool(i % 2))
        return Pair(s.name, s.ir, s.vis, s.labels)
