"""The inference engine: (IR array, visible array) → (fused BGR image, class-id image).

The one place that owns pre-processing (IR normalization, luma/chroma split, resizing),
device and precision, the forward pass and post-processing (recombination, arg-max). The
ROS node and every offline tool call it, so live and offline results are identical.

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
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from mtvif_ros.imaging import (
    IRNormalization,
    as_bgr_or_grey,
    label_lut,
    luma,
    normalize_ir,
    replace_luma,
)
from mtvif_ros.model.checkpoint import Checkpoint, load_checkpoint
from mtvif_ros.model.weights import default_checkpoint_path

log = logging.getLogger("mtvif_ros.engine")

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
BACKENDS = ("torch", "onnxruntime")


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


@dataclass
class _HostBuffers:
    """Per-size host memory reused across frames. ``staged_in`` (1×2×H×W float32: Y, IR)
    is what is uploaded; ``y`` and ``ir`` are numpy views of its two planes, written in
    place by pre-processing. ``staged_out`` (CUDA only) receives the download."""

    staged_in: torch.Tensor
    staged_out: torch.Tensor | None
    bgr: np.ndarray  # float32 H×W×3 scratch for the colour conversions
    plane: np.ndarray  # float32 H×W scratch for the luma difference

    @classmethod
    def allocate(cls, h: int, w: int, pinned: bool) -> _HostBuffers:
        return cls(
            staged_in=torch.empty((1, 2, h, w), dtype=torch.float32, pin_memory=pinned),
            staged_out=torch.empty((2, h, w), dtype=torch.uint8, pin_memory=True)
            if pinned
            else None,
            bgr=np.empty((h, w, 3), np.float32),
            plane=np.empty((h, w), np.float32),
        )

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.staged_in.shape[-2:])

    @property
    def y(self) -> np.ndarray:
        return self.staged_in[0, 0].numpy()

    @property
    def ir(self) -> np.ndarray:
        return self.staged_in[0, 1].numpy()


def resolve_device(device: str) -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' → torch.device, with a clear error if unusable."""
    spec = (device or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise ValueError(f"device '{device}' is invalid; use auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device '{device}' is not supported; use auto, cpu, cuda or cuda:N")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device '{device}' requested but CUDA is not available "
                "(no GPU or a CPU-only torch build); use device 'cpu' or 'auto'"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device '{device}' does not exist: {torch.cuda.device_count()} CUDA device(s)"
            )
    return dev


