"""Keep freed host memory for reuse: the CPU counterpart of CUDA's caching allocator.

A 480×640 forward on CPU allocates and frees a few GB of activations. glibc hands blocks
above its mmap threshold (at most 32 MiB) straight back to the kernel and gives each thread
its own arena that it trims, so every frame page-faults and zero-fills the same memory
again: measured on the 2-core CI machine, about a million minor faults and half of the
frame time (see README, Performance). Serving every thread from the main heap, never from
per-allocation mmaps, and trimming only above 1 GiB keeps those pages mapped; the
process's resident size then stays near its peak, as with the jemalloc/tcmalloc setups
recommended for PyTorch CPU inference.

The setting is process-wide and glibc-only, so the package's own entry points (node and
tools) apply it first thing; a program that embeds ``FusionEngine`` decides for itself.
``MTVIF_KEEP_FREED_MEMORY=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

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


def disabled_by_env() -> bool:
    """Whether ``MTVIF_KEEP_FREED_MEMORY`` turns the setting off (0/false/off/no)."""
    return os.environ.get(ENV, "1").strip().lower() in ("0", "false", "off", "no")


def memory_is_kept() -> bool:
    """Whether ``keep_freed_memory`` is in effect in this process (for diagnostics)."""
    return _applied
