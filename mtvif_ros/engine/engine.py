"""The inference engine: (IR array, visible array) → (fused BGR image, class-id image).

The one place that owns pre-processing (IR normalization, luma/chroma split, resizing),
the forward pass through a backend (``backends``) and post-processing (recombination,
arg-max). The ROS node and every offline tool call it, so live and offline results are
identical.

Per frame there is exactly one host→device copy (IR and Y stacked) and one device→host
copy (fused Y and labels packed as one uint8 tensor); resizing to and from the inference
size happens on the device. Host pre- and post-processing write into buffers kept while
the frame size holds (page-locked on CUDA), so a steady stream allocates only the arrays
it returns.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from mtvif_ros.engine.backends import Backend, make_backend
from mtvif_ros.engine.device import precision_note
from mtvif_ros.engine.host import HostBufferCache, HostBuffers, into
from mtvif_ros.imaging import (
    IRNormalization,
    as_bgr_or_grey,
    label_lut,
    luma,
    normalize_ir,
    replace_luma,
)
from mtvif_ros.model.checkpoint import Checkpoint, load_checkpoint
from mtvif_ros.model.config import MISSING_IR
from mtvif_ros.model.weights import default_checkpoint_path
from mtvif_ros.params.options import check_confidence, check_inference_size

log = logging.getLogger("mtvif_ros.engine")


@dataclass
class FusionResult:
    """Outputs for one pair, at the visible image's size.

    ``fused``: H×W×3 BGR uint8 (fused luma + visible chroma); ``labels``: H×W uint8 class
    ids; ``timings``: seconds for ``pre`` (host pre-processing), ``infer`` (upload,
    network, download) and ``post`` (host recombination).
    """

    fused: np.ndarray
    labels: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)


class FusionEngine:
    """Load a checkpoint once and run it on image pairs.

    ``checkpoint``: path to a ``.pt`` file, or None for the package's default.
    ``device``: auto | cpu | cuda | cuda:N. ``precision``: fp32 | fp16 | bf16 (autocast;
    weights stay fp32). ``size``: (h, w) to run the network at a fixed size and resize
    outputs back to the visible size (labels nearest), or None for native size.
    ``ir_normalization``: how 16-bit/float IR is mapped to [0, 1] unless a call says
    otherwise. ``backend``: ``torch``, or ``onnxruntime`` (see ``backends``);
    ``channels_last`` and ``compile`` (torch.compile) are optional torch fast paths.
    ``min_confidence``: a pixel whose most likely class has a softmax probability below it
    is labelled 0 (unlabelled) instead; 0 keeps the plain argmax. CPU threads are the
    process's business: ``mtvif_ros.engine.set_cpu_threads`` in entry points.

    Host staging buffers are reused across frames, so one engine serves one thread at a
    time (the node runs it from its single inference worker).
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike[str] | None = None,
        device: str = "auto",
        precision: str = "fp32",
        size: tuple[int, int] | None = None,
        ir_normalization: IRNormalization | None = None,
        backend: str = "torch",
        channels_last: bool = False,
        compile: bool = False,
        min_confidence: float = 0.0,
    ) -> None:
        self.size = check_inference_size(size)
        self.min_confidence = check_confidence(min_confidence)
        self.ir_normalization = ir_normalization or IRNormalization()
        path = checkpoint if checkpoint not in (None, "") else default_checkpoint_path()
        self.checkpoint: Checkpoint = load_checkpoint(path)
        if self.checkpoint.config.architecture == "fusion":
            raise ValueError(
                f"checkpoint '{path}': a fusion-only network has no segmentation output; use "
                "a multitaskvif or cascade checkpoint"
            )
        self.backend: Backend = make_backend(
            backend, self.checkpoint, device, precision, channels_last, compile, self.size
        )
        self.buffers = HostBufferCache(pinned=self.device.type == "cuda")
        self.lut = label_lut(self.checkpoint.config.palette)
        self._log_loaded(path)

    def _log_loaded(self, path: str | os.PathLike[str]) -> None:
        config = self.checkpoint.config
        log.info(
            "FusionEngine: %s (%s, backbone %s) on %s with %s, %s%s",
            path,
            config.architecture,
            config.backbone,
            self.device,
            self.backend.name,
            self.precision_label,
            f", inference size {self.size[0]}x{self.size[1]}" if self.size else "",
        )
        if not self.checkpoint.trained:
            log.warning(
                "checkpoint '%s' is UNTRAINED (%s): fused and label images are not meaningful",
                path,
                self.checkpoint.meta.get("description", "no description"),
            )

    @property
    def device(self) -> torch.device:
        """Where the network's input tensors live (the host for onnxruntime)."""
        return self.backend.device

    @property
    def precision(self) -> str:
        return self.backend.precision

    @property
    def precision_label(self) -> str:
        """The precision as it runs here, e.g. ``fp32 (TF32 convolutions)`` on Ampere+."""
        return precision_note(self.precision, self.device)

    @property
    def class_names(self) -> list[str]:
        return list(self.checkpoint.config.class_names)

    @property
    def palette(self) -> list[list[int]]:
        return [list(c) for c in self.checkpoint.config.palette]

    def warmup(self, shape: tuple[int, int] = (64, 64)) -> None:
        """One throw-away pass on a frame of ``shape`` (the network at the inference size
        if set), so that library and device initialization (CUDA context, cuDNN/oneDNN
        handles, which are per thread), torch.compile's graph and the host buffers of that
        frame size do not land on the first frame. Call it from the thread that will run
        the frames, with the size the camera delivers where it is known."""
        h, w = shape
        self.run(np.zeros((h, w), np.uint8), np.zeros((h, w, 3), np.uint8))

    @torch.inference_mode()
    def run(
        self,
        ir: np.ndarray | None,
        vis: np.ndarray,
        ir_normalization: IRNormalization | None = None,
        min_confidence: float | None = None,
    ) -> FusionResult:
        """Fuse one registered pair. ``ir``: H×W uint8/uint16/float32; ``vis``: H×W×3 BGR
        uint8 or H×W grey uint8. IR of another size is resized to the visible size.
        ``ir_normalization`` and ``min_confidence`` override the engine's for this call.

        ``ir=None`` (the thermal camera dropped out) runs on the visible image alone: the
        IR input is all zeros, the convention training uses for visible-only samples, so
        the labels still come; the fused image is then the network's reading of the
        visible image."""
        t0 = time.perf_counter()
        check_pair(ir, vis)
        vis = as_bgr_or_grey(vis)
        h, w = vis.shape[:2]
        host = self.buffers.get(h, w)
        self._stage(ir, vis, host, ir_normalization or self.ir_normalization)
        t1 = time.perf_counter()
        if min_confidence is None:
            min_confidence = self.min_confidence
        else:
            min_confidence = check_confidence(min_confidence)
        infer = self._infer(host.staged_in, (h, w), min_confidence)
        out = host.download(infer)  # the one device→host copy
        t2 = time.perf_counter()
        fused = replace_luma(vis, host.y, out[0], scratch=host.bgr, plane=host.plane)
        t3 = time.perf_counter()
        return FusionResult(
            fused=fused,
            labels=out[1].copy() if host.staged_out is not None else out[1],
            timings={"pre": t1 - t0, "infer": t2 - t1, "post": t3 - t2},
        )

    def _stage(
        self, ir: np.ndarray, vis: np.ndarray, host: HostBuffers, norm: IRNormalization
    ) -> None:
        """Visible luma and normalized IR, at the visible size, into the upload buffer."""
        h, w = vis.shape[:2]
        luma(vis, out=host.y, scratch=host.bgr)
        if ir is None:
            host.ir.fill(MISSING_IR)  # the visible-only convention of training
        elif ir.shape == (h, w):
            normalize_ir(ir, norm, out=host.ir)
        else:
            ir01 = normalize_ir(ir, norm)
            into(cv2.resize(ir01, (w, h), dst=host.ir, interpolation=cv2.INTER_LINEAR), host.ir)

    def _infer(
        self, staged: torch.Tensor, out_size: tuple[int, int], min_confidence: float
    ) -> torch.Tensor:
        """Upload, resize to the inference size, run, resize back; → 2×H×W uint8 on the
        device (fused Y 0-255, class ids)."""
        x = staged.to(self.device, non_blocking=True)
        if self.size is not None and self.size != out_size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        fused_y, logits = self.backend(x)
        labels = confident_labels(logits, min_confidence).to(torch.float32)
        fused_y = fused_y.float()
        if fused_y.shape[-2:] != out_size:
            fused_y = F.interpolate(fused_y, size=out_size, mode="bilinear", align_corners=False)
            labels = F.interpolate(labels, size=out_size, mode="nearest")
        packed = torch.cat((fused_y.clamp(0, 1).mul(255).round_(), labels), 1)
        return packed.to(torch.uint8)[0]

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """Class ids → RGB with the checkpoint's palette."""
        return self.lut[labels]


