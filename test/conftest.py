"""Shared fixtures. Tests run on CPU; the engine fixture loads the packaged checkpoint once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# DDS isolation: each pytest process gets its own domain (parallel runs must not cross-talk)
# and discovery stays on this host. Set before any rclpy.init, also inherited by subprocesses.
os.environ.setdefault("ROS_DOMAIN_ID", str(10 + os.getpid() % 90))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _deterministic_torch() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def engine():
    from mtvif_ros.engine import FusionEngine

    return FusionEngine(device="cpu")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "manifest.csv").is_file():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="module")
def ros_context():
    """An rclpy context for the module's DDS tests (rclpy imported only where used)."""
    rclpy = pytest.importorskip("rclpy", reason="rclpy is installed by make test")
    rclpy.init()
    yield
    rclpy.try_shutdown()
