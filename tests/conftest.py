"""Fixtures shared by several test files."""

from __future__ import annotations

import pytest

from _serve_helpers import Trained, trained_registry


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """A registry with penguins v1 (trained) and v2, built once per test process.

    ``test_train.py`` and ``test_monitor_cli.py`` define their own ``trained`` (a
    training run of their own), which takes precedence in those files.
    """
    return trained_registry(tmp_path_factory.getbasetemp() / "serve-penguins")
