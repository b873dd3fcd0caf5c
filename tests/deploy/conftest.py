"""Fixtures of the deploy tests: a registry whose penguins model has verified replicas in
three file:// stores, one per region."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the shared helpers (_serve_helpers) live there

from _deploy_helpers import Replicated, replicate_to_regions  # noqa: E402


@pytest.fixture(scope="session")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Replicated:
    # a registry of our own: the replicas recorded here must not show in other tests'
    return replicate_to_regions(tmp_path_factory.getbasetemp() / "deploy-penguins")
