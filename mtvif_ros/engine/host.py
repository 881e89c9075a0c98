"""Host memory of one frame size, kept across frames, and the copies to and from it.

A steady stream of same-sized frames then allocates only the arrays it returns; on CUDA
the staging buffers are page-locked so uploads and downloads are asynchronous DMA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class HostBuffers:
    """Per-size host memory reused across frames. ``staged_in`` (1×2×H×W float32: Y, IR)
    is what is uploaded; ``y`` and ``ir`` are numpy views of its two planes, written in
    place by pre-processing. ``staged_out`` (CUDA only) receives the download."""

    staged_in: torch.Tensor
    staged_out: torch.Tensor | None
    bgr: np.ndarray  # float32 H×W×3 scratch for the colour conversions
    plane: np.ndarray  # float32 H×W scratch for the luma difference
    done: torch.cuda.Event | None = None  # CUDA: marks the download complete

    @classmethod
    def allocate(cls, h: int, w: int, pinned: bool) -> HostBuffers:
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

    def download(self, packed: torch.Tensor) -> np.ndarray:
        """Device → host. On CUDA into the reused page-locked buffer, then one wait, which
        also guarantees the input buffer is free to be refilled for the next frame: on a
        blocking-sync event, so the thread sleeps for the GPU's time instead of spinning a
        CPU core (the executor's, on a Jetson). On CPU ``packed`` is already a fresh host
        tensor of this frame."""
        if packed.device.type != "cuda":
            return packed.numpy()
        assert self.staged_out is not None
        self.staged_out.copy_(packed, non_blocking=True)
        if self.done is None:
            self.done = torch.cuda.Event(blocking=True)
        self.done.record(torch.cuda.current_stream(packed.device))
        self.done.synchronize()
        return self.staged_out.numpy()


class HostBufferCache:
    """The buffers of the current frame size; a new size replaces them."""

    def __init__(self, pinned: bool) -> None:
        self.pinned = pinned
        self._buffers: HostBuffers | None = None

    @property
    def current(self) -> HostBuffers | None:
        """The buffers of the last frame size (None before the first frame)."""
        return self._buffers

    def get(self, h: int, w: int) -> HostBuffers:
        if self._buffers is None or self._buffers.shape != (h, w):
            self._buffers = HostBuffers.allocate(h, w, self.pinned)
        return self._buffers


def into(result: np.ndarray, dst: np.ndarray) -> None:
    """Make sure an OpenCV ``dst=`` result landed in ``dst`` (it reallocates on a mismatch)."""
    if not np.shares_memory(result, dst):
        dst[...] = result
