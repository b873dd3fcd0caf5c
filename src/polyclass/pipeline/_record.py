"""What a training run records about itself: its name, user, the Python call that
reproduces it, and its registry entry."""

from __future__ import annotations

import getpass
from dataclasses import fields
from pathlib import Path
from typing import Any

from polyclass.pipeline._config import TrainConfig


def python_call(cfg: TrainConfig) -> str:
    """The Python call that reproduces ``cfg`` (its options that differ from defaults)."""
    defaults = TrainConfig(data=cfg.data, target=cfg.target)
    changed = {
        f.name: getattr(cfg, f.name)
        for f in fields(cfg)
        if f.name not in ("command",) and getattr(cfg, f.name) != getattr(defaults, f.name)
    }
    args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
    return f"polyclass.train(data={str(cfg.data)!r}, target={cfg.target!r}" + (
        f", {args})" if args else ")"
    )


#: Options that describe where a run read and wrote, not how it trained.
_NOT_STORED = ("data", "out", "overwrite", "command", "registry", "register", "n_jobs")


def stored_config(cfg: TrainConfig) -> dict[str, Any]:
    """The options a retrain reuses (metric, costs, strategies, search space, seed...).

    Stored in the model's info as ``train_config``; paths stay as given (a cost matrix
    is also in the model's decision).
    """
    out: dict[str, Any] = {}
    for f in fields(cfg):
        if f.name in _NOT_STORED:
            continue
        value = getattr(cfg, f.name)
        out[f.name] = str(value) if isinstance(value, Path) else value
    return out


def register(cfg: TrainConfig, name: str, artifact: Path, info: dict[str, Any]) -> dict[str, Any]:
    from polyclass.registry import Registry

    with Registry(cfg.registry) as registry:
        version = registry.register(
            name,
            artifact,
            lineage={
                "data_fingerprint": info["data_fingerprint"],
                "parameters": info["best_params"],
                "metrics": info["test_metrics"],
                "data_path": str(cfg.data),
                "target": cfg.target,
            },
        )
    return {"name": version.name, "version": version.version, "path": str(version.path)}


def default_name(cfg: TrainConfig) -> str:
    stem = Path(cfg.data).stem
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in stem)
    return cleaned.strip("-.") or "model"


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
