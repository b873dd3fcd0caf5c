"""Which model a monitoring run is about, what it is called and where its log is."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ResolvedModel:
    """A model to monitor, what it is called and where its log is by default."""

    model: Any
    name: str
    version: int | None
    log_dir: Path
    lineage: dict[str, Any] = field(default_factory=dict)


def resolve_model(ref: Any, *, registry: str | None = None) -> ResolvedModel:
    """Load ``ref`` (a Model, an artifact path or a registry reference) and find its log.

    The default log follows ``polyclass serve``: ``<registry folder>/logs/<name>`` for a
    registry model (the folder holding the registry's artifact folder), and
    ``./.polyclass/logs/<directory name>`` for a model served from a path. ``name`` is
    the model's own name (the one it was trained and registered under).
    """
    from polyclass.model import Model

    local_logs = Path(".polyclass").absolute() / "logs"
    if isinstance(ref, Model):
        folder = ref.path.name if ref.path else "model"
        return ResolvedModel(ref, _own_name(ref, folder), None, local_logs / folder)
    path = Path(str(ref)).expanduser()
    if path.exists():
        model = Model.load(path)
        return ResolvedModel(model, _own_name(model, path.name), None, local_logs / path.name)
    from polyclass.registry import Registry

    with Registry(registry) as store:
        version = store.resolve(str(ref))
        root = Path(store.root).parent
    model = Model.load(version.path)
    lineage = dict(getattr(version, "lineage", None) or {})
    return ResolvedModel(
        model, version.name, version.version, root / "logs" / version.name, lineage
    )


def _own_name(model: Any, fallback: str) -> str:
    return str(model.info.get("name") or fallback)
