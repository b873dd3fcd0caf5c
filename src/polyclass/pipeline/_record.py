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
