"""Every public package lists its names in ``__all__`` once, and each one resolves.

The order of ``__all__`` (constants, classes, functions, each sorted) is ruff's RUF022.
"""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "polyclass",
    "polyclass.artifact",
    "polyclass.data",
    "polyclass.deploy",
    "polyclass.evaluation",
    "polyclass.families",
    "polyclass.linear",
    "polyclass.metrics",
    "polyclass.model",
    "polyclass.monitor",
    "polyclass.pipeline",
    "polyclass.preprocess",
    "polyclass.registry",
    "polyclass.report",
    "polyclass.scale",
    "polyclass.serve",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_resolves(name: str) -> None:
    module = importlib.import_module(name)
    public = list(module.__all__)
    assert len(set(public)) == len(public), f"{name}.__all__ has duplicates"
    for attribute in public:
        assert getattr(module, attribute) is not None, f"{name}.{attribute} does not resolve"


def test_import_polyclass_is_light() -> None:
    import subprocess
    import sys

    code = "import sys, polyclass; print(sorted({'sklearn', 'pandas', 'scipy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
