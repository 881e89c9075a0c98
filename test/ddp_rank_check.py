"""Run by torchrun: train with the given mtvif-train flags, then fail if the ranks' weights differ.

    torchrun --standalone --nproc_per_node 2 test/ddp_rank_check.py --device cpu ...

Every process starts from the same weights; with gradients all-reduced by DDP they take the
same optimiser steps and stay identical, while unsynchronised processes, each on its own
data shard, drift apart. Exits 1 (rank 0 prints the largest difference) if they drifted.
Uses only ``Trainer``, ``parse_config`` and ``trainer.model``, so it runs unchanged against
older versions of the package (to show a regression test fails there).
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist

import mtvif_ros
from mtvif_ros.train import Trainer, parse_config

TOLERANCE = 1e-6


def main(argv: list[str]) -> int:
    trainer = Trainer(parse_config(argv))
    trainer.run()
    flat = torch.cat([p.detach().float().flatten().cpu() for p in trainer.model.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    diff = max(float((g - flat).abs().max()) for g in gathered)
    if dist.get_rank() == 0:
        print(f"mtvif_ros from {mtvif_ros.__file__}")
        print(f"largest weight difference between ranks: {diff:.3g} ({flat.numel()} weights)")
    dist.barrier()  # neither process leaves while the other still talks to it
    dist.destroy_process_group()
    return 0 if diff <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
