"""The soak benchmark, 1,000 pairs (``-m slow``; off by default: about a minute)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_1000_pair_soak_passes(tmp_path: Path) -> None:
    pytest.importorskip("rclpy", reason="rclpy is installed by make test")
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "soak.py"),
            "--pairs",
            "1000",
            "--every",
            "250",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "**PASS**" in (tmp_path / "soak.md").read_text()
    assert (tmp_path / "soak.png").stat().st_size > 0
