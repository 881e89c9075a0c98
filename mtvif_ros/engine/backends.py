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

import numpy as np
import torch
from torch import nn

from mtvif_ros.engine.device import check_precision, cpu_threads, resolve_device
from mtvif_ros.model.checkpoint import Checkpoint
from mtvif_ros.params.options import check_backend_name

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
    """An ONNX Runtime session of the checkpoint, exported once into the user cache (fp32).

    On the CPU it runs with the CPU provider on host tensors. On ``cuda:N`` it asks for
    TensorRT and CUDA on GPU N (``export.ort_providers``: engine cache, shape profile) and
    binds the input and both outputs to torch tensors on that GPU (IO binding), so the
    engine's upload, resize and arg-max stay on the device as with the torch backend.
    ``device`` and ``name`` say what the session really uses: ONNX Runtime falls back to
    the CPU silently when no GPU provider can start; this backend says so once (warning)
    and then runs as a CPU one.
    """

    def __init__(
        self,
        checkpoint_path: str | os.PathLike[str],
        device: str = "auto",
        precision: str = "fp32",
        num_classes: int = 9,
        size: tuple[int, int] | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ValueError("backend 'onnxruntime' needs the onnxruntime package") from None
        from mtvif_ros.engine.export import GPU_PROVIDERS, ort_providers

        if precision != "fp32":
            raise ValueError("the onnxruntime backend runs fp32; use precision fp32")
        requested = resolve_device(device)
        options = ort.SessionOptions()
        if cpu_threads() > 0:
            options.intra_op_num_threads = cpu_threads()
        shapes = (size, size, size) if size is not None else None  # one TensorRT profile
        plan = ort_providers(requested, cache_dir=cache_dir() / "tensorrt", shapes=shapes)
        self.session = ort.InferenceSession(
            str(cached_onnx(checkpoint_path)), options, providers=plan
        )
        used = self.session.get_providers()
        on_gpu = requested.type == "cuda" and any(p in GPU_PROVIDERS for p in used)
        if requested.type == "cuda" and not on_gpu:
            log.warning(
                "onnxruntime runs on the CPU: no GPU execution provider started on %s "
                "(this onnxruntime offers %s; a GPU needs onnxruntime-gpu)",
                requested,
                ", ".join(ort.get_available_providers()),
            )
        log.info("onnxruntime providers: %s", ", ".join(used))
        self.device = requested if on_gpu else torch.device("cpu")
        self.precision = precision
        self.name = f"onnxruntime ({used[0].removesuffix('ExecutionProvider')})"
        self.num_classes = num_classes
        self._binding = self.session.io_binding() if on_gpu else None

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._binding is None:
            xn = x.numpy()
            fused, logits = self.session.run(None, {"vis_y": xn[:, :1], "ir": xn[:, 1:]})
            return torch.from_numpy(fused), torch.from_numpy(logits)
        n, _, h, w = x.shape
        tensors = {
            "vis_y": x[:, :1].contiguous(),
            "ir": x[:, 1:].contiguous(),
            "fused": torch.empty((n, 1, h, w), device=self.device),
            "logits": torch.empty((n, self.num_classes, h, w), device=self.device),
        }
        binding, index = self._binding, self.device.index or 0
        for name, t in tensors.items():
            bind = binding.bind_input if name in ("vis_y", "ir") else binding.bind_output
            bind(name, "cuda", index, np.float32, tuple(t.shape), t.data_ptr())
        torch.cuda.current_stream(self.device).synchronize()  # ORT reads on its own stream
        self.session.run_with_iobinding(binding)
        return tensors["fused"], tensors["logits"]


def cache_dir() -> Path:
    """Where exported ONNX files and TensorRT engines are kept (``$XDG_CACHE_HOME``)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mtvif_ros"


def cached_onnx(checkpoint_path: str | os.PathLike[str]) -> Path:
    """The checkpoint exported to ONNX, once per checkpoint content, in the user cache."""
    from mtvif_ros.engine.export import export_onnx

    sha1 = hashlib.sha1()
    with open(checkpoint_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha1.update(chunk)
    digest = sha1.hexdigest()[:16]
    cache = cache_dir()
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
    size: tuple[int, int] | None = None,
) -> Backend:
    """The backend ``kind`` (torch | onnxruntime) for a loaded checkpoint; ``size``: the
    fixed inference size, if any (TensorRT builds its engine for it)."""
    check_backend_name(kind)
    check_precision(precision, resolve_device(device))  # the same refusals for every backend
    if kind == "onnxruntime":
        classes = checkpoint.config.num_classes
        return OrtBackend(checkpoint.path, device, precision, classes, size)
    return TorchBackend(checkpoint.model, device, precision, channels_last, compile)
