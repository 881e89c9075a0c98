"""Offline evaluation of a bag: pair, fuse, write an output bag, report metrics and sync.

The same pairer, parameters file and frame pipeline (registration + engine) as the live
node, so offline and live results are identical for the same pairs. Messages stream
through: memory stays flat whatever the bag's length. Problems (missing topic, bad
encodings, a truncated file) end in a clear message and a partial report, never a
traceback.
"""

from __future__ import annotations

import itertools
import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import ReaderError, Writer

from mtvif_ros.bags.boxes import BoxFolders
from mtvif_ros.bags.io import (
    IMAGE,
    TYPESTORE,
    camera_topic,
    deserialize,
    image_array,
    make_image,
    open_reader,
    open_writer,
    serialize,
)
from mtvif_ros.engine import FusionEngine
from mtvif_ros.evaluation.report import fusion_table
from mtvif_ros.evaluation.run import ir_as_uint8
from mtvif_ros.imaging.encodings import EncodingError
from mtvif_ros.metrics import BoxScores, ConfusionMatrix, fusion_metrics
from mtvif_ros.metrics.boxes import box_table
from mtvif_ros.metrics.segmentation import iou_table_header, iou_table_row
from mtvif_ros.params.settings import Settings
from mtvif_ros.runtime.pipeline import FramePipeline
from mtvif_ros.runtime.stamps import header_ns
from mtvif_ros.runtime.sync import ROLES, ApproxTimePairer, stream_of
from mtvif_ros.tables import write_csv

# what a truncated or corrupt bag raises while being read (programming errors still raise)
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, struct.error, ReaderError)
OFFSET_BINS_MS = (-50, -20, -10, -5, -2, 0, 2, 5, 10, 20, 50)
OUTPUT_TOPICS = {"fused": "/fused/image", "labels": "/segmentation/labels"}


