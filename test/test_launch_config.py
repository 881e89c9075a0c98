"""Launch file, params file and rviz config agree with the node (static checks that run
everywhere), plus a launch test where launch_ros is installed."""

from __future__ import annotations

import ast
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from mtvif_ros.params.settings import DEFAULTS

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
OUTPUT_INFO_TOPICS = _module_dict(_NODE_SRC, "OUTPUT_INFO_TOPICS")
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
    assert "fusion_node = mtvif_ros.node.main:main" in (REPO / "setup.py").read_text()


def test_rviz_shows_the_node_topics() -> None:
    cfg = yaml.safe_load((REPO / "config" / "fusion.rviz").read_text())
    displays = cfg["Visualization Manager"]["Displays"]
    topics = {d["Topic"]["Value"].lstrip("/") for d in displays if "Topic" in d}
    known = set(INPUT_TOPICS.values()) | set(OUTPUT_TOPICS.values())
    assert topics <= known
    # everything a person looks at is shown (labels are class ids, not an image to view)
    assert {OUTPUT_TOPICS[k] for k in ("fused", "color", "overlay")} <= topics
    assert set(INPUT_TOPICS.values()) <= topics
    # a Camera display, whose camera_info is the image topic's sibling (image_transport's
    # rule): segmentation/overlay → segmentation/camera_info, which the node publishes
    camera = [d for d in displays if d["Class"] == "rviz_default_plugins/Camera"]
    assert len(camera) == 1
    image_topic = camera[0]["Topic"]["Value"]
    assert image_topic.rsplit("/", 1)[0] + "/camera_info" in OUTPUT_INFO_TOPICS.values()


def test_params_file_is_the_ros2_layout() -> None:
    doc = yaml.safe_load((REPO / "config" / "fusion.yaml").read_text())
    assert list(doc) == ["/**"] and "ros__parameters" in doc["/**"]


def test_rviz_follows_the_namespace_and_remaps() -> None:
    """Relative topics in the config, and rviz2 started in the node's namespace with its
    remaps: with ``namespace:=robot1`` or ``ir_topic:=/thermal/image_raw`` rviz shows the
    node's topics instead of going blank."""
    cfg = yaml.safe_load((REPO / "config" / "fusion.rviz").read_text())
    topics = [
        d["Topic"]["Value"] for d in cfg["Visualization Manager"]["Displays"] if "Topic" in d
    ]
    assert topics and not [t for t in topics if t.startswith("/")]
    rviz = [
        n
        for n in ast.walk(_LAUNCH_SRC)
        if isinstance(n, ast.Call)
        and any(k.arg == "package" and ast.unparse(k.value) == "'rviz2'" for k in n.keywords)
    ]
    assert len(rviz) == 1
    given = {k.arg: ast.unparse(k.value) for k in rviz[0].keywords}
    assert given["namespace"] == "arg('namespace')" and given["remappings"] == "remappings"


# ------------------------------------------------------------- ros2 launch, for real
def _ros2_cli() -> str:
    """The ros2 CLI of this Python environment (its bin/ need not be on PATH), else PATH's."""
    pytest.importorskip(
        "launch_ros", reason="launch_ros comes with ROS 2 (or ../shared/ros_wheels)"
    )
    here = Path(sys.executable).parent / "ros2"
    found = str(here) if here.exists() else shutil.which("ros2")
    if not found:
        pytest.skip("the ros2 CLI (ros2launch) is not installed")
    return found