def check_pair(ir: np.ndarray | None, vis: np.ndarray) -> None:
    """Refuse arrays the engine cannot take, with what to change (the visible image's own
    checks live in ``imaging.as_bgr_or_grey``)."""
    if vis is None:
        raise ValueError(
            "the visible image is required (vis=None); the network runs on visible + IR or "
            "on visible alone (ir=None), not on IR alone"
        )
    if ir is None:
        if not isinstance(vis, np.ndarray):
            raise TypeError("vis must be a numpy array")
        if vis.size == 0:
            raise ValueError(f"empty visible image {vis.shape}")
        return
    if not isinstance(ir, np.ndarray) or not isinstance(vis, np.ndarray):
        raise TypeError("ir and vis must be numpy arrays")
    if ir.ndim == 3 and ir.shape[2] == 1:
        raise ValueError(f"IR image must be H×W, got {ir.shape}; squeeze the channel axis")
    if ir.dtype not in (np.uint8, np.uint16, np.float32):
        raise ValueError(f"IR dtype {ir.dtype} is unsupported; use uint8, uint16 or float32")
    if ir.size == 0 or vis.size == 0:
        raise ValueError(f"empty image (IR {ir.shape}, visible {vis.shape})")


def confident_labels(logits: torch.Tensor, min_confidence: float) -> torch.Tensor:
    """N×1×H×W class ids: the argmax of N×C×H×W ``logits``, and 0 (unlabelled) where the
    winning class's softmax probability is below ``min_confidence`` (0: argmax alone)."""
    if min_confidence <= 0.0:
        return logits.argmax(1, keepdim=True)
    top, labels = logits.float().softmax(1).max(1, keepdim=True)
    return labels.masked_fill_(top < min_confidence, 0)