@dataclass
class BagEvalResult:
    """What an evaluation found: one metrics row per fused pair, message and drop counts,
    the pairs' stamp offsets, the confusion matrix where the bag has labels, problems."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    messages: Counter = field(default_factory=Counter)
    bad: Counter = field(default_factory=Counter)
    out_of_order: Counter = field(default_factory=Counter)
    noticed: Counter = field(default_factory=Counter)  # pipeline warnings (nonfinite_ir, ...)
    offsets_ms: list[float] = field(default_factory=list)
    unmatched: list[int] = field(default_factory=lambda: [0, 0])
    duplicate_stamps: int = 0
    clock_jumps: int = 0
    pairs: int = 0
    confusion: ConfusionMatrix | None = None
    boxes: BoxScores | None = None
    unboxed_pairs: int = 0  # fused pairs with no box file (not scored against boxes)
    problems: list[str] = field(default_factory=list)


class BagEvaluator:
    """Consumes a bag's messages one at a time: camera images are paired and fused through
    the node's pipeline, outputs written with the visible stamps, label images matched to
    the predictions of the same stamp (in whichever order the two arrive)."""

    def __init__(
        self,
        pipeline: FramePipeline,
        writer: Writer,
        topics: dict[str, str],
        labelled: bool,
        progress: Any = None,
        box_folders: BoxFolders | None = None,
        msgtypes: dict[str, str] | None = None,
    ) -> None:
        settings = pipeline.settings
        self.pipeline, self.writer, self.topics = pipeline, writer, topics
        self.box_folders = box_folders
        msgtypes = msgtypes or {}
        self.role_of = {topics[r]: r for r in ROLES}
        self.pairer = ApproxTimePairer(
            int(settings["sync.slop"] * 1e9), settings["sync.queue_size"]
        )
        self.res = BagEvalResult()
        if labelled:
            self.res.confusion = ConfusionMatrix(pipeline.engine.checkpoint.config.num_classes)
        if box_folders is not None:
            self.res.boxes = BoxScores()
        self._labels: dict[int, np.ndarray] = {}  # ground truth waiting for its pair
        self._predictions: dict[int, np.ndarray] = {}  # predictions waiting for ground truth
        self._newest: dict[str, int] = {}
        self._progress = progress
        self._conns = {  # the inputs are copied as they are: Image or CompressedImage
            topics[r]: writer.add_connection(
                topics[r], msgtypes.get(topics[r], IMAGE), typestore=TYPESTORE
            )
            for r in ROLES
        }
        self._conns.update(
            {
                k: writer.add_connection(t, IMAGE, typestore=TYPESTORE)
                for k, t in OUTPUT_TOPICS.items()
            }
        )

    def on_message(self, topic: str, t_ns: int, raw: bytes, msgtype: str) -> None:
        """One bag message, in recording order."""
        if self._progress is not None:
            self._progress.update(1)
        self.res.messages[topic] += 1
        msg = deserialize(raw, msgtype)
        if topic == self.topics.get("labels"):
            self.on_labels(header_ns(msg), image_array(msg, "visible"))
            return
        self.writer.write(self._conns[topic], t_ns, raw)
        self.on_image(self.role_of[topic], topic, msg, t_ns)

    def on_labels(self, stamp: int, gt: np.ndarray) -> None:
        """A ground-truth label image: scored now if its pair was fused, else kept."""
        pred = self._predictions.pop(stamp, None)
        if pred is not None and self.res.confusion is not None:
            self.res.confusion.update(pred, gt)
        else:
            _bounded_put(self._labels, stamp, gt)

    def on_image(self, role: str, topic: str, msg: Any, t_ns: int) -> None:
        """A camera image: counted, checked, offered to the pairer; fused when it pairs."""
        stamp = header_ns(msg)
        prev = self._newest.get(topic)
        if prev is not None and stamp < prev:
            self.res.out_of_order[topic] += 1
        self._newest[topic] = stamp if prev is None else max(prev, stamp)
        try:
            arr = image_array(msg, role)
        except EncodingError as exc:
            self.res.bad[topic] += 1
            if self.res.bad[topic] == 1:
                self.res.problems.append(f"{topic}: {exc} (such messages are skipped)")
            return
        pair = self.pairer.add(stream_of(role), stamp, (arr, msg, t_ns))
        if pair is not None:
            (ir, _, _), (vis, vis_msg, vis_t), ir_ns, vis_ns = pair
            self.on_pair(ir, vis, vis_msg.header.frame_id, vis_t, ir_ns, vis_ns)

    def on_pair(
        self, ir: np.ndarray, vis: np.ndarray, frame_id: str, t_ns: int, ir_ns: int, vis_ns: int
    ) -> None:
        """Fuse one pair, write both outputs with the visible stamp, record its metrics."""
        frame = self.pipeline.run(ir, vis)
        self.res.noticed.update(frame.warnings().keys())
        result = frame.result
        for kind, arr, enc in (
            ("fused", result.fused, "bgr8"),
            ("labels", result.labels, "mono8"),
        ):
            self.writer.write(
                self._conns[kind], t_ns, serialize(make_image(arr, enc, vis_ns, frame_id))
            )
        row = {
            "stamp_ns": vis_ns,
            "offset_ms": (ir_ns - vis_ns) / 1e6,
            "ms": 1e3 * sum(result.timings.values()),
        }
        row.update(fusion_metrics(result.fused, ir_as_uint8(frame.ir, vis.shape[:2]), vis))
        self.res.rows.append(row)
        self.res.offsets_ms.append(row["offset_ms"])
        if self.box_folders is not None:
            self.on_boxes(vis_ns, result.labels)
        if self.res.confusion is not None:
            gt = self._labels.pop(vis_ns, None)
            if gt is not None:
                self.res.confusion.update(result.labels, gt)
            else:  # its label may come later in the bag
                _bounded_put(self._predictions, vis_ns, result.labels)

    def on_boxes(self, stamp: int, labels: np.ndarray) -> None:
        """Score a pair's labels against the box files of its visible stamp, if any."""
        variants, problems = self.box_folders.boxes_for(stamp, labels.shape[1], labels.shape[0])
        for p in problems:
            if len(self.res.problems) < 20:
                self.res.problems.append(f"{p} (line skipped)")
        if variants is None:
            self.res.unboxed_pairs += 1
        else:
            self.res.boxes.update(labels, variants, self.box_folders.name_of(stamp))

    def finish(self) -> BagEvalResult:
        """The result; messages still waiting when the bag ends never found a partner."""
        stats, res = self.pairer.stats, self.res
        res.unmatched = [
            u + p for u, p in zip(stats.unmatched, self.pairer.pending(), strict=True)
        ]
        res.pairs = stats.paired
        res.duplicate_stamps, res.clock_jumps = sum(stats.duplicates), stats.clock_jumps
        return res


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
    boxes: Sequence[str | Path] = (),
) -> BagEvalResult:
    """Evaluate ``bag`` into ``out``: ``bag`` (inputs + outputs), report.md, metrics.csv.
    ``boxes``: box folders (``bags.boxes``) to score the labels against, recall over the first."""
    box_folders = BoxFolders(boxes) if boxes else None  # a wrong folder fails before any work
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reader = open_reader(bag)
    present = {c.topic: c for c in reader.connections}
    ir_topic, visible_topic = (camera_topic(present, t) for t in (ir_topic, visible_topic))
    missing = _missing_topics(present, ir_topic, visible_topic)
    if missing:
        reader.close()
        res = BagEvalResult(problems=missing)
    else:
        topics = {"ir": ir_topic, "visible": visible_topic, "labels": labels_topic}
        wanted = [present[t] for t in topics.values() if t in present]
        pipeline = FramePipeline(engine or FusionEngine(**settings.engine_kwargs()), settings)
        res = _stream(
            reader, wanted, pipeline, topics, out / "bag", storage, progress, box_folders
        )
    (out / "report.md").write_text(render_report(res, bag))
    write_csv(out / "metrics.csv", res.rows)
    return res


def _missing_topics(present: dict[str, Any], ir_topic: str, visible_topic: str) -> list[str]:
    names = ", ".join(sorted(present)) or "none"
    return [
        f"topic {topic} is not in the bag (it has: {names}); pass {flag}"
        for flag, topic in (("--ir-topic", ir_topic), ("--visible-topic", visible_topic))
        if topic not in present
    ]


