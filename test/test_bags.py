"""Bag tools: make/eval round trips on both storage formats, live node vs offline equality,
missing topics, unusable messages, truncated bags, latency of a live recording."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="rosbags is installed by make test")

from mtvif_ros.bags.evaluate import evaluate_bag
from mtvif_ros.bags.io import (
    IMAGE,
    TYPESTORE,
    BagError,
    deserialize,
    image_array,
    make_image,
    open_reader,
    open_writer,
    serialize,
)
from mtvif_ros.bags.latency import latency_report
from mtvif_ros.bags.make import make_bag
from mtvif_ros.data import Pair, SyntheticScenes, manifest_pairs
from mtvif_ros.data.boxes import Box, format_yolo_boxes, parse_yolo_boxes
from mtvif_ros.engine import FusionEngine
from mtvif_ros.metrics import BoxScores
from mtvif_ros.params.settings import Settings
from mtvif_ros.runtime.stamps import header_ns
from mtvif_ros.tools.bag import main as bag_main

CPU = Settings.from_mapping({"model.device": "cpu"})


@pytest.fixture(scope="module")
def engine():
    return FusionEngine(device="cpu")


def _read(path: Path, topic: str) -> list:
    reader = open_reader(path)
    try:
        conns = [c for c in reader.connections if c.topic == topic]
        return [deserialize(raw, c.msgtype) for c, _, raw in reader.messages(connections=conns)]
    finally:
        reader.close()


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("ir_encoding", ["mono16", "mono8"])
def test_make_then_read_back_round_trip(tmp_path: Path, storage: str, ir_encoding: str) -> None:
    scenes = SyntheticScenes(3, 48, 64, seed=7)
    counts = make_bag(
        scenes, tmp_path / "b", storage, rate_hz=20, offset_ms=10, ir_encoding=ir_encoding
    )
    assert counts == {"pairs": 3, "labels": 3, "boxes": 0}
    irs, viss = _read(tmp_path / "b", "/ir/image"), _read(tmp_path / "b", "/visible/image")
    assert [m.encoding for m in irs] == [ir_encoding] * 3
    assert np.array_equal(image_array(viss[1], "visible"), scenes[1].vis)
    if ir_encoding == "mono16":
        assert np.array_equal(image_array(irs[2], "ir"), scenes[2].ir)
    # stamps: 50 ms apart, IR 10 ms after visible
    assert header_ns(viss[1]) - header_ns(viss[0]) == 50_000_000
    assert header_ns(irs[0]) - header_ns(viss[0]) == 10_000_000


def test_metadata_keeps_the_layout_humble_parses(tmp_path: Path) -> None:
    """Humble's rosbag2 reads each topic's offered_qos_profiles as a string and the keys it
    knows; the version 9 layout (a QoS sequence) makes it fail with 'bad conversion'."""
    yaml = pytest.importorskip("yaml")
    make_bag(SyntheticScenes(2, 24, 32, seed=1), tmp_path / "b", "sqlite3", rate_hz=10)
    info = yaml.safe_load((tmp_path / "b" / "metadata.yaml").read_text())
    info = info["rosbag2_bagfile_information"]
    assert info["version"] == 8
    for key in (
        "storage_identifier",
        "duration",
        "starting_time",
        "message_count",
        "relative_file_paths",
        "compression_format",
        "compression_mode",
        "files",
    ):
        assert key in info, key
    topics = info["topics_with_message_count"]
    assert {t["topic_metadata"]["name"] for t in topics} >= {"/ir/image", "/visible/image"}
    for t in topics:
        assert isinstance(t["topic_metadata"]["offered_qos_profiles"], str)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_eval_writes_output_bag_report_and_sync_stats(tmp_path: Path, storage, engine) -> None:
    scenes = SyntheticScenes(4, 48, 64, seed=3)
    make_bag(scenes, tmp_path / "in", storage, rate_hz=10, offset_ms=-12, jitter_ms=2)
    res = evaluate_bag(
        tmp_path / "in", tmp_path / "out", CPU, storage=storage, engine=engine, progress=False
    )
    assert res.pairs == 4 and res.unmatched == [0, 0] and not res.problems
    assert len(res.rows) == 4 and res.confusion.matrix.sum() == 4 * 48 * 64
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| pairs formed | 4 |" in report and "Segmentation (labels topic)" in report
    assert (tmp_path / "out" / "metrics.csv").is_file()
    fused = _read(tmp_path / "out" / "bag", "/fused/image")
    labels = _read(tmp_path / "out" / "bag", "/segmentation/labels")
    vis_in = _read(tmp_path / "out" / "bag", "/visible/image")  # inputs are copied
    assert len(fused) == len(labels) == len(vis_in) == 4
    assert [header_ns(m) for m in labels] == [header_ns(m) for m in vis_in]
    expected = engine.run(scenes[0].ir, scenes[0].vis).labels
    assert np.array_equal(image_array(labels[0], "visible"), expected)


def test_offsets_beyond_slop_are_unmatched_and_reported(tmp_path: Path, engine) -> None:
    make_bag(SyntheticScenes(5, 32, 40), tmp_path / "in", rate_hz=5, offset_ms=80)
    res = evaluate_bag(tmp_path / "in", tmp_path / "out", CPU, engine=engine, progress=False)
    assert res.pairs == 0 and sum(res.unmatched) > 0
    assert "| pairs formed | 0 |" in (tmp_path / "out" / "report.md").read_text()


def test_missing_topic_gives_a_clear_message_and_partial_report(tmp_path: Path, capsys) -> None:
    make_bag(SyntheticScenes(2, 32, 40), tmp_path / "in")
    rc = bag_main(
        [
            "eval",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "out"),
            "--ir-topic",
            "/thermal/image_raw",
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    assert rc == 1
    text = capsys.readouterr().out
    assert "topic /thermal/image_raw is not in the bag" in text and "pass --ir-topic" in text


def test_unusable_messages_are_counted_and_good_ones_processed(tmp_path: Path, engine) -> None:
    s = SyntheticScenes(3, 32, 40)
    with open_writer(tmp_path / "in") as w:
        c_ir = w.add_connection("/ir/image", IMAGE, typestore=TYPESTORE)
        c_vis = w.add_connection("/visible/image", IMAGE, typestore=TYPESTORE)
        for i in range(3):
            t = 1_000_000_000 * (i + 1)
            ir = make_image(s[i].ir, "mono16", t, "ir")
            if i == 1:
                ir.encoding = "yuv422"  # unsupported
            w.write(c_ir, t, serialize(ir))
            w.write(c_vis, t, serialize(make_image(s[i].vis, "bgr8", t, "cam")))
    res = evaluate_bag(tmp_path / "in", tmp_path / "out", CPU, engine=engine, progress=False)
    assert res.bad["/ir/image"] == 1 and res.pairs == 2
    assert any("yuv422" in p for p in res.problems)


def test_truncated_bag_gives_a_partial_report_not_a_traceback(tmp_path: Path, capsys) -> None:
    make_bag(SyntheticScenes(6, 48, 64), tmp_path / "in")
    mcap = next((tmp_path / "in").glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    rc = bag_main(
        [
            "eval",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "out"),
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert rc in (0, 1, 2)
    if rc == 2:
        assert "cannot be opened" in err
    else:
        assert "reading stopped early" in out or "pairs formed" in out
    assert bag_main(["eval", str(tmp_path / "nope"), "--out", str(tmp_path / "o2")]) == 2
    assert "not found" in capsys.readouterr().err


def _eval_cli(bag: Path, out: Path, capsys) -> tuple[int, str, str]:
    rc = bag_main(["eval", str(bag), "--out", str(out), "--device", "cpu", "--no-progress"])
    got = capsys.readouterr()
    return rc, got.out, got.err


def _damaged_run(tmp_path: Path, name: str, damage, capsys) -> tuple[int, str, str]:
    bag = tmp_path / name
    make_bag(
        SyntheticScenes(6, 48, 64, seed=1), bag, storage="sqlite3" if "sqlite" in name else "mcap"
    )
    damage(bag)
    rc, out, err = _eval_cli(bag, tmp_path / f"{name}_out", capsys)
    assert "Traceback" not in out + err
    return rc, out, err


@pytest.mark.parametrize("fraction", np.linspace(0.05, 0.95, 10).round(3).tolist())
def test_a_bag_truncated_anywhere_gives_a_message_and_an_exit_code(tmp_path, capsys, fraction):
    """Ten cut points through the MCAP file: the report is partial (with the reason) and
    the exit code says whether any pair was evaluated; or the bag cannot be opened (2)."""

    def cut(bag: Path) -> None:
        mcap = next(bag.glob("*.mcap"))
        data = mcap.read_bytes()
        mcap.write_bytes(data[: int(len(data) * fraction)])

    rc, _out, err = _damaged_run(tmp_path, "cut", cut, capsys)
    if rc == 2:
        assert "cannot be opened" in err and "\n" not in err.strip()
    else:
        report = (tmp_path / "cut_out" / "report.md").read_text()
        assert "## Synchronization" in report
        assert ("reading stopped early" in report) or "pairs formed | 6" in report
        assert rc == (0 if "pairs formed | 0 |" not in report else 1)


def test_a_bag_with_a_corrupt_chunk(tmp_path, capsys):
    def corrupt(bag: Path) -> None:
        mcap = next(bag.glob("*.mcap"))
        data = bytearray(mcap.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(64)  # zeros over a chunk's records
        mcap.write_bytes(bytes(data))

    rc, _out, _err = _damaged_run(tmp_path, "chunk", corrupt, capsys)
    assert rc in (0, 1, 2)
    if rc != 2:
        assert (tmp_path / "chunk_out" / "report.md").is_file()


def test_an_sqlite3_bag_without_its_messages_table(tmp_path, capsys):
    import sqlite3

    def drop(bag: Path) -> None:
        db = next(bag.glob("*.db3"))
        with sqlite3.connect(db) as con:
            con.execute("DROP TABLE messages")

    rc, _out, err = _damaged_run(tmp_path, "sqlite", drop, capsys)
    assert rc in (1, 2)
    text = err if rc == 2 else (tmp_path / "sqlite_out" / "report.md").read_text()
    assert "messages" in text or "cannot be opened" in text or "reading stopped" in text


def test_existing_output_is_not_overwritten(tmp_path: Path) -> None:
    make_bag(SyntheticScenes(1, 32, 40), tmp_path / "b")
    with pytest.raises(BagError, match="exists"):
        make_bag(SyntheticScenes(1, 32, 40), tmp_path / "b")


def test_latency_report_of_a_live_recording(tmp_path: Path) -> None:
    s = SyntheticScenes(4, 32, 40)
    with open_writer(tmp_path / "live") as w:
        conns = {
            t: w.add_connection(t, IMAGE, typestore=TYPESTORE)
            for t in ("/ir/image", "/visible/image", "/fused/image", "/segmentation/labels")
        }
        for i in range(4):
            t = 1_000_000_000 + i * 100_000_000
            for topic in ("/ir/image", "/visible/image"):
                w.write(
                    conns[topic],
                    t + 1_000_000,
                    serialize(make_image(s[i].vis[:, :, 0], "mono8", t, "c")),
                )
            if i != 2:  # one pair dropped by the node
                for topic in ("/fused/image", "/segmentation/labels"):
                    w.write(
                        conns[topic],
                        t + 40_000_000,
                        serialize(make_image(s[i].vis[:, :, 0], "mono8", t, "c")),
                    )
    text, stats = latency_report(tmp_path / "live")
    assert stats["/fused/image"]["n"] == 3
    assert stats["/fused/image"]["median_ms"] == pytest.approx(40.0)
    assert stats["/fused/image"]["drop_rate"] == pytest.approx(0.25)
    assert stats["/fused/image"]["stamps_match"] == 1.0
    assert "| /segmentation/labels | 3 | 25.0 % |" in text


def test_live_node_and_offline_eval_give_identical_labels(tmp_path: Path, engine) -> None:
    """Same pairs, same parameters file, same engine: the node's labels equal the bag's."""
    rclpy = pytest.importorskip("rclpy")
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from ros_harness import Rig

    scenes = SyntheticScenes(3, 48, 64, seed=21)
    make_bag(scenes, tmp_path / "in", rate_hz=10, offset_ms=5)
    evaluate_bag(tmp_path / "in", tmp_path / "out", CPU, engine=engine, progress=False)
    offline = {
        header_ns(m): image_array(m, "visible")
        for m in _read(tmp_path / "out" / "bag", "/segmentation/labels")
    }
    rclpy.init()
    rig = Rig()
    try:
        irs, viss = _read(tmp_path / "in", "/ir/image"), _read(tmp_path / "in", "/visible/image")
        for k, (ir_m, vis_m) in enumerate(zip(irs, viss, strict=True)):
            rig.send(
                image_array(ir_m, "ir"),
                image_array(vis_m, "visible"),
                header_ns(ir_m),
                header_ns(vis_m),
            )
            assert rig.wait(lambda k=k: len(rig.outputs("labels")) == k + 1, 30)
            time.sleep(0.05)
        live = {
            header_ns(m): np.frombuffer(bytes(m.data), np.uint8).reshape(m.height, m.width)
            for m in rig.outputs("labels")
        }
    finally:
        rig.close()
        rclpy.try_shutdown()
    assert set(live) == set(offline) and len(live) == 3
    for stamp in live:
        assert np.array_equal(live[stamp], offline[stamp])


def test_eval_on_a_bag_of_real_pairs(shared_data, tmp_path: Path, engine) -> None:
    pairs = manifest_pairs(shared_data / "manifest.csv", ["tno"])
    pairs.items = pairs.items[:2]
    counts = make_bag(pairs, tmp_path / "in", ir_encoding="mono8")
    assert counts["pairs"] == 2 and counts["labels"] == 0
    res = evaluate_bag(tmp_path / "in", tmp_path / "out", CPU, engine=engine, progress=False)
    assert res.pairs == 2 and len(res.rows) == 2
    assert res.confusion is None or res.confusion.matrix.sum() == 0  # no labels in TNO


def test_yolo_box_text_round_trips() -> None:
    boxes = [Box(2, 10.0, 4.0, 30.0, 44.0), Box(1, 0.0, 0.0, 64.0, 48.0), Box(3, 5, 6, 7, 9)]
    back, problems = parse_yolo_boxes(format_yolo_boxes(boxes, 64, 48), 64, 48)
    assert not problems and len(back) == 3
    for a, b in zip(boxes, back, strict=True):
        assert a.cls == b.cls
        assert np.allclose([a.x0, a.y0, a.x1, a.y1], [b.x0, b.y0, b.x1, b.y1], atol=1e-3)
    with pytest.raises(ValueError, match="class 7 has no YOLO id"):
        format_yolo_boxes([Box(7, 0, 0, 1, 1)], 64, 48)


def _boxed_pairs() -> list[Pair]:
    """Synthetic pairs with two box variants: each class's label extent, and a shifted copy."""
    pairs = []
    for i, s in enumerate(SyntheticScenes(3, 120, 160, seed=11)):
        boxes = []
        for cls in (1, 2, 3):
            rows, cols = np.nonzero(s.labels == cls)
            if rows.size:
                boxes.append(Box(cls, cols.min(), rows.min(), cols.max() + 1, rows.max() + 1))
        shifted = [Box(b.cls, b.x0 + 2, b.y0, b.x1 + 2, b.y1) for b in boxes]
        pairs.append(
            Pair(f"msrs/0000{i}{'DN'[i % 2]}", s.ir, s.vis, None, boxes, [boxes, shifted])
        )
    return pairs


