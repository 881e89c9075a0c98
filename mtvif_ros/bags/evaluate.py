"""Offline evaluation of a bag: pair, fuse, write an output bag, report metrics and sync.

The same pairing module, parameters file and engine as the live node, so offline and live
results are identical for the same pairs. Messages stream through: memory stays flat
whatever the bag's length. Problems (missing topic, bad encodings, a truncated file) end
in a clear message and a partial report, never a traceback.
"""

from __future__ import annotations

import csv
import itertools
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import ReaderError

from mtvif_ros.bags.io import (
    IMAGE,
    TYPESTORE,
    deserialize,
    image_array,
    make_image,
    open_reader,
    open_writer,
    serialize,
    stamp_of,
)
from mtvif_ros.engine import FusionEngine
from mtvif_ros.evaluate import TABLE_KEYS, ir_as_uint8
from mtvif_ros.imaging import warp_ir
from mtvif_ros.imaging.encodings import EncodingError
from mtvif_ros.metrics import ConfusionMatrix, fusion_metrics
from mtvif_ros.metrics.segmentation import iou_table_header, iou_table_row
from mtvif_ros.settings import Settings
from mtvif_ros.sync import IR, VISIBLE, ApproxTimePairer

# what a truncated or corrupt bag raises while being read (programming errors still raise)
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, struct.error, ReaderError)
OFFSET_BINS_MS = (-50, -20, -10, -5, -2, 0, 2, 5, 10, 20, 50)


@dataclass
class BagEvalResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    messages: Counter = field(default_factory=Counter)
    bad: Counter = field(default_factory=Counter)
    out_of_order: Counter = field(default_factory=Counter)
    offsets_ms: list[float] = field(default_factory=list)
    unmatched: list[int] = field(default_factory=lambda: [0, 0])
    pairs: int = 0
    confusion: ConfusionMatrix | None = None
    problems: list[str] = field(default_factory=list)


def evaluate_bag(
    bag: str | Path,
    out: str | Path,
    settings: Settings,
    ir_topic: str = "/ir/image",
    visible_topic: str = "/visible/image",
    labels_topic: str = "/segmentation/labels_gt",
    storage: str = "mcap",
    engine: FusionEngine | None = None,
    progress: bool = True,
) -> BagEvalResult:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    res = BagEvalResult()
    reader = open_reader(bag)
    topics = {c.topic: c for c in reader.connections}
    present = ", ".join(sorted(topics)) or "none"
    for flag, topic in (("--ir-topic", ir_topic), ("--visible-topic", visible_topic)):
        if topic not in topics:
            res.problems.append(
                f"topic {topic} is not in the bag (it has: {present}); pass {flag}"
            )
    if res.problems:
        reader.close()
        write_report(res, out, bag)
        return res
    engine = engine or FusionEngine(**settings.engine_kwargs())
    pairer = ApproxTimePairer(int(settings["sync.slop"] * 1e9), settings["sync.queue_size"])
    wanted = [topics[t] for t in (ir_topic, visible_topic, labels_topic) if t in topics]
    labels_by_stamp: dict[int, np.ndarray] = {}  # ground truth waiting for its pair
    predictions: dict[int, np.ndarray] = {}  # predictions waiting for their ground truth
    if labels_topic in topics:
        res.confusion = ConfusionMatrix(engine.checkpoint.config.num_classes)
    last_stamp = {ir_topic: None, visible_topic: None}
    total = sum(c.msgcount for c in wanted)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="bag", unit="msg")
    writer = open_writer(out / "bag", storage)
    with writer:
        conns = {
            t: writer.add_connection(t, IMAGE, typestore=TYPESTORE)
            for t in (ir_topic, visible_topic)
        }
        c_fused = writer.add_connection("/fused/image", IMAGE, typestore=TYPESTORE)
        c_labels = writer.add_connection("/segmentation/labels", IMAGE, typestore=TYPESTORE)
        try:
            for conn, t_ns, raw in reader.messages(connections=wanted):
                if bar is not None:
                    bar.update(1)
                res.messages[conn.topic] += 1
                msg = deserialize(raw, conn.msgtype)
                if conn.topic == labels_topic:
                    gt, stamp = image_array(msg, "visible"), stamp_of(msg)
                    pred = predictions.pop(stamp, None)
                    if pred is not None and res.confusion is not None:
                        res.confusion.update(pred, gt)  # the pair was fused before its label came
                    else:
                        _bounded_put(labels_by_stamp, stamp, gt)
                    continue
                writer.write(conns[conn.topic], t_ns, raw)
                role = "ir" if conn.topic == ir_topic else "visible"
                stamp = stamp_of(msg)
                prev = last_stamp[conn.topic]
                if prev is not None and stamp < prev:
                    res.out_of_order[conn.topic] += 1
                last_stamp[conn.topic] = stamp if prev is None else max(prev, stamp)
                try:
                    arr = image_array(msg, role)
                except EncodingError as exc:
                    res.bad[conn.topic] += 1
                    if res.bad[conn.topic] == 1:
                        res.problems.append(f"{conn.topic}: {exc} (such messages are skipped)")
                    continue
                pair = pairer.add(IR if role == "ir" else VISIBLE, stamp, (arr, msg, t_ns))
                if pair is None:
                    continue
                (ir, _, _), (vis, vis_msg, vis_t), ir_ns, vis_ns = pair
                pred = _process(
                    res,
                    engine,
                    settings,
                    ir,
                    vis,
                    vis_msg,
                    vis_t,
                    ir_ns,
                    vis_ns,
                    writer,
                    c_fused,
                    c_labels,
                )
                if res.confusion is not None:
                    gt = labels_by_stamp.pop(vis_ns, None)
                    if gt is not None:
                        res.confusion.update(pred, gt)
                    else:  # its label may come later in the bag
                        _bounded_put(predictions, vis_ns, pred)
        except READ_ERRORS as exc:  # truncated/corrupt storage: keep what was processed
            res.problems.append(f"reading stopped early: {type(exc).__name__}: {str(exc)[:200]}")
        finally:
            reader.close()
            if bar is not None:
                bar.close()
    # messages still waiting when the bag ends never found a partner either
    res.unmatched = [u + p for u, p in zip(pairer.stats.unmatched, pairer.pending(), strict=True)]
    res.pairs = pairer.stats.paired
    write_report(res, out, bag)
    return res


