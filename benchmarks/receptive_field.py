"""Effective receptive field of the segmentation output of each packaged checkpoint.

    python benchmarks/receptive_field.py [--pair ../shared/data/msrs/vi/00055D.png]

For a real pair (or a sample scene without ``--pair``) at 480×640, the gradient of the
centre pixel's logits (sum of their absolute values) with respect to both inputs says
which input pixels the label of that pixel depends on. Reported: the side of the smallest
centred square holding 50 % and 90 % of the gradient mass, and the width × height of the
region where the gradient is at least 1 % of its peak. A label that must tell a car from
warm road needs this to be of the size of a car (≥ 100 px at 480×640). Prints Markdown.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import torch

from mtvif_ros.data import make_scene
from mtvif_ros.imaging import normalize_ir, split_luma
from mtvif_ros.model import load_checkpoint, packaged_checkpoints


def mass_side(grad: torch.Tensor, frac: float) -> int:
    """Side of the smallest square centred on the middle pixel holding ``frac`` of it."""
    h, w = grad.shape
    cy, cx, total = h // 2, w // 2, grad.sum()
    for r in range(max(h, w)):
        if grad[max(0, cy - r) : cy + r + 1, max(0, cx - r) : cx + r + 1].sum() >= frac * total:
            return 2 * r + 1
    return max(h, w)


def centre_gradient(model: torch.nn.Module, y: torch.Tensor, ir: torch.Tensor) -> torch.Tensor:
    y, ir = y.clone().requires_grad_(), ir.clone().requires_grad_()
    _, logits = model.eval()(y, ir)
    h, w = y.shape[-2:]
    logits[0, :, h // 2, w // 2].abs().sum().backward()
    return (y.grad.abs() + ir.grad.abs())[0, 0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair", default=None, help="visible image; its IR partner in ../ir/")
    args = ap.parse_args()
    if args.pair:
        vis_path = Path(args.pair)
        vis = cv2.imread(str(vis_path))
        ir = cv2.imread(str(vis_path.parent.parent / "ir" / vis_path.name), cv2.IMREAD_UNCHANGED)
        what = str(vis_path)
    else:
        s = make_scene(0, 480, 640)
        vis, ir, what = s.vis, s.ir, "sample scene 0"
    y = torch.from_numpy(split_luma(vis)[0])[None, None]
    i01 = torch.from_numpy(normalize_ir(ir))[None, None]
    print(f"centre pixel of {what} ({y.shape[-1]}x{y.shape[-2]})\n")
    print("| checkpoint | backbone | 50 % of gradient mass | 90 % | ≥ 1 % of peak (w × h) |")
    print("|---|---|---:|---:|---:|")
    for path in packaged_checkpoints():
        ckpt = load_checkpoint(path)
        g = centre_gradient(ckpt.model, y, i01)
        ys, xs = torch.nonzero(g >= 0.01 * g.max(), as_tuple=True)
        extent = f"{int(xs.max() - xs.min() + 1)} × {int(ys.max() - ys.min() + 1)}"
        print(
            f"| {path.name} | {ckpt.config.backbone} | {mass_side(g, 0.5)} px | "
            f"{mass_side(g, 0.9)} px | {extent} px |"
        )


if __name__ == "__main__":
    main()
