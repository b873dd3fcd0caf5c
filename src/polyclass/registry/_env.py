"""Where a registry lives when no URL is given: environment variables and the default."""

from __future__ import annotations

from pathlib import Path

#: Environment variable naming the registry (an SQLAlchemy URL or a directory).
ENV_URL = "POLYCLASS_REGISTRY"
#: Environment variable naming the artifact folder for non-SQLite registries.
ENV_ROOT = "POLYCLASS_REGISTRY_ROOT"
#: The embedded default: ``./.polyclass/registry.db`` and ``./.polyclass/artifacts/``.
DEFAULT_DIR = Path(".polyclass")
