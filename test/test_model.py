"""The networks: shapes, ranges, one-pass outputs, gradient flow, registry and configs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mtvif_ros.model import (
    BACKBONES,
    CascadeVIF,
    FusionNet,
    ModelConfig,
    MultiTaskVIF,
    build_backbone,
    build_model,
    register_backbone,
)


def _pair(h: int, w: int, n: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(h * 1000 + w)
    return torch.rand(n, 1, h, w, generator=g), torch.rand(n, 1, h, w, generator=g)


@pytest.mark.parametrize("size", [(64, 64), (37, 53), (97, 131)])
@pytest.mark.parametrize("arch", ["multitaskvif", "cascade"])
def test_outputs_shape_and_range(arch: str, size: tuple[int, int]) -> None:
    model = build_model(architecture=arch).eval()
    vis, ir = _pair(*size, n=2)
    with torch.no_grad():
        fused, logits = model(vis, ir)
    assert fused.shape == (2, 1, *size)
    assert logits.shape == (2, 9, *size)
    assert fused.min() >= 0 and fused.max() <= 1
    assert torch.isfinite(logits).all()


def test_full_resolution_480x640_runs() -> None:
    model = build_model().eval()
    vis, ir = _pair(480, 640)
    with torch.inference_mode():
        fused, logits = model(vis, ir)
    assert fused.shape == (1, 1, 480, 640) and logits.shape == (1, 9, 480, 640)


def test_one_forward_gives_both_outputs() -> None:
    """Both outputs come from one call of the backbone (no second pass, no cascade)."""
    model = build_model().eval()
    calls = []
    model.backbone.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        model(*_pair(32, 32))
    assert len(calls) == 1


def test_num_classes_configurable() -> None:
    cfg = ModelConfig(num_classes=3, class_names=["a", "b", "c"])
    _, logits = build_model(cfg)(*_pair(16, 16))
    assert logits.shape[1] == 3


def _grad_norm(module: torch.nn.Module) -> float:
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)


def test_both_losses_reach_the_backbone_and_fusion_loss_reaches_seg_branch() -> None:
    model: MultiTaskVIF = build_model().train()
    vis, ir = _pair(40, 48, n=2)
    target = torch.randint(0, 9, (2, 40, 48))

    fused, logits = model(vis, ir)
    F.cross_entropy(logits, target).backward()
    assert _grad_norm(model.backbone.vis) > 0 and _grad_norm(model.backbone.ir) > 0
    assert _grad_norm(model.head.fusion_out) == 0  # the seg loss does not touch fusion's tail

    model.zero_grad(set_to_none=True)
    fused, logits = model(vis, ir)
    F.l1_loss(fused, torch.maximum(vis, ir)).backward()
    assert _grad_norm(model.backbone.vis) > 0 and _grad_norm(model.backbone.ir) > 0
    # f_seg enters HIA-F, so the fusion loss also trains the segmentation branch's convs
    assert _grad_norm(model.head.to_seg) > 0
    assert _grad_norm(model.head.seg_to_fusion) > 0
    assert _grad_norm(model.head.classifier) == 0


def test_registry_backbones_all_work_with_the_head() -> None:
    assert {"seafusion", "densefuse", "multiscale"} <= set(BACKBONES)
    for name in BACKBONES:
        model = build_model(backbone=name).eval()
        with torch.no_grad():
            fused, logits = model(*_pair(24, 24))
        assert fused.shape == (1, 1, 24, 24) and logits.shape == (1, 9, 24, 24)


def test_registering_a_taken_backbone_name_is_refused() -> None:
    before = dict(BACKBONES)

    class Impostor(torch.nn.Module):
        pass

    with pytest.raises(ValueError, match="backbone 'seafusion' is already registered"):
        register_backbone("seafusion")(Impostor)
    assert BACKBONES == before


def test_seafusion_default_feature_is_96_channels_and_widths_configurable() -> None:
    assert build_backbone("seafusion").out_channels == 96
    bb = build_backbone("seafusion", [8, 16, 24])
    assert bb.out_channels == 48
    assert bb(*_pair(16, 16)).shape == (1, 48, 16, 16)
    model = build_model(widths=[8, 16, 24]).eval()
    assert model(*_pair(16, 16))[1].shape == (1, 9, 16, 16)


def test_unknown_backbone_and_bad_widths_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown backbone 'nope'"):
        build_model(backbone="nope")
    with pytest.raises(ValueError, match="needs 3 widths"):
        build_backbone("seafusion", [8, 16])
    with pytest.raises(ValueError, match="unknown architecture"):
        ModelConfig(architecture="bogus")
    with pytest.raises(ValueError, match="class_names has 9 entries"):
        ModelConfig(num_classes=4)


def test_cascade_is_two_networks_and_heavier_than_multitaskvif() -> None:
    mt = build_model()
    cas = build_model(architecture="cascade")
    fusion = build_model(architecture="fusion")
    assert isinstance(cas, CascadeVIF) and isinstance(fusion, FusionNet)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # same backbone in all three
    assert count(mt.backbone) == count(cas.fusion.backbone) == count(fusion.backbone)
    assert count(mt) < count(cas)
    with torch.no_grad():
        y = fusion(*_pair(20, 20))
    assert y.shape == (1, 1, 20, 20)


def test_config_round_trip_and_unknown_keys() -> None:
    cfg = ModelConfig(backbone="densefuse", widths=[8])
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown config keys: colour"):
        ModelConfig.from_dict({"colour": 1})


def _input_extent(model: torch.nn.Module, h: int = 160, w: int = 224) -> tuple[int, int]:
    """(height, width) of the input region that moves the centre pixel of the output."""
    vis, ir = (t.requires_grad_() for t in _pair(h, w))
    out = model.eval()(vis, ir)
    out = out[1] if isinstance(out, tuple) else out
    out[0, :, h // 2, w // 2].sum().backward()
    ys, xs = torch.nonzero((vis.grad.abs() + ir.grad.abs())[0, 0] > 0, as_tuple=True)
    return int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)


def test_multiscale_backbone_sees_the_whole_image_and_seafusion_only_a_neighbourhood() -> None:
    """Segmenting a car needs context: the multiscale feature (and so the labels) depends
    on the whole frame; SeAFusion's full-resolution encoder sees ~15 px."""
    multiscale = build_backbone("multiscale")
    assert _input_extent(multiscale) == (160, 224)
    assert _input_extent(build_model(backbone="multiscale")) == (160, 224)
    assert max(_input_extent(build_backbone("seafusion"))) < 20


