"""mtvif-export: write a checkpoint as ONNX (dynamic H/W) and verify it with onnxruntime.

    mtvif-export OUT.onnx [--checkpoint CKPT]
    trtexec --onnx=OUT.onnx --saveEngine=mtvif.plan --fp16 \
        --minShapes=vis_y:1x1x240x320,ir:1x1x240x320 \
        --optShapes=vis_y:1x1x480x640,ir:1x1x480x640 \
        --maxShapes=vis_y:1x1x720x1280,ir:1x1x720x1280       # TensorRT, e.g. on a Jetson
"""

from __future__ import annotations

import argparse
import sys

from mtvif_ros.engine.export import export_onnx, verify_onnx
from mtvif_ros.model import CheckpointError, default_checkpoint_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="mtvif-export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("out", help="output .onnx file")
    ap.add_argument("--checkpoint", default=None, help="checkpoint .pt (default: packaged)")
    args = ap.parse_args(argv)
    ckpt = args.checkpoint or default_checkpoint_path()
    try:
        path = export_onnx(ckpt, args.out)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    check = verify_onnx(ckpt, path)
    print(
        f"wrote {path}: onnxruntime vs PyTorch max |fused| diff "
        f"{check['max_abs_diff_fused']:.2e}, labels equal {check['labels_equal_pct']:.2f} %"
    )
    return 0 if check["max_abs_diff_fused"] < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