def test_eval_scores_the_published_labels_against_box_folders(tmp_path: Path, engine) -> None:
    pairs = _boxed_pairs()
    counts = make_bag(
        pairs, tmp_path / "in", offset_ms=5, boxes_out=tmp_path / "bx", box_variants=["a", "b"]
    )
    assert counts["boxes"] == 3
    stamps = sorted(int(f.stem) for f in (tmp_path / "bx" / "a").glob("*.txt"))
    (tmp_path / "bx" / "a" / f"{stamps[2]}.txt").unlink()  # a frame without boxes: not scored
    (tmp_path / "bx" / "b" / f"{stamps[0]}.txt").write_text("2 0.5 0.5 0.2\n")  # a bad line
    boxes = [tmp_path / "bx" / "a", tmp_path / "bx" / "b"]
    res = evaluate_bag(
        tmp_path / "in", tmp_path / "out", CPU, engine=engine, progress=False, boxes=boxes
    )
    assert res.pairs == 3 and res.unboxed_pairs == 1 and res.boxes.images["all"] == 2
    assert res.boxes.images["day"] == res.boxes.images["night"] == 1  # names from frames.csv
    # the same scores computed here from the labels written to the output bag
    published = {
        header_ns(m): image_array(m, "visible")
        for m in _read(tmp_path / "out" / "bag", "/segmentation/labels")
    }
    expected = BoxScores()
    expected.update(published[stamps[0]], [pairs[0].boxes, []], pairs[0].name)
    expected.update(published[stamps[1]], pairs[1].box_variants, pairs[1].name)
    assert res.boxes.scores() == expected.scores()
    assert sum(n.boxes for n in res.boxes.counts["all"].values()) > 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Objects: box recall and pixel precision" in report
    assert "2 fused pairs scored against boxes, 1 without a box file" in report
    assert f"{stamps[0]}.txt:1: expected 'cls cx cy w h'" in report
    assert (
        bag_main(
            [
                "eval",
                str(tmp_path / "in"),
                "--out",
                str(tmp_path / "o2"),
                "--device",
                "cpu",
                "--no-progress",
                "--boxes",
                str(tmp_path / "nope"),
            ]
        )
        == 2
    )


