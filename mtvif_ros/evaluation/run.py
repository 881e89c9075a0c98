"""Evaluate fusion methods on a dataset: per-image metrics, fused and label images, a grid.

Used by ``mtvif-eval``; pure Python (no rclpy). The network methods run through the same
FusionEngine as the node. Metrics compare the fused image with the *8-bit* IR image the
method saw (16-bit IR is normalized once, with the engine's settings) and the visible image.
Visible-only pairs (``ir=None``, e.g. CamVid) get no fusion metrics (there is no IR to
compare with) and only the network methods; pairs with boxes get box-level scores. The
report (report.md, metrics.csv, bars.png) is made by ``evaluation.report``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mtvif_ros.engine import FusionEngine
from mtvif_ros.evaluation.baselines import FUSERS, fuse_classical
from mtvif_ros.imaging import normalize_ir
from mtvif_ros.metrics import BoxScores, ConfusionMatrix, fusion_metrics

__all__ = ["CLASSICAL", "EvalResult", "Method", "evaluate", "ir_as_uint8"]
CLASSICAL = tuple(FUSERS)


@dataclass
class Method:
    """A named fusion method: a network (engine) or a classical baseline."""

    name: str
    engine: FusionEngine | None = None

    def run(self, ir: np.ndarray | None, vis: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(fused image, labels or None); ``ir=None`` runs a network on the visible image."""
        if self.engine is not None:
            r = self.engine.run(ir, vis)
            return r.fused, r.labels
        return fuse_classical(self.name, ir, vis), None


@dataclass
class EvalResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    confusion: dict[str, ConfusionMatrix] = field(default_factory=dict)
    boxes: dict[str, BoxScores] = field(default_factory=dict)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    skipped: int = 0  # pairs whose files could not be read (named in problems)


def ir_as_uint8(ir: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The 8-bit IR image metrics compare against (normalized, at the visible size)."""
    ir8 = ir if ir.dtype == np.uint8 else (normalize_ir(ir) * 255 + 0.5).astype(np.uint8)
    if ir8.shape != shape:
        ir8 = cv2.resize(ir8, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return ir8


def _safe(name: str) -> str:
    return name.replace("/", "_").replace("\\", "_")


def evaluate(
    dataset: Sequence[Any],
    methods: Sequence[Method],
    out: str | Path,
    grid_count: int = 6,
    save_images: bool = True,
    progress: bool = True,
    box_coverage: float = 0.25,
    box_min_height: float = 16.0,
) -> EvalResult:
    """Run every method on every pair; write images and the grid; return rows, IoUs and
    box scores (``box_coverage``/``box_min_height``: see ``metrics.boxes``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = EvalResult(problems=list(getattr(dataset, "problems", [])))
    scoring = _Scoring(result, out, save_images, box_coverage, box_min_height)
    grid_rows = []
    t_start = time.perf_counter()
    indices = range(len(dataset))
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc="evaluate", unit="pair")
    for i in indices:
        try:
            pair = dataset[i]
        except OSError as exc:  # unreadable file: report by name, go on
            result.problems.append(str(exc))
            result.skipped += 1
            continue
        grid = scoring.pair(pair, methods)
        if len(grid_rows) < grid_count:
            grid_rows.append(_grid_row(grid))
    result.seconds = time.perf_counter() - t_start
    if grid_rows:
        cv2.imwrite(str(out / "grid.png"), np.vstack(grid_rows))
    return result


@dataclass
class _Scoring:
    """Runs the methods on one pair and adds its rows, confusions and box scores."""

    result: EvalResult
    out: Path
    save_images: bool
    box_coverage: float
    box_min_height: float

    def pair(self, pair: Any, methods: Sequence[Method]) -> list[np.ndarray]:
        """Score ``pair`` with every method; → the grid tiles (IR if any, VIS, outputs)."""
        ir8 = None if pair.ir is None else ir_as_uint8(pair.ir, pair.vis.shape[:2])
        grid = [] if ir8 is None else [cv2.cvtColor(ir8, cv2.COLOR_GRAY2BGR)]
        grid.append(_bgr(pair.vis))
        for m in methods:
            if pair.ir is None and m.engine is None:
                note = f"{m.name}: not run on visible-only pairs (a classical fusion needs IR)"
                if note not in self.result.problems:
                    self.result.problems.append(note)
                continue
            t0 = time.perf_counter()
            fused, labels = m.run(pair.ir, pair.vis)
            row = {"image": pair.name, "method": m.name, "ms": 1e3 * (time.perf_counter() - t0)}
            if ir8 is not None:
                row.update(fusion_metrics(fused, ir8, pair.vis))
            self.result.rows.append(row)
            grid.append(fused)
            if labels is not None:
                self._labels(m, pair, labels)
                grid.append(cv2.cvtColor(m.engine.colorize(labels), cv2.COLOR_RGB2BGR))
            if self.save_images:
                _write(self.out / "fused" / m.name / f"{_safe(pair.name)}.png", fused)
        return grid

    def _labels(self, m: Method, pair: Any, labels: np.ndarray) -> None:
        """Accumulate the method's labels against the pair's label image and boxes."""
        if pair.labels is not None:
            cm = self.result.confusion.setdefault(
                m.name, ConfusionMatrix(m.engine.checkpoint.config.num_classes)
            )
            cm.update(labels, pair.labels)
        variants = getattr(pair, "box_variants", None)
        if variants is None and getattr(pair, "boxes", None) is not None:
            variants = [pair.boxes]
        if variants:
            scores = self.result.boxes.setdefault(
                m.name, BoxScores(min_height=self.box_min_height, coverage=self.box_coverage)
            )
            scores.update(labels, variants, pair.name)
        if self.save_images:
            _write(self.out / "labels" / m.name / f"{_safe(pair.name)}.png", labels)


def _bgr(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


def _grid_row(images: list[np.ndarray], box: tuple[int, int] = (160, 213)) -> np.ndarray:
    """Tiles letterboxed into equal boxes, so rows of differently sized pairs stack."""
    bh, bw = box
    tiles = []
    for img in images:
        img = _bgr(img)
        scale = min(bh / img.shape[0], bw / img.shape[1])
        h, w = max(1, round(img.shape[0] * scale)), max(1, round(img.shape[1] * scale))
        tile = np.zeros((bh, bw, 3), np.uint8)
        top, left = (bh - h) // 2, (bw - w) // 2
        tile[top : top + h, left : left + w] = cv2.resize(
            img, (w, h), interpolation=cv2.INTER_AREA
        )
        tiles.append(tile)
    return np.hstack(tiles)


def _write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
