"""The names users type for device, precision, backend, inference size and label
confidence, and their grammar (no torch).

One definition shared by the node's parameters (``settings``), the inference engine and
training, so a value is accepted or refused with the same words everywhere, and the
parameter layer can validate without importing torch.
"""

from __future__ import annotations

from collections.abc import Sequence

PRECISIONS = ("fp32", "fp16", "bf16")
BACKENDS = ("torch", "onnxruntime")
DEVICE_HELP = "auto, cpu, cuda or cuda:N"
MIN_INFERENCE_SIZE = 8  # px per side: below this the backbones' 3×3 stacks see only padding


def parse_device(text: str | None) -> str:
    """Normalize a device name to ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Raises ValueError naming the value and the accepted forms. Whether CUDA is usable on
    this machine is not checked here (that needs torch: ``engine.device.resolve_device``).
    """
    spec = (text or "auto").strip().lower()
    if spec in ("auto", "cpu", "cuda"):
        return spec
    head, _, index = spec.partition(":")
    if head == "cuda" and index.isdigit():
        return f"cuda:{int(index)}"
    raise ValueError(f"device '{text}' is invalid; use {DEVICE_HELP}")


def check_precision_name(name: str) -> str:
    """``name`` if it is a known precision, else ValueError listing them."""
    if name not in PRECISIONS:
        raise ValueError(f"precision '{name}' is unknown; use one of {', '.join(PRECISIONS)}")
    return name


def check_backend_name(name: str) -> str:
    """``name`` if it is a known engine backend, else ValueError listing them."""
    if name not in BACKENDS:
        raise ValueError(f"backend '{name}' is unknown; use {' or '.join(BACKENDS)}")
    return name


def check_inference_size(
    size: Sequence[int] | None, name: str = "inference size"
) -> tuple[int, int] | None:
    """``(h, w)`` the network runs at, or None for the input's own size.

    ``[0, 0]`` also means native size. Raises ValueError for anything else that is not two
    integers of at least ``MIN_INFERENCE_SIZE``; ``name`` is how the message calls it.
    """
    if size is None:
        return None
    values = list(size)
    try:
        h, w = (int(v) for v in values)
        if [h, w] != values:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{name} {values} is invalid; use [height, width] or [0, 0]") from None
    if (h, w) == (0, 0):
        return None
    if min(h, w) < MIN_INFERENCE_SIZE:
        raise ValueError(
            f"{name} [{h}, {w}] is too small; need both >= {MIN_INFERENCE_SIZE} "
            "or [0, 0] for the input's size"
        )
    return h, w


def check_confidence(value: float, name: str = "min_confidence") -> float:
    """A label confidence threshold in [0, 1] (0 = plain argmax), or ValueError naming it
    (``name``: how the message calls it)."""
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1] (0 = plain argmax), got {value}")
    return value