def test_bag_of_real_msrs_pairs_carries_their_boxes(shared_data, tmp_path: Path, capsys) -> None:
    bag = tmp_path / "msrs"
    manifest = str(shared_data / "manifest.csv")
    args = ["make", manifest, str(bag), "--sets", "msrs", "--split", "test", "--rate", "10"]
    assert bag_main([*args, "--boxes", "boxes", "boxes_visible"]) == 0
    assert "boxes of 25 pairs in" in capsys.readouterr().out
    pairs = manifest_pairs(manifest, ["msrs"], "test", boxes_dirs=["boxes", "boxes_visible"])
    folders = [Path(f"{bag}_boxes") / d for d in ("boxes", "boxes_visible")]
    for pair, stamp in zip(
        pairs, sorted(int(f.stem) for f in folders[0].glob("*.txt")), strict=True
    ):
        h, w = pair.vis.shape[:2]
        for folder, variant in zip(folders, pair.box_variants, strict=True):
            back, problems = parse_yolo_boxes((folder / f"{stamp}.txt").read_text(), w, h)
            assert not problems and len(back) == len(variant)
            for a, b in zip(variant, back, strict=True):
                assert a.cls == b.cls and abs(a.y1 - b.y1) < 0.01 and abs(a.x0 - b.x0) < 0.01
    assert "00004N" in (folders[0] / "frames.csv").read_text()
    assert bag_main(["make", str(bag), str(tmp_path / "x"), "--boxes", "boxes"]) == 2
    assert "--boxes needs a manifest .csv source" in capsys.readouterr().err


