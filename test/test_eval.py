"""Datasets and the mtvif-eval tool (sample scenes always; real pairs when present)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from mtvif_ros.data import Pair, PairList, folder_pairs, make_scene, manifest_pairs, msrs_pairs
from mtvif_ros.data.boxes import Box
from mtvif_ros.evaluation.baselines import FUSERS, fuse_classical, laplacian_pyramid_fusion
from mtvif_ros.evaluation.report import ReportSpec, write_outputs
from mtvif_ros.evaluation.run import CLASSICAL, Method, evaluate
from mtvif_ros.model import ModelConfig, build_model, save_checkpoint
from mtvif_ros.tools.eval import main as eval_main


def _write_pairs(root: Path, n: int, labels: bool = False, layout: str = "folder") -> None:
    base = root / "test" if layout == "msrs" else root
    lab_dir = "Segmentation_labels" if layout == "msrs" else "labels"
    for sub in ("ir", "vi") + ((lab_dir,) if labels else ()):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        s = make_scene(i, 48, 64, night=bool(i % 2))
        cv2.imwrite(str(base / "ir" / f"{i:05d}.png"), s.ir)
        cv2.imwrite(str(base / "vi" / f"{i:05d}.png"), s.vis)
        if labels:
            cv2.imwrite(str(base / lab_dir / f"{i:05d}.png"), s.labels)


def test_folder_and_msrs_layouts_pair_by_name_and_report_orphans(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "f", 3, labels=True)
    cv2.imwrite(str(tmp_path / "f" / "ir" / "orphan.png"), make_scene(9, 48, 64).ir)
    pairs = folder_pairs(tmp_path / "f")
    assert len(pairs) == 3 and pairs[0].labels is not None
    assert pairs[1].ir.dtype.name == "uint16"  # 16-bit PNG read as stored
    assert any("orphan" in p and "without a visible partner" in p for p in pairs.problems)
    _write_pairs(tmp_path / "m", 2, labels=True, layout="msrs")
    assert len(msrs_pairs(tmp_path / "m", "test")) == 2
    with pytest.raises(FileNotFoundError, match="expected the MSRS layout"):
        msrs_pairs(tmp_path / "m", "train")


def test_classical_baselines() -> None:
    s = make_scene(0, 48, 64)
    assert (fuse_classical("visible", s.ir, s.vis) == s.vis).all()
    ir_copy = fuse_classical("infrared", s.ir, s.vis)
    assert (ir_copy[:, :, 0] == ir_copy[:, :, 2]).all()  # grey: the IR source itself
    for m in ("average", "maximum", "laplacian"):
        out = fuse_classical(m, s.ir, s.vis)
        assert out.shape == s.vis.shape and out.dtype.name == "uint8"
    import numpy as np

    y = np.random.default_rng(0).random((37, 53)).astype(np.float32)
    # fusing an image with itself through the pyramid gives it back
    assert np.abs(laplacian_pyramid_fusion(y, y) - y).max() < 1e-5


def test_every_classical_method_is_reachable_in_report_order() -> None:
    assert CLASSICAL == ("visible", "infrared", "average", "maximum", "laplacian")
    s = make_scene(1, 48, 64, night=True)
    for name, fuser in FUSERS.items():  # fuse_classical is exactly the registry entry
        assert (fuse_classical(name, s.ir, s.vis) == fuser(s.ir, s.vis, None)).all()
    with pytest.raises(KeyError):
        fuse_classical("median", s.ir, s.vis)


def test_eval_on_sample_scenes_writes_report_csv_grid_and_plots(tmp_path: Path, capsys) -> None:
    cfg = ModelConfig(architecture="cascade", widths=[4, 8, 8], cascade_seg_widths=[8, 16])
    save_checkpoint(tmp_path / "cascade.pt", build_model(cfg), cfg, {"trained": False})
    out = tmp_path / "eval"
    rc = eval_main(
        [
            "--sample",
            "3",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--no-progress",
            "--cascade-checkpoint",
            str(tmp_path / "cascade.pt"),
        ]
    )
    assert rc == 0
    report = (out / "report.md").read_text()
    for method in (
        "multitaskvif",
        "cascade",
        "visible",
        "infrared",
        "average",
        "maximum",
        "laplacian",
    ):
        assert f"| {method} |" in report
    assert "| method | EN | SD | SF | AG | MI | SCD | VIF | Qabf | SSIM | PSNR | CC |" in report
    assert "IoU (%) against ground-truth labels" in report
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 7 and {"EN", "Qabf", "ms"} <= set(rows[0])
    for name in ("grid.png", "bars.png"):
        assert cv2.imread(str(out / name)) is not None
    assert len(list((out / "fused" / "laplacian").glob("*.png"))) == 3
    assert len(list((out / "labels" / "multitaskvif").glob("*.png"))) == 3


def test_eval_min_confidence_unlabels_unsure_pixels(tmp_path: Path) -> None:
    """--min-confidence reaches the network's label images (as labels.min_confidence does
    in the node and mtvif-bag eval): fewer labelled pixels, the others unchanged."""
    labels = {}
    for t in ("0", "0.9"):
        out = tmp_path / t
        args = ["--sample", "1", "--out", str(out), "--device", "cpu", "--no-progress"]
        assert eval_main([*args, "--methods", "multitaskvif", "--min-confidence", t]) == 0
        (png,) = (out / "labels" / "multitaskvif").glob("*.png")
        labels[t] = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
    plain, strict = labels["0"], labels["0.9"]
    assert np.all((strict == 0) | (strict == plain))
    assert 0 < (strict > 0).sum() < (plain > 0).sum()


def test_eval_reports_unpaired_files_and_bad_input(tmp_path: Path, capsys) -> None:
    _write_pairs(tmp_path / "f", 2)
    cv2.imwrite(str(tmp_path / "f" / "vi" / "lonely.png"), make_scene(9, 48, 64).vis)
    other = make_scene(7, 70, 50)  # a pair of another size and aspect: the grid still stacks
    cv2.imwrite(str(tmp_path / "f" / "ir" / "tall.png"), other.ir)
    cv2.imwrite(str(tmp_path / "f" / "vi" / "tall.png"), other.vis)
    out = tmp_path / "eval"
    assert (
        eval_main(
            [
                "--folder",
                str(tmp_path / "f"),
                "--out",
                str(out),
                "--no-progress",
                "--methods",
                "maximum",
                "--no-images",
            ]
        )
        == 0
    )
    assert "lonely: visible image without an IR partner" in (out / "report.md").read_text()
    assert eval_main(["--folder", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "expected folders ir/ and vi/" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        eval_main(["--sample", "1", "--out", str(out), "--methods", "magic"])


def test_eval_on_real_msrs_pairs_scores_teacher_labels_as_agreement(shared_data, tmp_path):
    out = tmp_path / "msrs"
    rc = eval_main(
        [
            "--manifest",
            str(shared_data / "manifest.csv"),
            "--sets",
            "msrs",
            "--labels-dir",
            "teacher_labels",
            "--limit",
            "2",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--no-progress",
            "--methods",
            "multitaskvif",
            "maximum",
        ]
    )
    assert rc == 0
    report = (out / "report.md").read_text()
    assert "agreement with an independent segmenter's predictions (NOT accuracy)" in report
    assert "pixel agreement" in report and "accuracy" not in report.replace("NOT accuracy", "")


def test_manifest_pairs_on_the_shared_data(shared_data) -> None:
    pairs = manifest_pairs(shared_data / "manifest.csv", ["roadscene"], "train")
    assert len(pairs) == 176 and not pairs.problems
    tno = manifest_pairs(shared_data / "manifest.csv", ["tno"])
    p = tno[0]
    assert p.vis.ndim == 2 and p.ir.ndim == 2  # TNO visible images are grey


def _write_box_manifest(root: Path) -> Path:
    """Set ``msrs`` (day + night pair, two box variants) and set ``other`` (no boxes)."""
    rows = ["set,name,ir_path,vi_path,width,height,ir_mode,vi_mode,split"]
    for i, (subset, name) in enumerate((("msrs", "00001D"), ("msrs", "00002N"), ("other", "x"))):
        s = make_scene(i, 48, 64, night=name.endswith("N"))
        for sub, img in (("ir", s.ir), ("vi", s.vis)):
            (root / subset / sub).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / subset / sub / f"{name}.png"), img)
        rows.append(
            f"{subset},{name},{subset}/ir/{name}.png,{subset}/vi/{name}.png,64,48,L,RGB,test"
        )
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    for d in ("boxes", "boxes_visible"):
        (root / "msrs" / d).mkdir()
    (root / "msrs" / "boxes" / "00001D.txt").write_text("0 0.5 0.5 0.25 0.5\nbroken line\n")
    (root / "msrs" / "boxes_visible" / "00001D.txt").write_text("2 0.25 0.5 0.25 0.5\n")
    (root / "msrs" / "boxes" / "00002N.txt").write_text("0 0.5 0.5 0.25 0.5\n")
    return root / "manifest.csv"  # 00002N has no boxes_visible file


def test_manifest_pairs_attach_box_variants_in_the_order_given(tmp_path: Path) -> None:
    manifest = _write_box_manifest(tmp_path)
    pairs = manifest_pairs(manifest, boxes_dirs=["boxes", "boxes_visible"])
    assert len(pairs) == 3
    day = pairs[0]
    person = Box(2, 24.0, 12.0, 40.0, 36.0)  # normalized by the manifest's 64×48
    assert day.boxes == [person] and day.box_variants == [[person], [Box(1, 8, 12, 24, 36)]]
    assert pairs[1].boxes is None and pairs[1].box_variants is None  # a file is missing
    assert pairs[2].boxes is None
    problems = "\n".join(pairs.problems)
    assert "00001D.txt:2: expected 'cls cx cy w h'" in problems
    assert "msrs/00002N: no box file" in problems and "boxes_visible" in problems
    assert sum("other: no box folder" in p for p in pairs.problems) == 1
    assert PairList(pairs.items[:1])[0].box_variants == day.box_variants  # travels with items
    swapped = manifest_pairs(manifest, ["msrs"], boxes_dirs=["boxes_visible", "boxes"])
    assert swapped[0].boxes == [Box(1, 8, 12, 24, 36)]
    plain = manifest_pairs(manifest)
    assert plain[0].boxes is None and not plain.problems
    assert PairList([("n", *plain.items[0][1:3], None)])[0].name == "n"  # plain 4-tuples too


def test_eval_with_boxes_reports_recall_and_precision_per_class_and_day_night(
    tmp_path: Path,
) -> None:
    manifest = _write_box_manifest(tmp_path)
    out = tmp_path / "eval"
    args = ["--manifest", str(manifest), "--sets", "msrs", "--boxes", "boxes", "boxes_visible"]
    args += ["--out", str(out), "--device", "cpu", "--no-progress", "--no-images"]
    assert eval_main([*args, "--methods", "multitaskvif", "maximum"]) == 0
    report = (out / "report.md").read_text()
    assert "## Objects: box recall and pixel precision" in report
    assert "| method | class | recall all | recall day | recall night |" in report
    for cls in ("car", "person", "bike"):
        assert f"| multitaskvif | {cls} |" in report
    assert "| maximum | person |" not in report  # classical methods have no labels
    assert "1 image (1 day, 0 night" in report  # 00002N lacks a box file: not scored
    assert "`boxes` boxes at least 16 px tall" in report and "`boxes`, `boxes_visible`" in report
    assert "00002N: no box file" in report and "| EN |" in report and (out / "bars.png").exists()
    with pytest.raises(SystemExit):
        eval_main(["--sample", "1", "--out", str(out), "--boxes", "boxes"])


def _write_camvid(root: Path, n: int) -> Path:
    """A CamVid-like index with ``n`` test items (labels 8 car, 9 pedestrian, 11 void)."""
    rows = ["split,name,image_path,label_path,width,height,px_car,px_pedestrian,px_bicyclist"]
    for sub in ("images", "labels"):
        (root / "camvid" / "test" / sub).mkdir(parents=True)
    for i in range(n):
        vis = make_scene(i, 48, 64).vis
        label = np.zeros((48, 64), np.uint8)
        label[10:30, 5:25], label[5:40, 40:50], label[45:] = 8, 9, 11
        cv2.imwrite(str(root / "camvid" / "test" / "images" / f"s{i}.jpg"), vis)
        cv2.imwrite(str(root / "camvid" / "test" / "labels" / f"s{i}.png"), label)
        rows.append(
            f"test,s{i},camvid/test/images/s{i}.jpg,camvid/test/labels/s{i}.png,64,48,0,0,0"
        )
    (root / "camvid" / "index.csv").write_text("\n".join(rows) + "\n")
    return root / "camvid"


def test_eval_on_visible_only_camvid_reports_iou_and_skips_fusion_metrics(
    tmp_path: Path, capsys
) -> None:
    camvid = _write_camvid(tmp_path, 2)
    out = tmp_path / "eval"
    args = ["--camvid", str(camvid), "--split", "test", "--out", str(out), "--device", "cpu"]
    assert eval_main([*args, "--no-progress", "--methods", "multitaskvif", "maximum"]) == 0
    assert "classical baselines skipped (maximum)" in capsys.readouterr().out
    report = (out / "report.md").read_text()
    assert report.startswith("# Evaluation on CamVid test (visible only)\n\n2 images,")
    assert "Visible-only input (no IR image)" in report and "| EN |" not in report
    assert "| method | Car | Per | Bik | mean (3 classes) | pixel accuracy |" in report
    row = next(
        line
        for line in report.splitlines()
        if line.startswith("| multitaskvif | ") and line.count("|") == 7
    )
    acc = float(row.split("|")[-2])
    assert 0.0 <= acc <= 100.0 and "| maximum |" not in report
    assert not (out / "bars.png").exists()
    assert cv2.imread(str(out / "grid.png")).shape[1] == 3 * 213  # VIS | fused | labels
    assert len(list((out / "labels" / "multitaskvif").glob("*.png"))) == 2
    assert eval_main([*args, "--no-progress", "--methods", "maximum"]) == 2
    assert "needs a network method" in capsys.readouterr().err


def test_evaluate_runs_visible_only_pairs_with_networks_only(engine, tmp_path: Path) -> None:
    s = make_scene(3, 48, 64)
    pair = Pair("camvid/a", None, s.vis, s.labels, boxes=[Box(2, 0, 0, 16, 32)])
    methods = [Method("multitaskvif", engine), Method("maximum")]
    result = evaluate([pair], methods, tmp_path, save_images=False, progress=False)
    assert [r["method"] for r in result.rows] == ["multitaskvif"]
    assert set(result.rows[0]) == {"image", "method", "ms"}
    assert result.problems == [
        "maximum: not run on visible-only pairs (a classical fusion needs IR)"
    ]
    assert result.boxes["multitaskvif"].images["all"] == 1  # boxes alone (no variants) work
    text = write_outputs(result, tmp_path, ReportSpec("t", 1))
    assert "| multitaskvif | " in text and "## Segmentation: IoU (%) against ground-truth" in text
    assert "## Objects" in text and "the first box variant" in text


def test_eval_on_real_msrs_boxes_and_teacher_agreement(shared_data, tmp_path: Path) -> None:
    out = tmp_path / "msrs"
    args = ["--manifest", str(shared_data / "manifest.csv"), "--sets", "msrs", "--split", "test"]
    args += ["--boxes", "boxes", "boxes_visible", "--labels-dir", "teacher_labels"]
    args += ["--limit", "2", "--size", "120x160", "--out", str(out), "--device", "cpu"]
    assert eval_main([*args, "--no-progress", "--no-images", "--methods", "multitaskvif"]) == 0
    report = (out / "report.md").read_text()
    assert "agreement with an independent segmenter's predictions (NOT accuracy)" in report
    assert "## Objects: box recall and pixel precision" in report
    assert "2 images (0 day, 2 night" in report  # 00004N, 00008N
    person = next(
        line for line in report.splitlines() if line.startswith("| multitaskvif | person")
    )
    # 00004N and 00008N hold person boxes in the infrared variant; at least one is ≥ 16 px
    assert int(person.split("|")[3].split("/")[-1].rstrip(") ")) > 0
    assert "## Skipped" not in report


def test_eval_on_real_camvid_test_images(shared_data, tmp_path: Path) -> None:
    out = tmp_path / "camvid"
    args = ["--camvid", str(shared_data / "camvid" / "index.csv"), "--split", "test"]
    args += ["--limit", "3", "--size", "120x160", "--out", str(out), "--device", "cpu"]
    assert eval_main([*args, "--no-progress", "--no-images", "--methods", "multitaskvif"]) == 0
    report = (out / "report.md").read_text()
    assert "3 images" in report and "| method | Car | Per | Bik | mean (3 classes) |" in report
    with open(out / "metrics.csv") as f:
        names = [r["image"] for r in csv.DictReader(f)]
    assert len(names) == 3 and all(n.startswith("camvid/") for n in names)


def test_a_corrupt_png_is_named_and_the_evaluation_goes_on(tmp_path: Path, capsys) -> None:
    import cv2

    for sub in ("ir", "vi"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    for i in range(3):
        s = make_scene(i, 48, 64)
        cv2.imwrite(str(tmp_path / "data" / "ir" / f"p{i}.png"), s.ir)
        cv2.imwrite(str(tmp_path / "data" / "vi" / f"p{i}.png"), s.vis)
    bad = tmp_path / "data" / "vi" / "p1.png"
    bad.write_bytes(bad.read_bytes()[:40])  # a truncated file
    out = tmp_path / "out"
    rc = eval_main(
        [
            "--folder",
            str(tmp_path / "data"),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--no-progress",
            "--no-images",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0 and "Traceback" not in captured.out + captured.err
    report = (out / "report.md").read_text()
    assert str(bad) in report and "2 pairs" in report
