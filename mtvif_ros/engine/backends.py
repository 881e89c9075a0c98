"""How the network runs: PyTorch, or an ONNX Runtime session, behind one call.

Each backend takes the staged 1×2×H×W (Y, IR) tensor on its device and returns the fused
luma and the class logits, so the engine's pre- and post-processing are the same whatever
runs the network. A backend holds only what it needs: the ONNX Runtime one never moves
or compiles the PyTorch model.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from mtvif_ros.engine.device import check_precision, cpu_threads, resolve_device
from mtvif_ros.model.checkpoint import Checkpoint
from mtvif_ros.options import check_backend_name

log = logging.getLogger("mtvif_ros.engine")


class Backend(Protocol):
    """What the engine needs from a backend."""

    device: torch.device
    precision: str
    name: str  # what runs the network, for logs and benchmark tables

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """1×2×H×W (Y, IR) on ``device`` → (fused Y 1×1×H×W, logits 1×C×H×W)."""
        ...


class TorchBackend:
    """The checkpoint's PyTorch module on a device, with autocast for fp16/bf16 (weights
    stay fp32) and the optional channels_last layout and torch.compile."""

    def __init__(
        self,
        model: nn.Module,
        device: str = "auto",
        precision: str = "fp32",
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        self.device = resolve_device(device)
        self.dtype = check_precision(precision, self.device)
        self.precision = precision
        self.name = "torch"
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = model.to(self.device, memory_format=self.memory_format).eval()
        self._forward = torch.compile(self.model) if compile else self.model

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.contiguous(memory_format=self.memory_format)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.precision != "fp32"):
            return self._forward(x[:, :1], x[:, 1:])


class OrtBackend:
    """An ONNX Runtime session of the checkpoint, exported once into the user cache
    (TensorRT, CUDA, CPU execution providers in that order of preference; fp32).

    Tensors around the session stay on the host."""

    def __init__(self, checkpoint_path: str | os.PathLike[str], precision: str = "fp32") -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ValueError("backend 'onnxruntime' needs the onnxruntime package") from None
        from mtvif_ros.export import ort_providers

        if precision != "fp32":
            raise ValueError("the onnxruntime backend runs fp32; use precision fp32")
        self.device = torch.device("cpu")
        self.precision = precision
        options = ort.SessionOptions()
        if cpu_threads() > 0:
            options.intra_op_num_threads = cpu_threads()
        self.providers = ort_providers()
        log.info("onnxruntime providers: %s", ", ".join(self.providers))
        self.session = ort.InferenceSession(
            str(cached_onnx(checkpoint_path)), options, providers=self.providers
        )
        self.name = f"onnxruntime ({self.providers[0].removesuffix('ExecutionProvider')})"

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xn = x.numpy()
        fused, logits = self.session.run(None, {"vis_y": xn[:, :1], "ir": xn[:, 1:]})
        return torch.from_numpy(fused), torch.from_numpy(logits)


def cached_onnx(checkpoint_path: str | os.PathLike[str]) -> Path:
    """The checkpoint exported to ONNX, once per checkpoint content, in the user cache."""
    from mtvif_ros.export import export_onnx

    sha1 = hashlib.sha1()
    with open(checkpoint_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha1.update(chunk)
    digest = sha1.hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mtvif_ros"
    onnx_path = cache / f"{digest}.onnx"
    if not onnx_path.is_file():
        log.info("exporting %s to ONNX (%s), once", checkpoint_path, onnx_path)
        tmp = export_onnx(checkpoint_path, cache / f"{digest}.tmp.onnx")
        os.replace(tmp, onnx_path)
    return onnx_path


def make_backend(
    kind: str,
    checkpoint: Checkpoint,
    device: str = "auto",
    precision: str = "fp32",
    channels_last: bool = False,
    compile: bool = False,
) -> Backend:
    """The backend ``kind`` (torch | onnxruntime) for a loaded checkpoint."""
    check_backend_name(kind)
    check_precision(precision, resolve_device(device))  # the same refusals for every backend
    if kind == "onnxruntime":
        return OrtBackend(checkpoint.path, precision)
    return TorchBackend(checkpoint.model, device, precision, channels_last, compile)
