"""Launch file, params file and rviz config agree with the node (static checks that run
everywhere), plus a launch test where launch_ros is installed."""

from __future__ import annotations

import ast
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from mtvif_ros.settings import DEFAULTS

REPO = Path(__file__).resolve().parents[1]
LAUNCH = REPO / "launch" / "fusion.launch.py"

# the node's topic names, read from its module without importing rclpy
_NODE_SRC = ast.parse((REPO / "mtvif_ros" / "node" / "interfaces.py").read_text())


def _module_dict(tree: ast.Module, name: str):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise KeyError(name)


INPUT_TOPICS = _module_dict(_NODE_SRC, "INPUT_TOPICS")
OUTPUT_TOPICS = _module_dict(_NODE_SRC, "OUTPUT_TOPICS")
_LAUNCH_SRC = ast.parse(LAUNCH.read_text())


def _launch_argument_names() -> set[str]:
    for node in _LAUNCH_SRC.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "ARGUMENTS":
            return {elt.elts[0].value for elt in node.value.elts}
    raise KeyError("ARGUMENTS")


def test_launch_arguments_map_to_real_parameters_and_topics() -> None:
    param_args = _module_dict(_LAUNCH_SRC, "PARAM_ARGS")
    topic_args = _module_dict(_LAUNCH_SRC, "TOPIC_ARGS")
    assert set(param_args.values()) <= set(DEFAULTS)
    assert set(topic_args.values()) == set(INPUT_TOPICS.values())
    declared = _launch_argument_names()
    assert set(param_args) | set(topic_args) <= declared
    assert {"params_file", "namespace", "use_sim_time", "rviz"} <= declared
    assert 'executable="fusion_node"' in LAUNCH.read_text()


def test_console_script_of_the_launch_file_exists() -> None:
    assert "fusion_node = mtvif_ros.node.fusion_node:main" in (REPO / "setup.py").read_text()


def test_rviz_shows_the_node_topics() -> None:
    cfg = yaml.safe_load((REPO / "config" / "fusion.rviz").read_text())
    displays = cfg["Visualization Manager"]["Displays"]
    topics = {d["Topic"]["Value"].lstrip("/") for d in displays if "Topic" in d}
    known = set(INPUT_TOPICS.values()) | set(OUTPUT_TOPICS.values())
    assert topics <= known
    # everything a person looks at is shown (labels are class ids, not an image to view)
    assert {OUTPUT_TOPICS[k] for k in ("fused", "color", "overlay")} <= topics
    assert set(INPUT_TOPICS.values()) <= topics


def test_params_file_is_the_ros2_layout() -> None:
    doc = yaml.safe_load((REPO / "config" / "fusion.yaml").read_text())
    assert list(doc) == ["/**"] and "ros__parameters" in doc["/**"]


def test_launch_file_starts_the_node() -> None:
    """Needs a ROS 2 install (launch_ros, ament index); skipped on pip-only machines."""
    pytest.importorskip("launch_ros", reason="launch_ros comes with a ROS 2 install")
    ros2 = subprocess.run(["which", "ros2"], capture_output=True, text=True).stdout.strip()
    if not ros2:
        pytest.skip("ros2 CLI not found")
    proc = subprocess.Popen(
        [ros2, "launch", str(LAUNCH), "device:=cpu", "rviz:=false"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 90
        seen = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen += line
            if "ready:" in line:
                break
        assert "ready:" in seen, seen[-2000:]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
