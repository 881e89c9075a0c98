"""Training: losses, the loop, exact resume, overfitting, DDP, unlabelled data, cascade."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mtvif_ros.classes import IGNORE_INDEX
from mtvif_ros.data import make_scene
from mtvif_ros.metrics import ConfusionMatrix
from mtvif_ros.model import load_checkpoint
from mtvif_ros.train import TrainConfig, TrainConfigError, Trainer, build_parser, parse_config
from mtvif_ros.train.cli import main
from mtvif_ros.train.losses import FusionLoss, OhemCrossEntropy, seg_weight

REPO = Path(__file__).resolve().parents[1]

FAST = [
    "--crop",
    "48",
    "--batch-size",
    "4",
    "--workers",
    "0",
    "--val-synthetic",
    "1",
    "--synthetic-size",
    "64",
    "80",
    "--no-progress",
    "--log-every",
    "1",
    "--warmup-steps",
    "2",
    "--seg-warmup-steps",
    "2",
    "--seg-ramp-steps",
    "2",
]


def _train(tmp: Path, *extra: str) -> Trainer:
    cfg = parse_config([*FAST, "--out", str(tmp), *extra])
    trainer = Trainer(cfg)
    trainer.run()
    return trainer


def _log(path: Path) -> list[dict[str, float]]:
    with open(path / "log.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def test_fusion_loss_is_zero_for_the_max_image_and_grows_with_error() -> None:
    loss = FusionLoss()
    a, b = torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16)
    target = torch.maximum(a, b)
    perfect = loss(target, a, b)
    assert float(perfect["intensity"]) == 0.0
    worse = loss(target * 0.5, a, b)
    assert float(worse["fusion"]) > float(perfect["fusion"])
    assert "ssim" in FusionLoss(ssim_weight=1.0)(target, a, b)


def test_ohem_ignores_255_and_keeps_hard_pixels() -> None:
    ohem = OhemCrossEntropy(thresh=0.7)
    logits = torch.zeros(1, 3, 4, 4, requires_grad=True)
    target = torch.full((1, 4, 4), IGNORE_INDEX)
    zero = ohem(logits, target)
    zero.backward()  # an unlabelled batch gives a zero that still back-propagates
    assert float(zero.detach()) == 0.0 and logits.grad is not None
    target[0, 0, 0] = 1
    assert abs(float(ohem(logits, target)) - np.log(3)) < 1e-5


def test_seg_weight_schedule() -> None:
    assert seg_weight(0, 2.0, 10, 10) == 0.0
    assert seg_weight(14, 2.0, 10, 10) == pytest.approx(1.0)
    assert seg_weight(100, 2.0, 10, 10) == 2.0


def test_a_few_steps_lower_the_loss(tmp_path: Path) -> None:
    _train(tmp_path, "--synthetic", "8", "--steps", "40", "--lr", "0.003")
    rows = _log(tmp_path)
    first = np.mean([r["fusion"] for r in rows[:5]])
    last = np.mean([r["fusion"] for r in rows[-5:]])
    assert last < 0.8 * first
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt.trained and ckpt.meta["steps"] == 40
    assert (tmp_path / "loss_curve.png").is_file() and (tmp_path / "best.pt").is_file()


def test_resume_reproduces_the_uninterrupted_run_exactly(tmp_path: Path) -> None:
    args = ["--synthetic", "12", "--batch-size", "3", "--steps", "10"]
    _train(tmp_path / "a", *args)
    _train(tmp_path / "b", *args, "--stop-after", "6")
    assert len(_log(tmp_path / "b")) == 6
    _train(tmp_path / "b", *args, "--resume", str(tmp_path / "b" / "train_state.pt"))
    a, b = _log(tmp_path / "a"), _log(tmp_path / "b")
    assert [r["step"] for r in b] == list(range(1, 11))
    for ra, rb in zip(a[6:], b[6:], strict=True):
        assert ra["loss"] == rb["loss"] and ra["lr"] == rb["lr"]


def test_overfitting_one_labelled_sample_reaches_high_miou(tmp_path: Path) -> None:
    trainer = _train(
        tmp_path,
        "--synthetic",
        "1",
        "--batch-size",
        "1",
        "--crop",
        "64",
        "--steps",
        "250",
        "--lr",
        "0.004",
        "--val-every",
        "100000",
        "--seg-warmup-steps",
        "0",
        "--beta1",
        "0.1",
    )
    scene = trainer.data.sources[0][0]
    from mtvif_ros.train import prepare_pair

    y, ir, labels = prepare_pair(scene)
    model = trainer.model.eval()
    with torch.no_grad():
        _, logits = model(torch.from_numpy(y)[None, None], torch.from_numpy(ir)[None, None])
    cm = ConfusionMatrix()
    cm.update(logits.argmax(1)[0].numpy(), labels)
    assert cm.scores()["mIoU"] > 0.9, cm.iou()


def test_unlabelled_real_pairs_train_with_the_fusion_loss_only(tmp_path: Path) -> None:
    folder = tmp_path / "pairs"
    (folder / "ir").mkdir(parents=True)
    (folder / "vi").mkdir()
    for i in range(4):
        s = make_scene(i, 64, 80)
        cv2.imwrite(str(folder / "ir" / f"p{i}.png"), s.ir)
        cv2.imwrite(str(folder / "vi" / f"p{i}.png"), s.vis)
    _train(
        tmp_path / "run",
        "--synthetic",
        "0",
        "--data-folders",
        str(folder),
        "--val-real",
        "1",
        "--steps",
        "4",
        "--batch-size",
        "1",
    )
    rows = _log(tmp_path / "run")
    assert len(rows) == 4 and all(r["seg"] == 0.0 for r in rows)
    assert all(np.isfinite(r["loss"]) for r in rows)


def test_cascade_trains_in_two_stages(tmp_path: Path) -> None:
    trainer = _train(
        tmp_path,
        "--architecture",
        "cascade",
        "--synthetic",
        "8",
        "--steps",
        "6",
        "--cascade-fusion-steps",
        "3",
        "--model",
        '{"cascade_seg_widths": [8, 16]}',
    )
    rows = _log(tmp_path)
    assert all(r["seg"] == 0 for r in rows[:3]) and all(r["seg"] > 0 for r in rows[3:])
    # the weights actually applied: stage 1 fusion alone, stage 2 segmentation alone
    assert [(r["beta1"], r["beta2"]) for r in rows] == [(1.0, 0.0)] * 3 + [(0.0, 1.0)] * 3
    assert all(r["loss"] == r["seg"] for r in rows[3:])
    assert load_checkpoint(tmp_path / "last.pt").config.architecture == "cascade"
    assert trainer.model.fusion.decoder is not None


def test_help_documents_every_setting() -> None:
    text = build_parser().format_help()
    from dataclasses import fields

    for f in fields(TrainConfig):
        assert "--" + f.name.replace("_", "-") in text


def test_unknown_setting_in_yaml_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("steps: 3\nlearning_rate: 1\n")
    with pytest.raises(TrainConfigError, match="learning_rate"):
        parse_config(["--config", str(cfg)])


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--optimizer", "sgd"], "optimizer"),  # used to become Adam silently
        (["--amp", "fp8"], "amp"),  # used to become fp16 silently
        (["--device", "gpu"], "device"),
        (["--batch-size", "-1"], "batch_size"),
        (["--lr", "0"], "lr"),
        (["--ohem-thresh", "1.5"], "ohem_thresh"),
        (["--steps", "4", "--cascade-fusion-steps", "4"], "cascade_fusion_steps"),
        (["--synthetic-size", "64"], "synthetic_size"),
        (["--model", '{"num_classes": 0}'], "model"),
        (["--ir-dropout", "1.5"], "ir_dropout"),
        (["--camvid", "/nonexistent/camvid"], "camvid"),
        (["--camvid-split", "test"], "camvid_split"),  # CamVid test stays for evaluation
        (["--msrs-boxes", "boxes"], "msrs_boxes"),  # boxes need a manifest
        (["--scale", "2", "1"], "scale"),
        (["--scale", "0.5"], "scale"),
        (["--box-weight", "-1"], "box_weight"),
        (["--box-negative-weight", "nan"], "box_negative_weight"),
        (["--camvid-weight", "-0.5"], "camvid_weight"),
        (["--camvid-repeat", "0"], "camvid_repeat"),
        (["--box-repeat", "0"], "box_repeat"),
    ],
)
def test_validate_names_the_refused_setting(flags: list[str], field: str) -> None:
    with pytest.raises(TrainConfigError, match=rf"^{field} \("):
        parse_config(flags)


def test_validate_refuses_wrong_types_and_non_finite_values() -> None:
    with pytest.raises(TrainConfigError, match=r"^steps .*type int"):
        TrainConfig(steps="10").validate()  # type: ignore[arg-type]
    with pytest.raises(TrainConfigError, match=r"^beta1 "):
        TrainConfig(beta1=float("nan")).validate()
    with pytest.raises(TrainConfigError, match=r"^data_sets .*list"):
        TrainConfig(data_sets="roadscene").validate()  # type: ignore[arg-type]
    with pytest.raises(TrainConfigError, match=r"^scale .*list"):
        TrainConfig(scale=[1.0, "2"]).validate()  # type: ignore[list-item]
    with pytest.raises(TrainConfigError, match=r"^exclude_misregistered .*bool"):
        TrainConfig(exclude_misregistered="no").validate()  # type: ignore[arg-type]


def test_cli_prints_one_error_line_and_returns_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MTVIF_KEEP_FREED_MEMORY", "0")
    for argv, field in (
        (["--optimizer", "sgd"], "optimizer"),
        (["--bogus", "1"], "bogus"),
        (["--synthetic", "0", "--out", str(tmp_path)], "no training data"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and field in err and "\n" not in err, err


def _torchrun(entry: list[str], *flags: str) -> subprocess.CompletedProcess[str]:
    """``entry`` (``-m module`` or a script) with FAST settings then ``flags``, as two CPU
    processes (gloo) under torchrun, one thread each; skips without torchrun."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which(
        "torchrun"
    )
    if torchrun is None:
        pytest.skip("torchrun not found")
    pythonpath = os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))
    return subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc_per_node",
            "2",
            *entry,
            *FAST,
            "--device",
            "cpu",
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": pythonpath},
    )


