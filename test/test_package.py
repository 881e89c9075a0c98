"""Packaging: package.xml, setup.py data files, console scripts, and the demo end to end."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def test_package_xml_is_format3_ament_python_with_required_deps() -> None:
    root = ET.parse(REPO / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "mtvif_ros"
    assert root.find("export/build_type").text == "ament_python"
    exec_deps = {e.text for e in root.findall("exec_depend")}
    required = {
        "rclpy",
        "sensor_msgs",
        "std_msgs",
        "std_srvs",
        "cv_bridge",
        "message_filters",
        "launch",
        "launch_ros",
        "rviz2",
        "diagnostic_msgs",
        "python3-numpy",
        "python3-opencv",
    }
    assert required <= exec_deps
    test_deps = {e.text for e in root.findall("test_depend")}
    assert {"ament_flake8", "python3-pytest"} <= test_deps


def test_versions_agree() -> None:
    import mtvif_ros

    xml_version = ET.parse(REPO / "package.xml").getroot().findtext("version")
    setup_src = (REPO / "setup.py").read_text()
    assert xml_version == mtvif_ros.__version__
    assert f'version="{xml_version}"' in setup_src


def test_setup_installs_ament_marker_and_share_files() -> None:
    tree = ast.parse((REPO / "setup.py").read_text())
    src = ast.unparse(tree)
    assert (REPO / "resource" / "mtvif_ros").is_file()
    for needle in (
        "share/ament_index/resource_index/packages",
        "launch/*.launch.py",
        "config/*",
        "package.xml",
        "weights/*.pt",
    ):
        assert needle in src
    cfg = (REPO / "setup.cfg").read_text()
    assert "install_scripts=$base/lib/mtvif_ros" in cfg


def test_torch_is_pinned_in_requirements() -> None:
    lines = [ln.strip() for ln in (REPO / "requirements.txt").read_text().splitlines()]
    torch_lines = [ln for ln in lines if ln.startswith("torch")]
    assert torch_lines == ["torch==2.13.0"]


def test_offline_demo_writes_fused_and_label_images(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mtvif_ros.tools.demo",
            "--offline",
            "--out",
            str(out),
            "--scene-size",
            "120x160",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    for kind in ("fused", "color", "labels", "overlay"):
        for name in ("sample_day_000", "sample_night_001"):
            img = cv2.imread(str(out / f"{name}_{kind}.png"), cv2.IMREAD_UNCHANGED)
            assert img is not None and img.shape[:2] == (120, 160)
    labels = cv2.imread(str(out / "sample_day_000_labels.png"), cv2.IMREAD_UNCHANGED)
    assert labels.dtype == np.uint8 and labels.ndim == 2 and labels.max() < 9


def test_node_demo_runs_player_node_and_recorder_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("rclpy")
    out = tmp_path / "demo"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mtvif_ros.tools.demo",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--scene-size",
            "96x128",
            "--size",
            "0x0",
            "--frames",
            "12",
            "--rate",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairs_published"] == 12 and summary["pairs_formed"] == 12
    assert summary["outputs_received"] >= 1
    assert summary["outputs_received"] + summary["dropped_superseded"] == 12
    assert summary["e2e_latency_ms_p95"] >= summary["e2e_latency_ms_median"] > 0
    for kind in ("fused", "labels", "overlay", "color"):
        img = cv2.imread(str(out / f"frame00_{kind}.png"), cv2.IMREAD_UNCHANGED)
        assert img is not None and img.shape[:2] == (96, 128), kind
    assert (out / "summary.md").read_text().startswith("| quantity | value |")


def test_demo_reports_bad_checkpoint_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mtvif_ros.tools.demo",
            "--out",
            str(tmp_path),
            "--checkpoint",
            str(tmp_path / "missing.pt"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "missing.pt': file not found" in proc.stderr
