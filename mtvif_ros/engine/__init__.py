"""The inference engine: (IR array, visible array) → (fused BGR image, class-id image)."""

from mtvif_ros.engine.device import check_precision, resolve_device, set_cpu_threads
from mtvif_ros.engine.engine import FusionEngine, FusionResult

__all__ = ["FusionEngine", "FusionResult", "check_precision", "resolve_device", "set_cpu_threads"]