def _stream(
    reader, wanted, pipeline, topics, out_bag, storage, progress, box_folders
) -> BagEvalResult:
    """Feed every wanted message to a BagEvaluator writing ``out_bag``; a read error ends
    the stream with what was processed so far."""
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(c.msgcount for c in wanted), desc="bag", unit="msg")
    labelled = topics["labels"] in {c.topic for c in wanted}
    with open_writer(out_bag, storage) as writer:
        msgtypes = {c.topic: c.msgtype for c in wanted}
        evaluator = BagEvaluator(pipeline, writer, topics, labelled, bar, box_folders, msgtypes)
        try:
            for conn, t_ns, raw in reader.messages(connections=wanted):
                evaluator.on_message(conn.topic, t_ns, raw, conn.msgtype)
        except READ_ERRORS as exc:  # truncated/corrupt storage: keep what was processed
            evaluator.res.problems.append(
                f"reading stopped early: {type(exc).__name__}: {str(exc)[:200]}"
            )
        finally:
            reader.close()
            if bar is not None:
                bar.close()
    return evaluator.finish()


def _bounded_put(store: dict[int, np.ndarray], key: int, value: np.ndarray, cap: int = 64) -> None:
    """Keep at most ``cap`` items waiting for a partner (flat memory on long bags)."""
    store[key] = value
    while len(store) > cap:
        del store[min(store)]


def offset_histogram(offsets_ms: list[float]) -> list[tuple[str, int]]:
    """(bin label, pairs) of the pairs' IR − visible offsets, non-empty bins only."""
    edges = (-np.inf, *OFFSET_BINS_MS, np.inf)
    counts, _ = np.histogram(offsets_ms, bins=edges)
    labels = [f"[{a:g}, {b:g}) ms" for a, b in itertools.pairwise(edges)]
    return [(lab, int(c)) for lab, c in zip(labels, counts, strict=True) if c]


def render_report(res: BagEvalResult, bag: str | Path) -> str:
    """The Markdown report of an evaluation (writes nothing)."""
    lines = [f"# Bag evaluation: {bag}", ""]
    if res.problems:
        lines += ["## Problems (the report is partial where they apply)", ""]
        lines += [f"- {p}" for p in res.problems] + [""]
    lines += _sync_section(res)
    if res.rows:
        lines += _metrics_section(res.rows)
    if res.confusion is not None and res.confusion.matrix.sum():
        lines += ["", "## Segmentation (labels topic)", "", iou_table_header()]
        lines.append(iou_table_row("multitaskvif", res.confusion))
    if res.boxes is not None:
        lines += _boxes_section(res)
    return "\n".join(lines) + "\n"


def _sync_section(res: BagEvalResult) -> list[str]:
    lines = ["## Synchronization", "", "| quantity | value |", "|---|---:|"]
    lines += [f"| messages on {t} | {n} |" for t, n in sorted(res.messages.items())]
    lines += [
        f"| pairs formed | {res.pairs} |",
        f"| unmatched IR messages | {res.unmatched[0]} |",
        f"| unmatched visible messages | {res.unmatched[1]} |",
    ]
    lines += [f"| unusable messages on {t} | {n} |" for t, n in sorted(res.bad.items())]
    lines += [f"| out-of-order stamps on {t} | {n} |" for t, n in sorted(res.out_of_order.items())]
    if res.duplicate_stamps:
        lines.append(
            f"| messages replaced by a later one with the same stamp | {res.duplicate_stamps} |"
        )
    if res.clock_jumps:
        lines.append(f"| stamps jumping back (pairing restarted) | {res.clock_jumps} |")
    lines += [
        f"| pairs with {k.replace('_', ' ')} | {n} |" for k, n in sorted(res.noticed.items())
    ]
    if res.offsets_ms:
        o = np.array(res.offsets_ms)
        lines.append(
            f"| IR − visible stamp offset, median / min / max (ms) | "
            f"{np.median(o):.1f} / {o.min():.1f} / {o.max():.1f} |"
        )
        lines += ["", "| IR − visible offset of formed pairs | pairs |", "|---|---:|"]
        lines += [f"| {b} | {c} |" for b, c in offset_histogram(res.offsets_ms)]
    return lines


def _metrics_section(rows: list[dict[str, Any]]) -> list[str]:
    table = fusion_table([{**r, "method": "multitaskvif"} for r in rows])
    return ["", f"## Fusion metrics (mean ± std over {len(rows)} pairs)", "", *table]


def _boxes_section(res: BagEvalResult) -> list[str]:
    scored = res.boxes.images["all"]
    lines = ["", "## Objects: box recall and pixel precision (box folders)", ""]
    if scored:
        lines += [*box_table({"multitaskvif": res.boxes}), ""]
    lines.append(
        f"{scored} fused pairs scored against boxes, {res.unboxed_pairs} without a box file "
        "for their visible stamp. Recall and precision as in `mtvif-eval --boxes` "
        "(see `metrics.boxes`)."
    )
    return lines
