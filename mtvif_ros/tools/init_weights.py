"""Write a seeded, untrained MultiTaskVIF checkpoint (the placeholder default weights)."""

from __future__ import annotations

import argparse

from mtvif_ros.model.weights import default_checkpoint_path, write_untrained_checkpoint


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "path",
        nargs="?",
        default=str(default_checkpoint_path()),
        help="output .pt file (default: the package's default checkpoint)",
    )
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the initialization")
    args = parser.parse_args(argv)
    write_untrained_checkpoint(args.path, args.seed)
    print(f"wrote untrained checkpoint {args.path}")


if __name__ == "__main__":
    main()
