"""Latency and drops of a bag recorded from the live node (inputs + outputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtvif_ros.bags.io import deserialize, open_reader
from mtvif_ros.runtime.stamps import header_ns


def latency_report(
    bag: str | Path,
    ir_topic: str = "/ir/image",
    visible_topic: str = "/visible/image",
    outputs: tuple[str, ...] = ("/fused/image", "/segmentation/labels"),
) -> tuple[str, dict[str, dict[str, float]]]:
    """Per output topic: end-to-end latency (record time − header stamp), drop rate against
    the visible input count, and whether every output stamp is an input (visible) stamp."""
    reader = open_reader(bag)
    topics = {c.topic: c for c in reader.connections}
    missing = [t for t in (visible_topic, *outputs) if t not in topics]
    stamps: dict[str, list[tuple[int, int]]] = {t: [] for t in (ir_topic, visible_topic, *outputs)}
    wanted = [topics[t] for t in stamps if t in topics]
    try:
        for conn, t_ns, raw in reader.messages(connections=wanted):
            stamps[conn.topic].append((header_ns(deserialize(raw, conn.msgtype)), t_ns))
    finally:
        reader.close()
    inputs = {s for s, _ in stamps[visible_topic]}
    lines = [f"# Latency: {bag}", ""]
    if missing:
        lines += [f"- topic {t} is not in the bag" for t in missing] + [""]
    lines += [
        f"{len(stamps[ir_topic])} IR and {len(inputs)} visible input messages.",
        "",
        "| output | messages | drop rate | latency median ms | p95 ms | max ms "
        "| stamps are input stamps |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    stats: dict[str, dict[str, float]] = {}
    for topic in outputs:
        rows = stamps.get(topic, [])
        if not rows:
            lines.append(f"| {topic} | 0 | - | - | - | - | - |")
            continue
        lat = np.array([(t - s) / 1e6 for s, t in rows])
        ok = all(s in inputs for s, _ in rows)
        drop = 1 - len(rows) / len(inputs) if inputs else float("nan")
        stats[topic] = {
            "n": len(rows),
            "drop_rate": drop,
            "median_ms": float(np.median(lat)),
            "p95_ms": float(np.percentile(lat, 95)),
            "max_ms": float(lat.max()),
            "stamps_match": float(ok),
        }
        lines.append(
            f"| {topic} | {len(rows)} | {100 * drop:.1f} % | {np.median(lat):.1f} | "
            f"{np.percentile(lat, 95):.1f} | {lat.max():.1f} | {'yes' if ok else 'NO'} |"
        )
    return "\n".join(lines) + "\n", stats
