"""Device and precision names → torch objects, with the reason when one is unusable here.

The grammar of the names lives in ``mtvif_ros.options`` (torch-free, shared with the
parameters); this module adds what needs torch: is CUDA there, does that GPU do bf16, and
which threads torch may use.
"""

from __future__ import annotations

import torch

from mtvif_ros.options import DEVICE_HELP, check_precision_name, parse_device

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

_cpu_threads = 0  # 0: each library's default; set by the entry points


def resolve_device(spec: str | None, local_rank: int | None = None) -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' → torch.device; ValueError if unusable here.

    ``local_rank`` (distributed training) picks the GPU of this process when the spec is
    ``cuda`` or ``auto`` without an index.
    """
    name = parse_device(spec)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
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


def check_precision(precision: str, device: torch.device) -> torch.dtype:
    """The autocast dtype of a precision on a device; fp16 needs CUDA, bf16 a CPU or a
    bf16-capable GPU (ValueError with the alternative otherwise)."""
    check_precision_name(precision)
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision 'fp16' needs a CUDA device; use fp32 or bf16 on CPU")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"precision 'bf16' is not supported by {device}; use fp16 or fp32")
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