def check_precision(precision: str, device: torch.device) -> torch.dtype:
    """Validate a precision name for a device; fp16 needs CUDA, bf16 needs CPU or a bf16 GPU."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision '{precision}' is unknown; use one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision 'fp16' needs a CUDA device; use fp32 or bf16 on CPU")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"precision 'bf16' is not supported by {device}; use fp16 or fp32")
    return PRECISIONS[precision]


class FusionEngine:
    """Load a checkpoint once and run it on image pairs.

    ``checkpoint``: path to a ``.pt`` file, or None for the package's default.
    ``device``: auto | cpu | cuda | cuda:N. ``precision``: fp32 | fp16 | bf16 (autocast;
    weights stay fp32). ``size``: (h, w) to run the network at a fixed size and resize
    outputs back to the visible size (labels nearest), or None for native size.
    ``ir_normalization``: how 16-bit/float IR is mapped to [0, 1].
    ``backend``: ``torch``, or ``onnxruntime`` (the checkpoint is exported to ONNX once and
    cached; TensorRT/CUDA/CPU execution providers in that order of preference, fp32).
    ``channels_last`` and ``compile`` (torch.compile) are optional torch fast paths.
    ``num_threads`` > 0 caps the CPU threads of torch (process-wide) and of the onnxruntime
    session, to leave cores to the robot's other nodes; 0 keeps each library's default.

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
        num_threads: int = 0,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend '{backend}' is unknown; use torch or onnxruntime")
        if num_threads < 0:
            raise ValueError(f"num_threads {num_threads} is negative; use 0 (default) or more")
        if num_threads > 0:
            torch.set_num_threads(num_threads)
        self.num_threads = num_threads
        self.backend = backend
        self.device = resolve_device(device)
        self.dtype = check_precision(precision, self.device)
        self.precision = precision
        if size is not None:
            size = (int(size[0]), int(size[1]))
            if min(size) < 8:
                raise ValueError(f"inference size {size} is too small; need (h, w) >= 8 each")
        self.size = size
        self.ir_normalization = ir_normalization or IRNormalization()
        path = checkpoint if checkpoint not in (None, "") else default_checkpoint_path()
        self.checkpoint: Checkpoint = load_checkpoint(path)
        if self.checkpoint.config.architecture == "fusion":
            raise ValueError(
                f"checkpoint '{path}': a fusion-only network has no segmentation output; use "
                "a multitaskvif or cascade checkpoint"
            )
        self.model = self.checkpoint.model.to(self.device).eval()
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self._forward = torch.compile(self.model) if compile else self.model
        self.session = None
        self._host: _HostBuffers | None = None  # reused while the frame size holds
        if backend == "onnxruntime":
            if precision != "fp32":
                raise ValueError("the onnxruntime backend runs fp32; use precision fp32")
            self.session, self.providers = _ort_session(path, num_threads)
            self.device = torch.device("cpu")  # tensors around the session stay on the host
        self.lut = label_lut(self.checkpoint.config.palette)
        log.info(
            "FusionEngine: %s (%s, backbone %s) on %s, %s%s",
            path,
            self.checkpoint.config.architecture,
            self.checkpoint.config.backbone,
            self.device,
            precision,
            f", inference size {size[0]}x{size[1]}" if size else "",
        )
        if not self.checkpoint.trained:
            log.warning(
                "checkpoint '%s' is UNTRAINED (%s): fused and label images are not meaningful",
                path,
                self.checkpoint.meta.get("description", "no description"),
            )

    def _buffers(self, h: int, w: int) -> _HostBuffers:
        """The host buffers for an H×W frame: kept while the size holds, page-locked on
        CUDA (asynchronous DMA both ways). The same reuse runs on CPU, unpinned, where the
        tests can see it."""
        if self._host is None or self._host.shape != (h, w):
            self._host = _HostBuffers.allocate(h, w, pinned=self.device.type == "cuda")
        return self._host

    def _download(self, packed: torch.Tensor, host: _HostBuffers) -> np.ndarray:
        """Device → host. On CUDA into the reused page-locked buffer, then one synchronize,
        which also guarantees the input buffer is free to be refilled for the next frame.
        On CPU ``packed`` is already a fresh host tensor of this frame."""
        if packed.device.type != "cuda":
            return packed.numpy()
        assert host.staged_out is not None
        host.staged_out.copy_(packed, non_blocking=True)
        torch.cuda.current_stream(packed.device).synchronize()
        return host.staged_out.numpy()

    def warmup(self, shape: tuple[int, int] = (64, 64)) -> None:
        """One throw-away pass (at the inference size if set) so that library and device
        initialization (CUDA context, cuDNN/oneDNN handles) does not land on the first frame."""
        h, w = self.size or shape
        self.run(np.zeros((h, w), np.uint8), np.zeros((h, w, 3), np.uint8))

    @property
    def class_names(self) -> list[str]:
        return list(self.checkpoint.config.class_names)

    @property
    def palette(self) -> list[list[int]]:
        return [list(c) for c in self.checkpoint.config.palette]

    @torch.inference_mode()
    def run(self, ir: np.ndarray, vis: np.ndarray) -> FusionResult:
        """Fuse one registered pair. ``ir``: H×W uint8/uint16/float32; ``vis``: H×W×3 BGR
        uint8 or H×W grey uint8. IR of another size is resized to the visible size."""
        t0 = time.perf_counter()
        _check_pair(ir, vis)
        vis = as_bgr_or_grey(vis)
        h, w = vis.shape[:2]
        host = self._buffers(h, w)
        luma(vis, out=host.y, scratch=host.bgr)
        if ir.shape == (h, w):
            normalize_ir(ir, self.ir_normalization, out=host.ir)
        else:
            ir01 = normalize_ir(ir, self.ir_normalization)
            _into(cv2.resize(ir01, (w, h), dst=host.ir, interpolation=cv2.INTER_LINEAR), host.ir)
        x = host.staged_in  # 1×2×H×W
        t1 = time.perf_counter()

        x = x.to(self.device, non_blocking=True)
        if self.size is not None and self.size != (h, w):
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        if self.session is not None:
            xn = x.numpy()
            fused, logits = self.session.run(None, {"vis_y": xn[:, :1], "ir": xn[:, 1:]})
            fused_y, logits = torch.from_numpy(fused), torch.from_numpy(logits)
        else:
            x = x.contiguous(memory_format=self.memory_format)
            with torch.autocast(
                self.device.type, dtype=self.dtype, enabled=self.precision != "fp32"
            ):
                fused_y, logits = self._forward(x[:, :1], x[:, 1:])
        labels = logits.argmax(1, keepdim=True).to(torch.float32)
        fused_y = fused_y.float()
        if fused_y.shape[-2:] != (h, w):
            fused_y = F.interpolate(fused_y, size=(h, w), mode="bilinear", align_corners=False)
            labels = F.interpolate(labels, size=(h, w), mode="nearest")
        packed = torch.cat((fused_y.clamp(0, 1).mul(255).round_(), labels), 1).to(torch.uint8)
        out = self._download(packed[0], host)  # the one device→host copy
        t2 = time.perf_counter()

        fused = replace_luma(vis, host.y, out[0], scratch=host.bgr, plane=host.plane)
        t3 = time.perf_counter()
        return FusionResult(
            fused=fused,
            labels=out[1].copy() if host.staged_out is not None else out[1],
            timings={"pre": t1 - t0, "infer": t2 - t1, "post": t3 - t2},
        )

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """Class ids → RGB with the checkpoint's palette."""
        return self.lut[labels]


