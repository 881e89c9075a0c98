"""Lint: ruff over the package, tests, launch files and setup.py (ament's flake8 where present)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TARGETS = [
    t for t in ("mtvif_ros", "test", "launch", "benchmarks", "setup.py") if (REPO / t).exists()
]


def test_ruff() -> None:
    """ruff is a dev requirement (make test installs it); colcon test without it skips."""
    pytest.importorskip("ruff", reason="ruff is in requirements-dev.txt")
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", *TARGETS],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ament_flake8() -> None:
    pytest.importorskip("ament_flake8", reason="ament_flake8 comes with a ROS 2 install")
    from ament_flake8.main import main_with_errors

    rc, errors = main_with_errors(argv=[str(REPO / t) for t in TARGETS])
    assert rc == 0, f"{len(errors)} flake8 errors"