def test_compressed_bag_round_trip_and_eval(tmp_path: Path, engine) -> None:
    """Cameras recorded as CompressedImage (IR 16-bit PNG, visible JPEG) on <topic>/compressed,
    as robots record them: decoded like the node does, found by eval under the plain names."""
    from mtvif_ros.bags.make import ir_for_encoding

    scenes = SyntheticScenes(3, 48, 64, seed=7)
    counts = make_bag(scenes, tmp_path / "c", rate_hz=20, offset_ms=5, compressed=True)
    assert counts["pairs"] == 3
    irs = _read(tmp_path / "c", "/ir/image/compressed")
    viss = _read(tmp_path / "c", "/visible/image/compressed")
    assert [m.format for m in irs] == ["mono16; png compressed"] * 3
    assert [m.format for m in viss] == ["bgr8; jpeg compressed bgr8"] * 3
    for s, ir, vis in zip(scenes, irs, viss, strict=True):
        back = image_array(ir, "ir")
        assert back.dtype == np.uint16 and np.array_equal(back, ir_for_encoding(s.ir, "mono16"))
        jpeg = image_array(vis, "visible").astype(int)
        assert jpeg.shape == s.vis.shape and np.abs(jpeg - s.vis).mean() < 10  # noisy scene
    res = evaluate_bag(tmp_path / "c", tmp_path / "out", CPU, engine=engine, progress=False)
    assert res.pairs == 3 and len(res.rows) == 3 and not res.problems
    copied = _read(tmp_path / "out" / "bag", "/ir/image/compressed")
    assert [m.format for m in copied] == [m.format for m in irs]
    assert len(_read(tmp_path / "out" / "bag", "/segmentation/labels")) == 3


