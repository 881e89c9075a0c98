"""ONNX export of a checkpoint (dynamic height and width), checked against PyTorch.

The ONNX graph takes ``vis_y`` and ``ir`` (N×1×H×W float32 in [0, 1]) and returns
``fused`` (N×1×H×W) and ``logits`` (N×C×H×W), exactly the PyTorch module's interface; the
checkpoint's config (classes, palette, input convention) travels in the model metadata.
From it, ``trtexec`` builds a TensorRT engine for Jetson/x86 GPUs (see README).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from mtvif_ros.model import load_checkpoint


def export_onnx(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Export ``checkpoint`` to ``out`` (ONNX, dynamic H/W) and return the path."""
    import onnx

    ckpt = load_checkpoint(checkpoint)
    model = ckpt.model.eval()
    # two distinct example tensors: passing one tensor twice makes the exporter alias the
    # inputs, and the graph then reads one input for both
    y, ir = torch.rand(1, 1, 96, 128), torch.rand(1, 1, 96, 128)
    h = torch.export.Dim("height", min=16, max=8192)
    w = torch.export.Dim("width", min=16, max=8192)
    dims = {"vis_y": {2: h, 3: w}, "ir": {2: h, 3: w}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (y, ir),
            input_names=["vis_y", "ir"],
            output_names=["fused", "logits"],
            dynamic_shapes=dims,
            dynamo=True,
            verbose=False,
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    program.save(str(out))
    proto = onnx.load(str(out))
    meta = {
        "mtvif_ros.config": json.dumps(ckpt.config.to_dict()),
        "mtvif_ros.trained": str(ckpt.trained),
    }
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, str(out))
    return out


GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
Provider = tuple[str, dict[str, str]]


def ort_providers(
    device: torch.device,
    available: list[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    shapes: tuple[tuple[int, int], tuple[int, int], tuple[int, int]] | None = None,
) -> list[Provider]:
    """The execution providers, with their options, for a session on ``device``.

    CPU: the CPU provider alone. ``cuda:N``: TensorRT then CUDA, both on GPU N (as far as
    this onnxruntime build offers them), then the CPU for what they cannot run. TensorRT
    keeps its engines in ``cache_dir`` (built once per shape profile, not at every start)
    and, with ``shapes`` ((min h, min w), (opt h, opt w), (max h, max w)), builds one
    engine for that range of frame sizes instead of one per size seen.
    """
    if available is None:
        import onnxruntime as ort

        available = ort.get_available_providers()
    plan: list[Provider] = []
    if device.type == "cuda":
        device_id = str(device.index or 0)
        if "TensorrtExecutionProvider" in available:
            trt = {"device_id": device_id}
            if cache_dir is not None:
                trt |= {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache_dir)}
                trt |= {"trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache_dir)}
            if shapes is not None:
                for key, (h, w) in zip(("min", "opt", "max"), shapes, strict=True):
                    trt[f"trt_profile_{key}_shapes"] = f"vis_y:1x1x{h}x{w},ir:1x1x{h}x{w}"
            plan.append(("TensorrtExecutionProvider", trt))
        if "CUDAExecutionProvider" in available:
            plan.append(("CUDAExecutionProvider", {"device_id": device_id}))
    plan.append(("CPUExecutionProvider", {}))
    return plan


def verify_onnx(
    checkpoint: str | os.PathLike[str],
    onnx_path: str | os.PathLike[str],
    sizes: tuple[tuple[int, int], ...] = ((96, 128), (61, 83)),
) -> dict[str, float]:
    """Max |fused| difference and % equal labels of ONNX Runtime (CPU) vs PyTorch."""
    import onnxruntime as ort

    model = load_checkpoint(checkpoint).model.eval()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(0)
    worst, agree = 0.0, []
    for hh, ww in sizes:
        y, ir = torch.rand(1, 1, hh, ww, generator=g), torch.rand(1, 1, hh, ww, generator=g)
        with torch.no_grad():
            ref_f, ref_l = model(y, ir)
        f, lg = sess.run(None, {"vis_y": y.numpy(), "ir": ir.numpy()})
        worst = max(worst, float(np.abs(f - ref_f.numpy()).max()))
        agree.append(float((lg.argmax(1) == ref_l.argmax(1).numpy()).mean()))
    return {"max_abs_diff_fused": worst, "labels_equal_pct": 100 * min(agree)}
