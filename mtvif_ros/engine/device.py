"""Device and precision names → torch objects, with the reason when one is unusable here.

The grammar of the names lives in ``mtvif_ros.params.options`` (torch-free, shared with the
parameters); this module adds what needs torch: is CUDA there and usable, does that GPU do
bf16 natively, and which threads torch may use.

On a GPU of compute capability 8.0 or more, ``fp32`` convolutions run in TF32 (a 10-bit
mantissa), PyTorch's default, which the engine keeps: ``precision_note`` says so wherever
the precision is reported.
"""

from __future__ import annotations

import logging

import torch

from mtvif_ros.params.options import DEVICE_HELP, check_precision_name, parse_device

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

_cpu_threads = 0  # 0: each library's default; set by the entry points
BF16_CAPABILITY = (8, 0)  # Ampere: the first GPUs whose tensor cores do bf16 (not emulated)

log = logging.getLogger("mtvif_ros.engine")


def resolve_device(spec: str | None, local_rank: int | None = None) -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' → torch.device; ValueError if unusable here.

    ``local_rank`` (distributed training) picks the GPU of this process when the spec is
    ``cuda`` or ``auto`` without an index.
    """
    name = parse_device(spec)
    if name == "auto":
        name = "cuda" if cuda_usable() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(
            f"device '{spec}' requested but CUDA is not available (no GPU or a CPU-only "
            f"torch build); use device 'cpu' or 'auto'"
        )
    dev = torch.device(name)
    if dev.index is None and local_rank is not None:
        dev = torch.device("cuda", local_rank)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(
            f"device '{spec}' does not exist: {torch.cuda.device_count()} CUDA device(s); "
            f"use {DEVICE_HELP}"
        )
    return dev


def cuda_usable() -> bool:
    """CUDA is there and works: ``is_available`` alone trusts a visible GPU that a
    mismatched driver, an exhausted or exclusive device cannot serve; ``auto`` then falls
    back to the CPU with one warning instead of failing."""
    if not torch.cuda.is_available():
        return False
    try:
        torch.zeros(1, device="cuda").add_(1).item()
    except Exception as exc:  # a RuntimeError/AcceleratorError from the driver
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        log.warning("CUDA is visible but unusable (%s): device auto runs on the CPU", first)
        return False
    return True


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively: any CPU, or a GPU of compute capability
    8.0 or more (``torch.cuda.is_bf16_supported`` also counts emulation, and asks about
    the current device, not this one)."""
    if device.type != "cuda":
        return True
    return torch.cuda.get_device_capability(device) >= BF16_CAPABILITY


def check_precision(precision: str, device: torch.device) -> torch.dtype:
    """The autocast dtype of a precision on a device; fp16 needs CUDA, bf16 a CPU or a
    GPU that does bf16 natively (ValueError with the alternative otherwise)."""
    check_precision_name(precision)
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision 'fp16' needs a CUDA device; use fp32 or bf16 on CPU")
    if precision == "bf16" and not bf16_native(device):
        cap = ".".join(map(str, torch.cuda.get_device_capability(device)))
        raise ValueError(
            f"precision 'bf16' is emulated on {device} (compute capability {cap}, native "
            "from 8.0); use fp16 or fp32"
        )
    return DTYPES[precision]


def set_cpu_threads(n: int) -> None:
    """Cap the CPU threads of torch (process-wide) and of onnxruntime sessions made after
    this call; 0 keeps each library's default. For entry points (node, tools), which own
    the process: a library object must not change process-wide state."""
    global _cpu_threads
    if n < 0:
        raise ValueError(f"num_threads {n} is negative; use 0 (default) or more")
    if n > 0:
        torch.set_num_threads(n)
    _cpu_threads = n


def cpu_threads() -> int:
    """The thread cap set by ``set_cpu_threads`` (0: none)."""
    return _cpu_threads


def precision_note(precision: str, device: torch.device) -> str:
    """The precision as it runs on ``device``: ``fp32 (TF32 convolutions)`` where cuDNN
    uses TF32 for fp32 (Ampere and newer, PyTorch's default), else ``precision``."""
    tf32 = (
        precision == "fp32"
        and device.type == "cuda"
        and torch.cuda.get_device_capability(device) >= BF16_CAPABILITY
        and torch.backends.cudnn.allow_tf32
    )
    return "fp32 (TF32 convolutions)" if tf32 else precision