def test_ddp_two_processes_gloo(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    proc = _torchrun(
        ["-m", "mtvif_ros.train"],
        "--synthetic",
        "8",
        "--steps",
        "4",
        "--batch-size",
        "2",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt.meta["steps"] == 4
    assert len(_log(out)) == 4  # rank 0 alone logs


def test_ddp_cascade_keeps_the_ranks_weights_identical(tmp_path: Path) -> None:
    """Both cascade stages train through DDP: gradients are all-reduced, so the two ranks,
    each on its own data shard, end with the same weights (ddp_rank_check.py compares)."""
    proc = _torchrun(
        [str(REPO / "test" / "ddp_rank_check.py")],
        "--architecture",
        "cascade",
        "--cascade-fusion-steps",
        "2",
        "--steps",
        "4",
        "--synthetic",
        "8",
        "--batch-size",
        "2",
        "--model",
        '{"cascade_seg_widths": [8, 16]}',
        "--out",
        str(tmp_path / "ddp"),
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "largest weight difference between ranks: 0 (" in proc.stdout


def test_a_nan_loss_stops_with_one_line_and_the_last_good_checkpoint_resumes(
    tmp_path: Path, capsys
) -> None:
    """Fault injected: the loss of step 5 is NaN (as a bad batch or a too-high lr would make
    it). Training stops at the next check naming step 5, saves nothing after it, and the
    state written at step 4 resumes to the end."""
    from mtvif_ros.train.cli import main as train_main
    from mtvif_ros.train.loop import TrainingDivergedError

    args = [
        "--synthetic",
        "12",
        "--batch-size",
        "3",
        "--steps",
        "8",
        "--ckpt-every",
        "4",
        "--log-every",
        "2",
    ]
    cfg = parse_config([*FAST, "--out", str(tmp_path), *args])
    trainer = Trainer(cfg)
    real = trainer.objective

    def poisoned(step: int):
        objective = real(step)

        def run(batch, step_):
            losses = objective(batch, step_)
            if step_ == 4:  # the 5th step (0-based step counter)
                losses["loss"] = losses["loss"] * float("nan")
            return losses

        return run

    trainer.objective = poisoned
    with pytest.raises(TrainingDivergedError) as exc:
        trainer.run()
    text = str(exc.value)
    assert "\n" not in text and "at step 5 (epoch 1, batch 0 of it)" in text
    assert str(tmp_path / "train_state.pt") in text
    state = torch.load(tmp_path / "train_state.pt", weights_only=False)
    assert state["step"] == 4  # nothing saved after the NaN
    assert all(
        torch.isfinite(v).all()
        for v in load_checkpoint(tmp_path / "last.pt").model.state_dict().values()
    )
    # the CLI: resume from the good state, to the end
    resume = [*FAST, "--out", str(tmp_path), *args, "--resume", str(tmp_path / "train_state.pt")]
    assert train_main(resume) == 0
    assert load_checkpoint(tmp_path / "last.pt").meta["steps"] == 8
