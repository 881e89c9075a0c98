"""In-process test rig: the fusion node plus a probe node, spun by one executor thread."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.time import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from mtvif_ros.node.conversions import array_to_image
from mtvif_ros.node.fusion_node import FusionNode
from mtvif_ros.node.interfaces import INPUT_TOPICS, OUTPUT_TOPICS, make_qos


class Rig:
    def __init__(
        self,
        params: dict | None = None,
        pub_reliability: str = "reliable",
        subscribe: tuple[str, ...] = ("fused", "labels"),
        inputs_match: bool = True,
        remap: dict[str, str] | None = None,
    ) -> None:
        overrides = {"model.device": "cpu", "sync.backend": "builtin", **(params or {})}
        remaps = [a for k, v in (remap or {}).items() for a in ("-r", f"{k}:={v}")]
        self.node = FusionNode(
            parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()],
            cli_args=["--ros-args", *remaps] if remaps else None,
        )
        self.probe = rclpy.create_node("probe")
        qos = make_qos(pub_reliability, 10)
        self.pub = {r: self.probe.create_publisher(Image, t, qos) for r, t in INPUT_TOPICS.items()}
        self.received: dict[str, list] = defaultdict(list)
        self._lock = threading.Lock()
        for kind in subscribe:
            self.probe.create_subscription(
                Image, OUTPUT_TOPICS[kind], self._keep(kind), make_qos("reliable", 50)
            )
        self.probe.create_subscription(DiagnosticArray, "/diagnostics", self._keep("diag"), 10)
        self.executor = MultiThreadedExecutor(num_threads=4)
        self.executor.add_node(self.node)
        self.executor.add_node(self.probe)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        self.wait_for_matching(subscribe, inputs=inputs_match)

    def _keep(self, kind: str) -> Callable:
        def cb(msg) -> None:
            with self._lock:
                self.received[kind].append((msg, time.monotonic()))

        return cb

    def outputs(self, kind: str) -> list:
        with self._lock:
            return [m for m, _ in self.received[kind]]

    def wait_for_matching(
        self, outputs: tuple[str, ...] = (), timeout: float = 10.0, inputs: bool = True
    ) -> None:
        """Until both directions are discovered: our inputs reach the node, its outputs us."""
        pubs = list(self.pub.values()) if inputs else []
        pubs += [self.node.outputs.pubs[k] for k in outputs]
        assert self.wait(lambda: all(p.get_subscription_count() > 0 for p in pubs), timeout)

    @staticmethod
    def wait(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    def send(
        self,
        ir: np.ndarray | Image,
        vis: np.ndarray | Image,
        ir_ns: int,
        vis_ns: int | None = None,
        ir_encoding: str | None = None,
        vis_encoding: str = "bgr8",
    ) -> None:
        vis_ns = ir_ns if vis_ns is None else vis_ns
        self.publish("ir", ir, ir_ns, ir_encoding)
        self.publish("visible", vis, vis_ns, vis_encoding)

    def publish(
        self, role: str, image: np.ndarray | Image, stamp_ns: int, encoding: str | None = None
    ) -> None:
        """One camera message with this stamp (an array's encoding from its dtype)."""
        if isinstance(image, np.ndarray):
            enc = encoding or {np.uint8: "mono8", np.uint16: "mono16"}.get(
                image.dtype.type, "32FC1"
            )
            if role == "visible" and image.ndim == 3:
                enc = encoding or "bgr8"
            image = array_to_image(image, enc)
        frame = "ir_optical" if role == "ir" else "camera_optical"
        image.header = Header(stamp=Time(nanoseconds=stamp_ns).to_msg(), frame_id=frame)
        self.pub[role].publish(image)

    def close(self) -> None:
        self.executor.shutdown()
        self._thread.join(timeout=10)
        self.node.destroy_node()
        self.probe.destroy_node()
