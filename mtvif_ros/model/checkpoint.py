"""Checkpoint files: one ``.pt`` holding the state dict, the model config and metadata.

Files are read with ``torch.load(weights_only=True)``, so a checkpoint can only contain
tensors and plain data and can never run code when loaded. Every way a file can be wrong
(missing, truncated, not a checkpoint, wrong class count, unknown backbone, another input
convention, weights that do not fit the architecture) is reported as one
``CheckpointError`` naming the file and the problem, so a node fails at startup with a
message a user can act on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mtvif_ros.model.backbones import BACKBONES
from mtvif_ros.model.builder import build_model
from mtvif_ros.model.config import INPUT_CONVENTION, ModelConfig

FORMAT = "mtvif_ros.checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file cannot be used; the message names the file and the fix."""


@dataclass
class Checkpoint:
    """A loaded, validated checkpoint: the network (eval mode, CPU), its config and metadata.

    ``meta`` holds provenance: ``trained`` (bool), ``description``, training command/data.
    """

    model: nn.Module
    config: ModelConfig
    meta: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    @property
    def trained(self) -> bool:
        return bool(self.meta.get("trained", False))


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    config: ModelConfig,
    meta: dict[str, Any] | None = None,
) -> None:
    """Write ``model``'s weights with ``config`` and ``meta`` (plain data only) to ``path``."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "meta": dict(meta or {}),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # never leave a half-written checkpoint under the real name


def load_checkpoint(path: str | os.PathLike[str], num_classes: int | None = None) -> Checkpoint:
    """Load and validate a checkpoint; raise CheckpointError with a one-line reason.

    ``num_classes``, when given, is the class count the caller needs (e.g. a node
    configured for the MSRS classes) and must match the checkpoint's.
    """
    name = str(path)

    def fail(problem: str) -> CheckpointError:
        return CheckpointError(f"checkpoint '{name}': {problem}")

    payload = _read_payload(Path(path), fail)
    cfg_dict = payload.get("config")
    state = payload.get("state_dict")
    if not isinstance(cfg_dict, dict) or not isinstance(state, dict):
        raise fail("lacks its 'config' or 'state_dict' entry")
    backbone = cfg_dict.get("backbone")
    if backbone not in BACKBONES:
        raise fail(f"unknown backbone '{backbone}'; known: {', '.join(sorted(BACKBONES))}")
    try:
        config = ModelConfig.from_dict(cfg_dict)
    except (TypeError, ValueError) as exc:
        raise fail(f"invalid config ({exc})") from None
    if config.input_convention != INPUT_CONVENTION:
        raise fail(
            f"expects inputs {config.input_convention!r} but this mtvif_ros feeds "
            f"{INPUT_CONVENTION!r}; retrain or convert the checkpoint for this convention, "
            "or use an mtvif_ros version with its convention"
        )
    if num_classes is not None and config.num_classes != num_classes:
        raise fail(
            f"has {config.num_classes} classes but {num_classes} are expected; use a "
            f"checkpoint trained for {num_classes} classes"
        )
    try:
        model = build_model(config)
    except ValueError as exc:
        raise fail(f"config cannot be built ({exc})") from None
    _check_state(model, state, fail)
    model.load_state_dict(state)
    model.eval()
    meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
    return Checkpoint(model=model, config=config, meta=meta, path=name)


def _read_payload(p: Path, fail: Any) -> dict[str, Any]:
    """The file's top-level dict, refused unless it is a checkpoint of a known version."""
    if not p.is_file():
        raise fail("file not found; give the path of a .pt checkpoint (or none for the default)")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise fail(
                "contains Python objects beyond tensors and plain data and was refused "
                "(weights_only loading); re-save it with mtvif_ros.model.save_checkpoint"
            ) from None
        raise fail(f"cannot be read, file is truncated or corrupt ({reason[:160]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise fail(f"is not an {FORMAT} file (no '{FORMAT}' format tag)")
    if int(payload.get("format_version", 0)) > FORMAT_VERSION:
        raise fail(
            f"format version {payload.get('format_version')} is newer than supported "
            f"({FORMAT_VERSION}); upgrade mtvif_ros"
        )
    return payload


def _check_state(model: nn.Module, state: dict[str, Any], fail: Any) -> None:
    """Compare key sets and shapes before loading, to report the first mismatch plainly."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise fail(f"weights do not match the '{_arch(model)}' architecture ({detail})")
    for key, ref in expected.items():
        got = state[key]
        if not isinstance(got, torch.Tensor) or got.shape != ref.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise fail(f"weight '{key}' has shape {shape}, the config needs {tuple(ref.shape)}")


def _arch(model: nn.Module) -> str:
    return type(model).__name__