def _ort_session(checkpoint: str | os.PathLike[str], num_threads: int = 0):
    """An onnxruntime session for the checkpoint, exported once into the user cache."""
    import hashlib

    try:
        import onnxruntime as ort
    except ImportError:
        raise ValueError("backend 'onnxruntime' needs the onnxruntime package") from None
    from mtvif_ros.export import export_onnx, ort_providers

    digest = hashlib.sha1(open(checkpoint, "rb").read()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mtvif_ros"
    onnx_path = cache / f"{digest}.onnx"
    if not onnx_path.is_file():
        log.info("exporting %s to ONNX (%s), once", checkpoint, onnx_path)
        tmp = export_onnx(checkpoint, cache / f"{digest}.tmp.onnx")
        os.replace(tmp, onnx_path)
    providers = ort_providers()
    log.info("onnxruntime providers: %s", ", ".join(providers))
    options = ort.SessionOptions()
    if num_threads > 0:
        options.intra_op_num_threads = num_threads
    session = ort.InferenceSession(str(onnx_path), options, providers=providers)
    return session, providers


def _into(result: np.ndarray, dst: np.ndarray) -> None:
    """Make sure an OpenCV ``dst=`` result landed in ``dst`` (it reallocates on a mismatch)."""
    if not np.shares_memory(result, dst):
        dst[...] = result


def _check_pair(ir: np.ndarray, vis: np.ndarray) -> None:
    if not isinstance(ir, np.ndarray) or not isinstance(vis, np.ndarray):
        raise TypeError("ir and vis must be numpy arrays")
    if ir.ndim == 3 and ir.shape[2] == 1:
        raise ValueError(f"IR image must be H×W, got {ir.shape}; squeeze the channel axis")
    if ir.dtype not in (np.uint8, np.uint16, np.float32):
        raise ValueError(f"IR dtype {ir.dtype} is unsupported; use uint8, uint16 or float32")
    if ir.size == 0 or vis.size == 0:
        raise ValueError(f"empty image (IR {ir.shape}, visible {vis.shape})")
