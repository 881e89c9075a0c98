"""Datasets and the mtvif-eval tool (sample scenes always; real pairs when present)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import pytest

from mtvif_ros.baselines import FUSERS, fuse_classical, laplacian_pyramid_fusion
from mtvif_ros.data import folder_pairs, make_scene, manifest_pairs, msrs_pairs
from mtvif_ros.evaluate import CLASSICAL
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
