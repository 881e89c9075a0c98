"""Validation curves of a training run: CamVid val IoU and held-out box recall/precision
by step, from the run's ``val.csv`` (what chose its best.pt).

    python benchmarks/plot_validation.py runs/labels/val.csv --out val_curves.png
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PANELS = (
    ("CamVid val IoU", ("val_camvid_car", "val_camvid_person", "val_camvid_bike")),
    (
        "held-out MSRS train pairs: box recall",
        ("val_box_person_recall", "val_box_car_recall", "val_box_bike_recall"),
    ),
    (
        "held-out MSRS train pairs: pixel precision",
        ("val_box_person_precision", "val_box_car_precision", "val_box_bike_precision"),
    ),
    ("selection", ("val_fusion", "score")),
)


def read_rows(path: Path) -> list[dict[str, float]]:
    """The rows of val.csv as numbers; a step validated twice keeps its last row."""
    with open(path, newline="") as f:
        rows = {int(r["step"]): r for r in csv.DictReader(f)}
    return [{k: float(v) for k, v in rows[s].items() if v != ""} for s in sorted(rows)]


def plot(rows: list[dict[str, float]], out: Path, title: str) -> None:
    """One panel per group of columns the run has; the best (lowest) score is marked."""
    panels = [(t, [c for c in cols if c in rows[0]]) for t, cols in PANELS]
    panels = [(t, cols) for t, cols in panels if cols]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    steps = [r["step"] for r in rows]
    best = min(rows, key=lambda r: r.get("score", 0.0))["step"]
    for ax, (name, cols) in zip(axes[0], panels, strict=True):
        for c in cols:
            ax.plot(steps, [r[c] for r in rows], marker="o", ms=3, label=c.split("_", 2)[-1])
        ax.axvline(best, color="grey", lw=0.8, ls="--")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{title} (dashed: best.pt, lowest score)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("val_csv", type=Path)
    ap.add_argument("--out", type=Path, default=Path("val_curves.png"))
    ap.add_argument("--title", default="validation")
    args = ap.parse_args()
    plot(read_rows(args.val_csv), args.out, args.title)
    print(args.out)


if __name__ == "__main__":
    main()
