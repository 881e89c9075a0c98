"""Parameter table and validation shared by the node and the offline tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtvif_ros.params.settings import (
    DEFAULTS,
    Settings,
    SettingsError,
    load_params_file,
    parse_palette,
)

REPO = Path(__file__).resolve().parents[1]


def test_defaults_are_valid_and_map_to_the_engine() -> None:
    s = Settings.from_mapping()
    kw = s.engine_kwargs()
    assert kw["checkpoint"] is None and kw["device"] == "auto" and kw["size"] is None
    assert s.homography is None and s.palette is None
    assert s.ir_normalization.method == "percentile"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("model.device", "gpu", "model.device 'gpu' is invalid"),
        ("model.precision", "int8", "model.precision 'int8' is invalid"),
        ("model.inference_size", [240], "model.inference_size"),
        ("model.inference_size", [4, 4], "too small"),
        ("model.inference_size", [0, 320], "model.inference_size"),
        ("ir.normalization", "clahe", "ir.normalization 'clahe'"),
        ("ir.percentile_low", 99.5, "ir.percentile_low 99.5 and ir.percentile_high 99.0"),
        ("sync.slop", 0.0, "sync.slop must be a positive"),
        ("sync.backend", "magic", "sync.backend"),
        ("qos.reliability", "sometimes", "qos.reliability"),
        ("qos.depth", 0, r"qos.depth 0 is outside its range \[1, 1000\]"),
        ("overlay.alpha", 1.5, "overlay.alpha"),
        ("labels.min_confidence", -0.1, r"labels.min_confidence -0.1 is outside its range"),
        ("registration.homography", [1.0, 0.0], "needs 9 finite numbers"),
        ("registration.homography", [0.0] * 9, "singular"),
        ("palette.override", "1,2", "rows of 3 integers"),
        ("palette.override", "a,b,c", "invalid"),
        # found by test_fuzz: wrong types were TypeError/ValueError without the name, and
        # control characters ended up in the one-line message
        ("overlay.alpha", "", "overlay.alpha must be a finite number, got ''"),
        ("qos.ir.depth", "x", "qos.ir.depth must be an integer, got 'x'"),
        ("sync.slop", float("nan"), "sync.slop must be a finite number"),
        ("publish.fused", 1, "publish.fused must be true or false"),
        ("registration.homography", ["1"] * 9, "registration.homography must be a list of"),
        ("ir.normalization", "\n", r"ir.normalization '\\n' is invalid"),
    ],
)
def test_invalid_values_name_the_parameter(name: str, value, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as exc:
        Settings.from_mapping({name: value})
    assert "\n" not in str(exc.value)


def test_unknown_parameter() -> None:
    with pytest.raises(SettingsError, match="unknown parameter"):
        Settings.from_mapping({"model.colour": 1})


def test_valid_overrides() -> None:
    s = Settings.from_mapping(
        {
            "model.device": "cuda:1",
            "model.inference_size": [240, 320],
            "registration.homography": [1.0, 0, 5.0, 0, 1.0, -3.0, 0, 0, 1.0],
            "palette.override": "0,0,0; 255, 0, 0",
            "ir.normalization": "fixed",
            "ir.min": 7000.0,
            "ir.max": 9000.0,
        }
    )
    assert s.inference_size == (240, 320)
    assert s.homography[2] == 5.0 and s.palette == [[0, 0, 0], [255, 0, 0]]
    assert s.ir_normalization.min == 7000.0
    assert parse_palette("") is None


def test_shipped_params_file_holds_every_parameter_with_its_default() -> None:
    params = load_params_file(REPO / "config" / "fusion.yaml")
    assert set(params) == set(DEFAULTS)
    for name, default in DEFAULTS.items():
        assert params[name] == default, name
        assert type(params[name]) is type(default), f"{name}: ROS would reject the type"


def test_parameters_and_options_validate_without_torch() -> None:
    """The parameter layer is pure: importing it must not pull in torch (or rclpy)."""
    import subprocess
    import sys

    code = (
        "import sys, mtvif_ros.params.settings, mtvif_ros.params.options, "
        "mtvif_ros.runtime.stats, mtvif_ros.runtime.sync; "
        "print(sorted(m for m in ('torch', 'rclpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
