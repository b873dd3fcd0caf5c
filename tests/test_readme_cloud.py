"""The README's cloud example runs as written, with its /srv/stores in a temporary folder."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from _serve_helpers import ROW, trained_registry

README = Path(__file__).parents[1] / "README.md"


def _blocks() -> tuple[str, str]:
    section = README.read_text(encoding="utf-8").split("### Models in many clouds", 1)[1]
    bash = section.split("```bash\n", 1)[1].split("```", 1)[0]
    python = section.split("```python\n", 1)[1].split("```", 1)[0]
    return bash, python


def test_readme_cloud_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = trained_registry(tmp_path / "trained").registry
    monkeypatch.setenv("POLYCLASS_REGISTRY", str(registry))
    monkeypatch.setenv("POLYCLASS_CACHE", str(tmp_path / "cache"))
    bash, python = (b.replace("/srv/stores", str(tmp_path / "stores")) for b in _blocks())
    assert "polyclass serve penguins:1 --store file://" in bash
    for line in bash.splitlines():
        words = shlex.split(line, comments=True)
        if words[0] == "mkdir":
            for folder in words[2:]:
                os.makedirs(folder)
        elif words[:2] != ["polyclass", "serve"]:  # serving from a store: test_cloud_*
            done = subprocess.run(
                [sys.executable, "-m", "polyclass.cli", *words[1:]], capture_output=True, text=True
            )
            assert done.returncode == 0, (line, done.stdout, done.stderr)
    replica = re.search(r'polyclass\.load\("(file://[^"]+)"\)', python)
    assert replica is not None and replica.group(1).endswith("/models/penguins/1")
    import polyclass

    first = polyclass.load(replica.group(1)).predict([ROW])
    namespace: dict[str, object] = {}
    exec(python.replace('"s3://models/pc", ', ""), namespace)  # no S3 here: its file:// peer
    assert list(namespace["model"].predict([ROW])) == list(first)  # type: ignore[attr-defined]