def test_multiscale_feature_is_full_resolution_for_any_size() -> None:
    bb = build_backbone("multiscale")
    assert bb.out_channels == 24
    for size in ((8, 8), (17, 9), (61, 83)):
        with torch.no_grad():
            assert bb.eval()(*_pair(*size)).shape == (1, 24, *size)
    with pytest.raises(ValueError, match="needs 6 widths"):
        build_backbone("multiscale", [8, 16])


def test_multiscale_multitaskvif_is_five_times_cheaper_than_the_reference() -> None:
    """FLOPs at 480×640 (counted at 120×160: convolutions scale with the pixel count)."""
    from torch.utils.flop_counter import FlopCounterMode

    def gflops_480x640(model: torch.nn.Module) -> float:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model.eval()(*_pair(120, 160))
        return 16 * counter.get_total_flops() / 1e9

    light = build_model(backbone="multiscale", fusion_channels=16, seg_channels=24)
    reference = build_model(backbone="seafusion")
    assert gflops_480x640(light) <= 25.0
    assert gflops_480x640(reference) >= 5 * gflops_480x640(light)
    cascade = build_model(architecture="cascade", backbone="multiscale")
    assert count_params(cascade.fusion.backbone) == count_params(light.backbone)


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_segmentation_branch_at_a_coarser_stride_gives_full_size_logits_for_less() -> None:
    """seg_stride 4: the segmentation branch runs on the backbone's 1/4 feature and its
    logits are upsampled, so outputs keep the input size (any size) at fewer FLOPs; the
    fused image still comes from the full-resolution feature."""
    from torch.utils.flop_counter import FlopCounterMode

    full = build_model(backbone="multiscale", fusion_channels=16, seg_channels=24)
    coarse = build_model(backbone="multiscale", fusion_channels=16, seg_channels=24, seg_stride=4)
    assert coarse.backbone.seg_out_channels == 32  # the 1/4 scale's width
    for size in ((64, 64), (37, 53)):
        fused, logits = coarse.eval()(*_pair(*size))
        assert fused.shape == (1, 1, *size) and logits.shape == (1, 9, *size)

    def flops(model: torch.nn.Module) -> int:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model.eval()(*_pair(96, 128))
        return counter.get_total_flops()

    assert flops(coarse) < 0.75 * flops(full)
    # the labels still see both inputs, through the coarse feature
    vis, ir = (t.requires_grad_() for t in _pair(64, 64))
    coarse.train()(vis, ir)[1].sum().backward()
    assert vis.grad.abs().sum() > 0 and ir.grad.abs().sum() > 0


def test_seg_stride_is_refused_where_there_is_no_coarse_feature() -> None:
    with pytest.raises(ValueError, match="has no coarse feature"):
        build_model(backbone="seafusion", seg_stride=4)
    with pytest.raises(ValueError, match="seg_stride must be 1, 2, 4 or 8"):
        ModelConfig(backbone="multiscale", seg_stride=3)
    with pytest.raises(ValueError, match="needs the multi-task head"):
        ModelConfig(architecture="cascade", backbone="multiscale", seg_stride=4)
    # old checkpoints have no seg_stride: they load as before (full resolution)
    stored = ModelConfig(backbone="multiscale").to_dict()
    del stored["seg_stride"]
    assert ModelConfig.from_dict(stored).seg_stride == 1
