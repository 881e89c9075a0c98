"""Keep freed host memory for reuse: the CPU counterpart of CUDA's caching allocator.

A 480×640 forward on CPU allocates and frees a few GB of activations. glibc hands blocks
above its mmap threshold (at most 32 MiB) straight back to the kernel and gives each thread
its own arena that it trims, so every frame page-faults and zero-fills the same memory
again: measured on the 2-core CI machine, about a million minor faults and half of the
frame time (see README, Performance). Serving every thread from the main heap, never from
per-allocation mmaps, and trimming only above 1 GiB keeps those pages mapped; the
process's resident size then stays near its peak, as with the jemalloc/tcmalloc setups
recommended for PyTorch CPU inference.

The setting is process-wide and glibc-only, and it only pays where inference runs on the
CPU: on a GPU the activations live in device memory, and on Jetson's shared memory the
kept pages would compete with the GPU. So nothing applies it on import; the package's own
entry points (node and tools) call ``keep_freed_memory_for(device)`` first thing, and a
program that embeds ``FusionEngine`` decides for itself. ``MTVIF_KEEP_FREED_MEMORY=0``
turns it off.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from pathlib import Path

from mtvif_ros.params.options import parse_device

log = logging.getLogger("mtvif_ros.host_memory")

# mallopt parameters from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
SETTINGS = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 1 << 30))
ENV = "MTVIF_KEEP_FREED_MEMORY"

_applied = False


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory mapped for reuse; True if the setting is in effect.

    Call before the process starts threads (a thread keeps the arena it first used).
    Does nothing, and returns False, off Linux/glibc or when ``MTVIF_KEEP_FREED_MEMORY``
    is 0/false/off/no.
    """
    global _applied
    if _applied:
        return True
    if disabled_by_env():
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it, and glibc's mallopt
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    _applied = all(mallopt(param, value) == 1 for param, value in SETTINGS)
    if not _applied:
        log.warning("glibc refused a mallopt setting; freed host memory is not kept")
    return _applied


# device nodes of NVIDIA's driver (desktop/server) and of Jetson's integrated GPU
GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/nvhost-ctrl-gpu")


def expects_cpu_inference(device: str | None) -> bool:
    """Whether inference on ``device`` (auto | cpu | cuda | cuda:N) will run on the CPU,
    decided without importing torch: ``auto`` means the CPU where no NVIDIA GPU is visible
    (no driver device node, or ``CUDA_VISIBLE_DEVICES`` empty or -1)."""
    try:
        spec = parse_device(device)
    except ValueError:  # the node refuses it later, with the reason
        return False
    if spec != "auto":
        return spec == "cpu"
    if os.environ.get("CUDA_VISIBLE_DEVICES", "x").strip() in ("", "-1"):
        return True
    return not any(Path(p).exists() for p in GPU_DEVICE_NODES)


def keep_freed_memory_for(device: str | None) -> bool:
    """``keep_freed_memory()`` where inference on ``device`` runs on the CPU; else nothing
    (False)."""
    return expects_cpu_inference(device) and keep_freed_memory()


def disabled_by_env() -> bool:
    """Whether ``MTVIF_KEEP_FREED_MEMORY`` turns the setting off (0/false/off/no)."""
    return os.environ.get(ENV, "1").strip().lower() in ("0", "false", "off", "no")


def memory_is_kept() -> bool:
    """Whether ``keep_freed_memory`` is in effect in this process (for diagnostics)."""
    return _applied