def _ros_install(root: Path) -> Path:
    """Install this checkout under ``root`` the way colcon's ament_python build does
    (``setup.py install --prefix … --single-version-externally-managed``): the ament index
    entry, share/mtvif_ros (package.xml, launch, config) from setup.py's data_files, and
    the console scripts in lib/mtvif_ros (setup.cfg), where ``ros2 run`` looks."""
    build = root.parent / f"{root.name}_build"
    build.mkdir(parents=True)
    proc = subprocess.run(
        [
            sys.executable,
            "setup.py",
            "-q",
            "egg_info",
            "--egg-base",
            str(build),
            "build",
            "--build-base",
            str(build / "build"),
            "install",
            "--prefix",
            str(root),
            "--single-version-externally-managed",
            "--record",
            str(build / "files.txt"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root


def _ros_env(prefix: Path) -> dict[str, str]:
    paths = [str(prefix), os.environ.get("AMENT_PREFIX_PATH", ""), sys.prefix]
    return {
        **os.environ,
        "AMENT_PREFIX_PATH": os.pathsep.join(p for p in paths if p),
        "PYTHONUNBUFFERED": "1",
        "RCUTILS_COLORIZED_OUTPUT": "0",
    }


def test_the_installed_layout_offers_every_tool_to_ros2_run(tmp_path: Path) -> None:
    cli = _ros2_cli()
    prefix = _ros_install(tmp_path / "install")
    listed = subprocess.run(
        [cli, "pkg", "executables", "mtvif_ros"],
        env=_ros_env(prefix),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    tools = {line.split()[1] for line in listed.stdout.splitlines() if line.strip()}
    expected = {
        "fusion_node",
        "mtvif-bag",
        "mtvif-eval",
        "mtvif-train",
        "mtvif-demo",
        "mtvif-bench",
        "mtvif-export",
        "mtvif-init-weights",
    }
    assert expected <= tools, listed.stdout
    bag = subprocess.run(
        [str(prefix / "lib" / "mtvif_ros" / "mtvif-bag"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bag.returncode == 0 and "mtvif-bag" in bag.stdout


class _Launch:
    """``ros2 launch mtvif_ros fusion.launch.py ARGS`` with its output collected by a thread
    (a launch that exits early ends the wait at once)."""

    def __init__(self, prefix: Path, *args: str) -> None:
        env = _ros_env(prefix)
        self.proc = subprocess.Popen(
            [_ros2_cli(), "launch", "mtvif_ros", "fusion.launch.py", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, marker: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and marker not in self.text():
            if self.proc.poll() is not None:
                self._reader.join(timeout=5)
                break
            time.sleep(0.1)
        return marker in self.text()

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self._reader.join(timeout=5)


def _processes_with(marker: str) -> list[int]:
    """PIDs whose command line contains ``marker`` (the test's unique namespace)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return [p for p in pids if p != os.getpid()]


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def test_ros2_launch_applies_params_remaps_namespace_and_leaves_no_process(
    tmp_path: Path, ros_context
) -> None:
    import rclpy
    from rcl_interfaces.srv import GetParameters

    _ros2_cli()  # skips before installing anything where there is no ROS CLI
    ns = f"launch_test_{os.getpid()}"
    launch = _Launch(
        _ros_install(tmp_path / "install"),
        "device:=cpu",
        f"namespace:={ns}",
        "ir_topic:=/thermal/image_raw",
        "rviz:=false",
    )
    node = rclpy.create_node("launch_probe")
    try:
        assert launch.wait_for("ready:", 90), launch.text()[-3000:]
        deadline = time.monotonic() + 20
        while ("mtvif_fusion", f"/{ns}") not in node.get_node_names_and_namespaces():
            assert time.monotonic() < deadline, node.get_node_names_and_namespaces()
            time.sleep(0.1)
        subscribed = {
            t for t, _ in node.get_subscriber_names_and_types_by_node("mtvif_fusion", f"/{ns}")
        }
        assert {"/thermal/image_raw", f"/{ns}/visible/image"} <= subscribed, subscribed
        client = node.create_client(GetParameters, f"/{ns}/mtvif_fusion/get_parameters")
        assert client.wait_for_service(timeout_sec=20)
        future = client.call_async(GetParameters.Request(names=["model.device", "sync.slop"]))
        rclpy.spin_until_future_complete(node, future, timeout_sec=20)
        device, slop = future.result().values
        assert device.string_value == "cpu"  # the launch argument's override
        assert (
            slop.double_value
            == yaml.safe_load((REPO / "config" / "fusion.yaml").read_text())["/**"][
                "ros__parameters"
            ]["sync"]["slop"]
        )  # from the packaged params file
    finally:
        node.destroy_node()
        code = launch.stop(signal.SIGINT)
        time.sleep(0.5)
        left = _processes_with(f"__ns:=/{ns}")
        _kill_all(left)  # never let an orphan answer on later tests' topics
    assert left == [], f"processes outlived ros2 launch: {left}"
    assert code == 0, launch.text()[-3000:]
    assert "Traceback" not in launch.text()


def test_rviz_without_rviz2_fails_in_one_line_and_starts_nothing(tmp_path: Path) -> None:
    _ros2_cli()
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        get_package_prefix("rviz2")
    except (PackageNotFoundError, OSError):  # OSError: no ament index on this machine
        pass
    else:
        pytest.skip("rviz2 is installed here")
    ns = f"launch_rviz_{os.getpid()}"
    launch = _Launch(
        _ros_install(tmp_path / "install"), "device:=cpu", f"namespace:={ns}", "rviz:=true"
    )
    try:
        code = launch.proc.wait(timeout=60)
    finally:
        launch.stop()
        left = _processes_with(f"__ns:=/{ns}")
        _kill_all(left)
    assert code != 0 and left == []
    assert "rviz:=true but rviz2 is not installed" in launch.text()
    assert "ready:" not in launch.text()
