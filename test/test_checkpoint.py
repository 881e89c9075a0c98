"""Checkpoint round trip, every way a checkpoint file can be wrong, and mtvif-init-weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mtvif_ros.model import (
    CheckpointError,
    ModelConfig,
    build_model,
    default_checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from mtvif_ros.model.config import INPUT_CONVENTION
from mtvif_ros.tools import init_weights


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[Path, torch.nn.Module, ModelConfig]:
    cfg = ModelConfig(widths=[8, 16, 24], fusion_channels=16, seg_channels=16, attention_dim=8)
    model = build_model(cfg).eval()
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, cfg, {"trained": True, "description": "unit test"})
    return path, model, cfg


def test_round_trip_restores_config_meta_and_outputs(saved) -> None:
    path, model, cfg = saved
    ckpt = load_checkpoint(path)
    assert ckpt.config == cfg and ckpt.trained and ckpt.meta["description"] == "unit test"
    x = torch.rand(1, 1, 24, 24)
    with torch.no_grad():
        a, b = model(x, x), ckpt.model(x, x)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not ckpt.model.training


def test_cascade_round_trip(tmp_path: Path) -> None:
    cfg = ModelConfig(architecture="cascade", widths=[4, 8, 8], cascade_seg_widths=[8, 16])
    save_checkpoint(tmp_path / "c.pt", build_model(cfg), cfg)
    assert load_checkpoint(tmp_path / "c.pt").config.architecture == "cascade"


def test_packaged_checkpoints_load_and_are_marked_trained() -> None:
    """The robot default (multiscale) and the SeAFusion reference (the previous default)."""
    from mtvif_ros.model import packaged_checkpoints, preset, reference_checkpoint_path

    default, reference = packaged_checkpoints()
    assert default == default_checkpoint_path() and reference == reference_checkpoint_path()
    for path, backbone in ((default, "multiscale"), (reference, "seafusion")):
        ckpt = load_checkpoint(path)
        assert ckpt.config.num_classes == 9 and ckpt.config.backbone == backbone
        assert ckpt.config == preset(backbone)
        assert ckpt.trained and ckpt.meta["description"]
        assert path.stat().st_size < 5 * 2**20
    assert "research use" in load_checkpoint(default).meta["data"]["camvid"]["terms"]


def _one_line(exc: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(p)
    assert "file not found" in _one_line(exc, p)


def test_truncated_file(saved, tmp_path: Path) -> None:
    path, _, _ = saved
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(bad)
    assert "truncated or corrupt" in _one_line(exc, bad)


def test_garbage_file(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"this is not a checkpoint\x00\xff" * 10)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(bad)
    assert "truncated or corrupt" in _one_line(exc, bad)


class _Evil:
    def __reduce__(self):
        return (print, ("code ran while loading",))


def test_code_carrying_file_is_refused(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "evil.pt"
    torch.save({"format": "mtvif_ros.checkpoint", "payload": _Evil()}, bad, pickle_protocol=2)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(bad)
    assert "refused" in _one_line(exc, bad)
    assert "code ran" not in capsys.readouterr().out


def test_not_a_checkpoint_dict(tmp_path: Path) -> None:
    bad = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(3)}, bad)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(bad)
    assert "is not an mtvif_ros.checkpoint file" in _one_line(exc, bad)


def _rewrite(path: Path, out: Path, edit) -> Path:
    payload = torch.load(path, weights_only=True)
    edit(payload)
    torch.save(payload, out)
    return out


def test_wrong_class_count_requested(saved) -> None:
    path, _, _ = saved
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path, num_classes=12)
    assert "has 9 classes but 12 are expected" in _one_line(exc, path)


def test_class_count_disagrees_with_weights(saved, tmp_path: Path) -> None:
    path, _, _ = saved

    def edit(p):
        p["config"]["num_classes"] = 5
        p["config"]["class_names"] = list("abcde")

    bad = _rewrite(path, tmp_path / "classes.pt", edit)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(bad)
    assert "head.classifier.weight" in _one_line(exc, bad) and "shape" in str(exc.value)


def test_unknown_backbone(saved, tmp_path: Path) -> None:
    path, _, _ = saved
    bad = _rewrite(path, tmp_path / "bb.pt", lambda p: p["config"].update(backbone="resnet9000"))
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(bad)
    assert "unknown backbone 'resnet9000'" in _one_line(exc, bad)


def test_weights_of_another_architecture(saved, tmp_path: Path) -> None:
    path, _, _ = saved
    bad = _rewrite(
        path, tmp_path / "arch.pt", lambda p: p["config"].update(architecture="cascade")
    )
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(bad)
    assert "do not match the 'CascadeVIF' architecture" in _one_line(exc, bad)


def test_other_input_convention_is_refused(saved, tmp_path: Path) -> None:
    path, _, _ = saved
    other = "vis=RGB in [0,255]; ir=raw counts"
    bad = _rewrite(
        path, tmp_path / "conv.pt", lambda p: p["config"].update(input_convention=other)
    )
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(bad)
    msg = _one_line(exc, bad)
    assert other in msg and INPUT_CONVENTION in msg and "retrain or convert" in msg


def test_newer_format_version(saved, tmp_path: Path) -> None:
    path, _, _ = saved
    bad = _rewrite(path, tmp_path / "v.pt", lambda p: p.update(format_version=99))
    with pytest.raises(CheckpointError, match="upgrade mtvif_ros"):
        load_checkpoint(bad)


def test_save_is_atomic_and_plain_data(saved) -> None:
    path, _, _ = saved
    assert not path.with_name(path.name + ".tmp").exists()
    # loadable without any mtvif_ros class: weights-only safe by construction
    payload = torch.load(path, weights_only=True)
    assert isinstance(payload["config"], dict)
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())


def test_init_weights_requires_a_path(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        init_weights.main([])
    assert exc.value.code == 2 and "path" in capsys.readouterr().err


def test_init_weights_refuses_an_existing_file_without_force(tmp_path: Path, capsys) -> None:
    target = tmp_path / "keep.pt"
    target.write_bytes(b"precious")
    assert init_weights.main([str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(target) in err and "--force" in err
    assert target.read_bytes() == b"precious"


def test_init_weights_writes_and_force_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "init.pt"
    assert init_weights.main([str(target), "--seed", "3"]) == 0
    assert not load_checkpoint(target).trained
    target.write_bytes(b"stale")
    assert init_weights.main([str(target), "--force"]) == 0
    ckpt = load_checkpoint(target)
    assert not ckpt.trained and "manual_seed(0)" in ckpt.meta["description"]
