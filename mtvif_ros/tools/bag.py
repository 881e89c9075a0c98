"""mtvif-bag: make, play, evaluate and check rosbag2 bags of IR/visible cameras.

mtvif-bag make SRC BAG [--format mcap|sqlite3] [--rate HZ] [--offset-ms X]
                       [--jitter-ms Y] [--ir-encoding mono8|mono16] [--boxes DIR ...]
                       [--compressed]   (cameras on <topic>/compressed, IR png, visible jpeg)
    SRC: sample[:N] (built-in scenes), a manifest .csv (--sets, --split), a folder
    with ir/ vi/ [labels/], or an MSRS release root (--split)
    --boxes (manifest only): also write the pairs' YOLO boxes to BAG_boxes/<DIR>/
mtvif-bag play BAG [--rate R] [--clock]          (needs rclpy; or: ros2 bag play --clock)
mtvif-bag eval BAG --out DIR [--params config/fusion.yaml] [--boxes FOLDER ...]
    (no ROS needed) --boxes: folders of <visible stamp ns>.txt YOLO files, e.g.
    BAG_boxes/boxes BAG_boxes/boxes_visible: box recall over the first, precision vs all
mtvif-bag latency BAG                             (a bag recorded from the live node)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mtvif_ros.bags.io import BagError
from mtvif_ros.host_memory import keep_freed_memory_for


def _source(spec: str, sets, split, boxes=()):
    from mtvif_ros.data import SyntheticScenes, folder_pairs, manifest_pairs, msrs_pairs

    if boxes and not spec.endswith(".csv"):
        raise ValueError("--boxes needs a manifest .csv source (box files live beside its sets)")

    if spec.startswith("sample"):
        n = int(spec.split(":")[1]) if ":" in spec else 20
        return SyntheticScenes(n, 480, 640, seed=50_000)
    path = Path(spec)
    if path.suffix == ".csv":
        return manifest_pairs(path, sets, split, boxes_dirs=boxes)
    if (path / (split or "test") / "ir").is_dir():
        return msrs_pairs(path, split or "test")
    return folder_pairs(path)


def _parser() -> argparse.ArgumentParser:
    """The four sub-commands and their options."""
    ap = argparse.ArgumentParser(
        prog="mtvif-bag", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    topics = argparse.ArgumentParser(add_help=False)
    topics.add_argument("--ir-topic", default="/ir/image")
    topics.add_argument("--visible-topic", default="/visible/image")

    mk = sub.add_parser("make", parents=[topics], help="build a bag from image pairs")
    mk.add_argument("src")
    mk.add_argument("bag")
    mk.add_argument("--format", default="mcap", choices=("mcap", "sqlite3"))
    mk.add_argument("--rate", type=float, default=10.0, help="Hz")
    mk.add_argument("--offset-ms", type=float, default=0.0, help="IR stamp offset")
    mk.add_argument("--jitter-ms", type=float, default=0.0, help="per-camera stamp jitter (std)")
    mk.add_argument("--ir-encoding", default="mono16", choices=("mono8", "mono16"))
    mk.add_argument("--sets", nargs="*", default=None)
    mk.add_argument("--split", default=None)
    mk.add_argument("--seed", type=int, default=0)
    mk.add_argument(
        "--compressed",
        action="store_true",
        help="cameras as sensor_msgs/CompressedImage on <topic>/compressed (IR png, visible jpeg)",
    )
    mk.add_argument(
        "--boxes",
        nargs="+",
        default=(),
        metavar="DIR",
        help="manifest only: box folders of each set (e.g. boxes boxes_visible), written to "
        "BAG_boxes/<DIR>/<visible stamp ns>.txt for mtvif-bag eval --boxes",
    )

    pl = sub.add_parser("play", parents=[topics], help="publish a bag's camera topics over ROS")
    pl.add_argument("bag")
    pl.add_argument("--rate", type=float, default=1.0)
    pl.add_argument("--clock", action="store_true", help="also publish /clock")

    ev = sub.add_parser("eval", parents=[topics], help="offline: pair, fuse, report")
    ev.add_argument("bag")
    ev.add_argument("--out", required=True)
    ev.add_argument("--params", default=None, help="node parameters file (config/fusion.yaml)")
    ev.add_argument("--labels-topic", default="/segmentation/labels_gt")
    ev.add_argument("--device", default=None, help="override model.device")
    ev.add_argument("--format", default="mcap", choices=("mcap", "sqlite3"))
    ev.add_argument("--no-progress", action="store_true")
    ev.add_argument(
        "--boxes",
        nargs="+",
        default=(),
        metavar="FOLDER",
        help="folders of <visible stamp ns>.txt YOLO box files: box recall over the first, "
        "pixel precision against all (mtvif-bag make --boxes writes them)",
    )

    la = sub.add_parser("latency", parents=[topics], help="latency/drops of a live recording")
    la.add_argument("bag")
    la.add_argument("--outputs", nargs="*", default=["/fused/image", "/segmentation/labels"])
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[%(levelname)s] %(name)s: %(message)s")
    try:
        return _run(args)
    except (BagError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    return {"make": _make, "eval": _eval, "latency": _latency, "play": _play}[args.cmd](args)


def _make(args: argparse.Namespace) -> int:
    from mtvif_ros.bags.make import make_bag

    pairs = _source(args.src, args.sets, args.split, args.boxes)
    boxes_out = f"{str(args.bag).rstrip('/')}_boxes" if args.boxes else None
    counts = make_bag(
        pairs,
        args.bag,
        args.format,
        args.rate,
        args.offset_ms,
        args.jitter_ms,
        args.ir_encoding,
        args.ir_topic,
        args.visible_topic,
        seed=args.seed,
        boxes_out=boxes_out,
        box_variants=args.boxes,
        compressed=args.compressed,
    )
    print(
        f"wrote {args.bag} ({args.format}): {counts['pairs']} pairs, "
        f"{counts['labels']} label images"
        + (f", boxes of {counts['boxes']} pairs in {boxes_out}" if boxes_out else "")
    )
    return 0


def _eval(args: argparse.Namespace) -> int:
    from mtvif_ros.bags.evaluate import evaluate_bag
    from mtvif_ros.engine import set_cpu_threads
    from mtvif_ros.params.settings import Settings, load_params_file

    params = load_params_file(args.params) if args.params else {}
    if args.device:
        params["model.device"] = args.device
    settings = Settings.from_mapping(params)
    keep_freed_memory_for(settings["model.device"])
    set_cpu_threads(int(settings["model.num_threads"]))
    res = evaluate_bag(
        args.bag,
        args.out,
        settings,
        args.ir_topic,
        args.visible_topic,
        args.labels_topic,
        args.format,
        progress=not args.no_progress,
        boxes=args.boxes,
    )
    print((Path(args.out) / "report.md").read_text())
    return 0 if res.pairs else 1


def _latency(args: argparse.Namespace) -> int:
    from mtvif_ros.bags.latency import latency_report

    text, _ = latency_report(args.bag, args.ir_topic, args.visible_topic, tuple(args.outputs))
    print(text)
    return 0


def _play(args: argparse.Namespace) -> int:
    import rclpy

    from mtvif_ros.node.bag_player import BagPlayer

    rclpy.init()
    player = BagPlayer(args.bag, [args.ir_topic, args.visible_topic], args.rate, args.clock)
    try:
        n = player.play()
        print(f"published {n} messages")
    except KeyboardInterrupt:
        pass
    finally:
        player.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
