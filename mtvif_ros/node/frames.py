"""The inference worker: one thread behind a one-slot mailbox, so a slow model drops
superseded pairs (counted) instead of queueing them; and what it does with one pair, from
its messages to the published outputs: decode (the messages were checked on arrival),
register (``registration.source: camera_info``), run the frame pipeline, publish, count."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import numpy as np
from sensor_msgs.msg import Image

from mtvif_ros.imaging.encodings import EncodingError
from mtvif_ros.node.camera_info import CameraRegistration, LatestInfo
from mtvif_ros.node.conversions import ImageConverter
from mtvif_ros.node.interfaces import INPUT_INFO_TOPICS
from mtvif_ros.node.outputs import OutputPublishers
from mtvif_ros.params.settings import Settings
from mtvif_ros.runtime.mailbox import LatestMailbox
from mtvif_ros.runtime.pipeline import FramePipeline
from mtvif_ros.runtime.stats import PipelineStats


class FrameProcessor:
    """What the worker does with a pair. ``reject(role, exc)`` counts an undecodable
    message, ``warn(key, text)`` is the node's throttled warning, ``now_ns()`` its clock."""

    def __init__(
        self,
        converter: ImageConverter,
        pipeline: FramePipeline,
        outputs: OutputPublishers,
        camera_info: LatestInfo,
        stats: PipelineStats,
        reject: Callable[[str, EncodingError], None],
        warn: Callable[[str, str], None],
        now_ns: Callable[[], int],
    ) -> None:
        self.converter, self.pipeline, self.outputs = converter, pipeline, outputs
        self.camera_info, self.stats = camera_info, stats
        self._reject, self._warn, self._now_ns = reject, warn, now_ns
        self.registration = CameraRegistration()

    def process(
        self,
        ir_msg: Image | None,
        vis_msg: Image,
        stamp: int,
        settings: Settings,
        lut: np.ndarray,
    ) -> None:
        """Fuse and publish one pair (``ir_msg`` None: a visible frame taken alone)."""
        images = []
        for role, msg in (("ir", ir_msg), ("visible", vis_msg)):
            try:
                images.append(None if msg is None else self.converter.to_array(msg, role))
            except EncodingError as exc:
                self._reject(role, exc)
                return
        if settings["registration.source"] == "camera_info" and images[0] is not None:
            settings = self._camera_registration(settings, images[0].shape, images[1].shape)
        frame = self.pipeline.run(*images, settings)
        for counter, text in frame.warnings().items():
            self.stats.count(counter)
            self._warn(counter, text)
        result = frame.result
        if ir_msg is None:  # IR drop-out: the visible image is what there is to look at
            vis = images[1]
            fused = vis if vis.ndim == 3 else np.repeat(vis[:, :, None], 3, axis=2)
            result = dataclasses.replace(result, fused=fused)
        info = self.camera_info.get("visible")
        self.outputs.publish(result, vis_msg.header, settings, lut, info)
        self.stats.output(sum(frame.result.timings.values()), (self._now_ns() - stamp) / 1e9)

    def _camera_registration(self, settings: Settings, ir_shape, vis_shape) -> Settings:
        """``settings`` with the homography from both camera_infos; without both, the IR
        goes in unregistered, with a warning."""
        infos = tuple(self.camera_info.get(role) for role in ("ir", "visible"))
        if None in infos:
            missing = " and ".join(
                t for t, i in zip(INPUT_INFO_TOPICS.values(), infos, strict=True) if i is None
            )
            self._warn(
                "registration",
                f"registration.source camera_info: no {missing} yet; "
                "the IR image is fused unregistered",
            )
            return dataclasses.replace(settings, homography=None)
        homography = self.registration.homography(infos, ir_shape, vis_shape, settings)
        if self.registration.problem:
            self._warn("registration", self.registration.problem)
        return dataclasses.replace(settings, homography=homography)


Job = tuple[Image | None, Image, int]  # IR message (None: visible alone), visible, stamp ns


class FrameWorker:
    """The ``mtvif-infer`` thread. It first warms the engine up on itself, at ``shape``
    (the camera's frame size where known): cuDNN handles are per thread, and torch.compile
    and the host buffers are per size, so none of it lands on the first live frame. Then
    it takes the newest job, processes it with the settings and palette ``in_force()``
    returns, and never dies on one bad frame (counted as an inference error, warned about).
    """

    def __init__(
        self,
        frames: FrameProcessor,
        in_force: Callable[[], tuple[Settings, np.ndarray]],
        warn: Callable[[str, str], None],
        shape: tuple[int, int] = (64, 64),
    ) -> None:
        self.frames, self._in_force, self._warn = frames, in_force, warn
        self.mailbox: LatestMailbox[Job] = LatestMailbox()
        self.warmup_error: Exception | None = None
        self._warm = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, args=(shape,), name="mtvif-infer", daemon=True
        )
        self._thread.start()

    def wait_warm(self) -> None:
        """Wait for the warm-up; its failure (a CUDA or compile error) is raised here, so
        activation fails with it rather than the first frame."""
        self._warm.wait()
        if self.warmup_error is not None:
            raise self.warmup_error

    def post(self, job: Job) -> bool:
        """Hand over a pair; True if it replaced one still waiting (superseded)."""
        return self.mailbox.put(job)

    def stop(self) -> None:
        """Finish the frame in hand and end the thread."""
        self.mailbox.close()
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)

    def _loop(self, shape: tuple[int, int]) -> None:
        try:
            self.frames.pipeline.engine.warmup(shape)
        except Exception as exc:
            self.warmup_error = exc
            return
        finally:
            self._warm.set()
        while not self.mailbox.closed:
            job = self.mailbox.get(timeout=0.25)
            if job is None:
                continue
            try:
                self.frames.process(*job, *self._in_force())
            except Exception as exc:  # one bad frame must never kill the node
                self.frames.stats.count("inference_errors")
                self._warn("inference", f"inference failed on one pair: {exc!r}")
