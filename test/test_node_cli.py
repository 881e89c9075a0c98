"""The node as users start it: a process with --ros-args, remaps, a params file, signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is installed by make test")

from ros_harness import Rig  # noqa: E402

from mtvif_ros.data import make_scene  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SEC = 1_000_000_000


pytestmark = pytest.mark.usefixtures("ros_context")


def _start(*ros_args: str, module: bool = True) -> subprocess.Popen:
    exe = (
        [sys.executable, "-m", "mtvif_ros.node"]
        if module
        else [str(Path(sys.executable).parent / "fusion_node")]
    )
    return subprocess.Popen(
        [*exe, "--ros-args", *ros_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "RCUTILS_COLORIZED_OUTPUT": "0"},
    )


def _stop(proc: subprocess.Popen, sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


class _Probe(Rig):
    """Only the probe half of the rig: publishes to the node in the other process."""

    def __init__(self, ir_topic: str) -> None:
        import threading
        from collections import defaultdict

        from rclpy.executors import MultiThreadedExecutor
        from sensor_msgs.msg import Image

        from mtvif_ros.node.interfaces import make_qos

        self.probe = rclpy.create_node("cli_probe")
        self.pub = {
            "ir": self.probe.create_publisher(Image, ir_topic, make_qos("reliable", 10)),
            "visible": self.probe.create_publisher(
                Image, "visible/image", make_qos("reliable", 10)
            ),
        }
        self.received = defaultdict(list)
        self._lock = threading.Lock()
        self.probe.create_subscription(Image, "fused/image", self._keep("fused"), 10)
        self.executor = MultiThreadedExecutor(num_threads=2)
        self.executor.add_node(self.probe)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.executor.shutdown()
        self._thread.join(timeout=10)
        self.probe.destroy_node()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_process_with_params_file_remap_offset_warning_and_clean_shutdown(stop_signal):
    proc = _start(
        "--params-file",
        str(REPO / "config" / "fusion.yaml"),
        "-p",
        "model.device:=cpu",
        "-p",
        "sync.slop:=0.02",
        "-p",
        "sync.warn_after:=1",  # an integer for a float parameter
        "-r",
        "ir/image:=/thermal/image_raw",
        module=stop_signal == signal.SIGINT,
    )
    probe = _Probe("/thermal/image_raw")
    try:
        assert probe.wait(
            lambda: all(p.get_subscription_count() > 0 for p in probe.pub.values()), 60
        ), "node did not subscribe"
        s = make_scene(0, 48, 64)
        base = time.time_ns()
        for i in range(100):  # good pairs until one comes back (output discovery may lag)
            probe.send(s.ir, s.vis, base - (100 - i) * SEC // 10)
            if probe.wait(lambda: len(probe.outputs("fused")) > 0, 0.3):
                break
        assert probe.outputs("fused"), "no output from the node process"
        for i in range(1, 25):  # then 30 ms IR-visible offset: beyond the 20 ms slop
            t = base + i * SEC // 10
            probe.send(s.ir, s.vis, t + 30_000_000, t)
            time.sleep(0.1)
    finally:
        probe.close()
        code, err = _stop(proc, stop_signal)
    assert code == 0, err
    assert "Traceback" not in err
    assert "IR-visible stamp offset is +0.030 s, larger than sync.slop 0.020 s" in err
    assert "/thermal/image_raw" in err  # the remapped input is what the node subscribed


def test_bad_parameter_exits_with_one_line():
    proc = _start("-p", "model.precision:=fp16", "-p", "model.device:=cpu")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if "cannot start" in ln]
    assert len(lines) == 1 and "fp16' needs a CUDA device" in lines[0]


def test_second_interrupt_during_shutdown_prints_no_traceback():
    """Ctrl-C twice (ros2 launch forwards one, the user presses another): still a clean exit."""
    proc = _start("-p", "model.device:=cpu", "-r", "__node:=twice")
    probe = _Probe("ir/image")
    try:
        assert probe.wait(lambda: probe.pub["ir"].get_subscription_count() > 0, 60)
    finally:
        probe.close()
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    code, err = _stop(proc, signal.SIGINT)
    assert code == 0 and "Traceback" not in err, err


def test_an_engine_error_at_startup_is_one_line_and_exit_2():
    """A CUDA or torch.compile error while loading/warming up (injected here: the engine's
    constructor raises) ends like a bad parameter: one line, exit status 2."""
    script = (
        "import sys, mtvif_ros.engine as e\n"
        "def boom(*a, **k):\n"
        "    raise RuntimeError('CUDA error: out of memory\\nCompile with TORCH_USE_CUDA_DSA')\n"
        "e.FusionEngine.__init__ = boom\n"
        "from mtvif_ros.node.main import main\n"
        "sys.exit(main(['fusion_node', '--ros-args', '-p', 'model.device:=cpu']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "cannot start" in ln]
    assert len(lines) == 1 and "RuntimeError: CUDA error: out of memory" in lines[0]


def test_sigterm_during_inference_exits_cleanly():
    """SIGTERM while the worker holds a pair (a 960×1280 frame: seconds of CPU inference),
    as a process manager stops a busy node: exit status 0 and no traceback."""
    from mtvif_ros.node.recorder import OutputRecorder, spin_in_background

    proc = _start(
        *("-p", "model.device:=cpu", "-p", "diagnostics.period:=0.1"),
        *("-p", "qos.reliability:=reliable", "-r", "__node:=busy"),
    )
    probe, recorder = _Probe("ir/image"), OutputRecorder("busy_recorder", kinds=("fused",))
    executor, thread = spin_in_background(recorder)
    try:
        assert probe.wait(lambda: probe.pub["ir"].get_subscription_count() > 0, 60)
        s = make_scene(0, 960, 1280)
        probe.send(s.ir, s.vis, time.time_ns())

        def in_hand() -> bool:  # paired, not yet processed or failed: inside inference
            snap = recorder.stats()
            return snap is not None and snap.pairs == 1 and snap.processed == 0

        assert probe.wait(in_hand, 30), recorder.status()
    finally:
        executor.shutdown()
        thread.join(timeout=10)
        recorder.destroy_node()
        probe.close()
    code, err = _stop(proc, signal.SIGTERM)
    assert code == 0 and "Traceback" not in err, err


def test_a_params_file_out_of_range_is_refused_alike_by_the_node_and_the_offline_tools(
    tmp_path: Path,
) -> None:
    """sync.slop 20 (limits 0-10): the node's startup line and mtvif-bag eval's error carry
    the same message, both from the one parameter table."""
    params = tmp_path / "fusion.yaml"
    params.write_text("/**:\n  ros__parameters:\n    sync:\n      slop: 20.0\n")
    proc = _start("--params-file", str(params), "-p", "model.device:=cpu")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    node_line = next(line for line in err.splitlines() if "cannot start" in line)
    message = node_line.split("cannot start: ", 1)[1]
    assert message == "sync.slop 20.0 is outside its range [0, 10]"
    offline = subprocess.run(
        [
            sys.executable,
            "-m",
            "mtvif_ros.tools.bag",
            "eval",
            str(tmp_path / "none.bag"),
            "--out",
            str(tmp_path / "out"),
            "--params",
            str(params),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert offline.returncode == 2 and f"error: {message}" in offline.stderr
