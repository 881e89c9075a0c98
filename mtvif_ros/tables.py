"""Per-row results as CSV files and mean ± std cells: one way for every report.

Evaluation, bag evaluation and training all keep results as rows of dicts; they write them
and summarize them here so a CSV or a table cell reads the same whichever tool made it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def write_csv(path: str | Path, rows: Sequence[Mapping[str, Any]], append: bool = False) -> None:
    """Write ``rows`` (columns from the first row) to ``path``; ``append`` adds to an
    existing file and writes the header only when the file is new. No rows: no file."""
    if not rows:
        return
    path = Path(path)
    new = not (append and path.is_file())
    with open(path, "a" if append else "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)


def finite_mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """(mean, population std, count) of the finite values; NaN, NaN, 0 when none is.

    Metrics such as SCD are undefined (NaN) for some methods and pairs; they are left out
    and the count says how many remained.
    """
    v = np.asarray(list(values), np.float64)
    v = v[np.isfinite(v)]
    if not v.size:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std()), int(v.size)


def mean_std_cell(values: Iterable[float], digits: int = 3) -> str:
    """'mean ± std' of the finite values with ``digits`` decimals, or 'n/a'."""
    mean, std, n = finite_mean_std(values)
    return "n/a" if n == 0 else f"{mean:.{digits}f} ± {std:.{digits}f}"