def _bounded_put(store: dict[int, np.ndarray], key: int, value: np.ndarray, cap: int = 64) -> None:
    """Keep at most ``cap`` items waiting for a partner (flat memory on long bags)."""
    store[key] = value
    while len(store) > cap:
        del store[min(store)]


def _process(
    res, engine, settings, ir, vis, vis_msg, vis_t, ir_ns, vis_ns, writer, c_fused, c_labels
) -> np.ndarray:
    """Fuse one pair, write both outputs with the visible stamp, record metrics; → labels."""
    if settings.homography is not None:
        ir = warp_ir(ir, settings.homography, vis.shape[:2])
    result = engine.run(ir, vis)
    frame = vis_msg.header.frame_id
    for conn, arr, enc in ((c_fused, result.fused, "bgr8"), (c_labels, result.labels, "mono8")):
        writer.write(conn, vis_t, serialize(make_image(arr, enc, vis_ns, frame)))
    row = {
        "stamp_ns": vis_ns,
        "offset_ms": (ir_ns - vis_ns) / 1e6,
        "ms": 1e3 * sum(result.timings.values()),
    }
    row.update(fusion_metrics(result.fused, ir_as_uint8(ir, vis.shape[:2]), vis))
    res.rows.append(row)
    res.offsets_ms.append(row["offset_ms"])
    return result.labels


def offset_histogram(offsets_ms: list[float]) -> list[tuple[str, int]]:
    edges = (-np.inf, *OFFSET_BINS_MS, np.inf)
    counts, _ = np.histogram(offsets_ms, bins=edges)
    labels = [f"[{a:g}, {b:g}) ms" for a, b in itertools.pairwise(edges)]
    return [(lab, int(c)) for lab, c in zip(labels, counts, strict=True) if c]


def write_report(res: BagEvalResult, out: Path, bag: str | Path) -> str:
    lines = [f"# Bag evaluation: {bag}", ""]
    if res.problems:
        lines += ["## Problems (the report is partial where they apply)", ""]
        lines += [f"- {p}" for p in res.problems] + [""]
    lines += ["## Synchronization", "", "| quantity | value |", "|---|---:|"]
    for topic, n in sorted(res.messages.items()):
        lines.append(f"| messages on {topic} | {n} |")
    lines += [
        f"| pairs formed | {res.pairs} |",
        f"| unmatched IR messages | {res.unmatched[0]} |",
        f"| unmatched visible messages | {res.unmatched[1]} |",
    ]
    for topic, n in sorted(res.bad.items()):
        lines.append(f"| unusable messages on {topic} | {n} |")
    for topic, n in sorted(res.out_of_order.items()):
        lines.append(f"| out-of-order stamps on {topic} | {n} |")
    if res.offsets_ms:
        o = np.array(res.offsets_ms)
        lines.append(
            f"| IR − visible stamp offset, median / min / max (ms) | "
            f"{np.median(o):.1f} / {o.min():.1f} / {o.max():.1f} |"
        )
        lines += ["", "| IR − visible offset of formed pairs | pairs |", "|---|---:|"]
        lines += [f"| {b} | {c} |" for b, c in offset_histogram(res.offsets_ms)]
    if res.rows:
        lines += [
            "",
            f"## Fusion metrics (mean ± std over {len(res.rows)} pairs)",
            "",
            "| " + " | ".join(TABLE_KEYS) + " | ms/pair |",
            "|" + "---:|" * (len(TABLE_KEYS) + 1),
        ]
        cells = []
        for key in (*TABLE_KEYS, "ms"):
            v = np.array([r[key] for r in res.rows], float)
            v = v[np.isfinite(v)]
            cells.append(f"{v.mean():.3f} ± {v.std():.3f}" if v.size else "n/a")
        cells[-1] = cells[-1].split(" ±")[0]
        lines.append("| " + " | ".join(cells) + " |")
        with open(out / "metrics.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(res.rows[0]))
            w.writeheader()
            w.writerows(res.rows)
    if res.confusion is not None and res.confusion.matrix.sum():
        lines += [
            "",
            "## Segmentation (labels topic)",
            "",
            iou_table_header(),
            iou_table_row("multitaskvif", res.confusion),
        ]
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    return text