def test_play_publishes_recorded_stamps_and_clock(tmp_path: Path) -> None:
    rclpy = pytest.importorskip("rclpy")
    import threading

    from rclpy.executors import MultiThreadedExecutor
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image

    from mtvif_ros.node.bag_player import BagPlayer

    make_bag(SyntheticScenes(3, 32, 40), tmp_path / "b", rate_hz=50, offset_ms=3)
    recorded = [header_ns(m) for m in _read(tmp_path / "b", "/ir/image")]
    rclpy.init()
    got: dict[str, list] = {"ir": [], "clock": []}
    probe = rclpy.create_node("play_probe")
    probe.create_subscription(Image, "/ir/image", lambda m: got["ir"].append(m), 10)
    probe.create_subscription(Clock, "/clock", lambda m: got["clock"].append(m), 10)
    ex = MultiThreadedExecutor(num_threads=2)
    ex.add_node(probe)
    spin = threading.Thread(target=ex.spin, daemon=True)
    spin.start()
    player = BagPlayer(tmp_path / "b", ["/ir/image", "/visible/image"], rate=2.0, clock=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            player.pubs["/ir/image"].get_subscription_count()
            and player.clock_pub.get_subscription_count()
        ):
            time.sleep(0.02)
        assert player.play() == 6
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(got["ir"]) < 3:
            time.sleep(0.02)
        assert [header_ns(m) for m in got["ir"]] == recorded
        assert len(got["clock"]) >= 3
        with pytest.raises(ValueError, match="not in"):
            BagPlayer(tmp_path / "b", ["/thermal/image_raw"])
    finally:
        ex.shutdown()
        spin.join(timeout=5)
        player.destroy_node()
        probe.destroy_node()
        rclpy.try_shutdown()
