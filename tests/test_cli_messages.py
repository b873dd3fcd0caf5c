"""What a person sees on stderr when a command goes wrong: one ``error:`` or ``warning:`` line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from _serve_helpers import Trained
from polyclass.cli import app


def _polyclass(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real ``polyclass`` command (80 columns, not a terminal), as a person runs it."""
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "polyclass.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["train", "x.csv", "--target", "y", "--metric", "bogus"], ["--metric", "'f1_macro'"]),
        (["monitor", "m", "--drift-alert", "bogus"], ["--drift-alert", "'important'"]),
        (["bogus-command"], ["No such command"]),
        (["train", "--target", "y"], ["Missing argument"]),
    ],
)
def test_usage_errors_are_one_error_line_with_exit_2(args: list[str], names: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for name in names:
        assert name in lines[0]
    assert "╭" not in result.stderr and "Usage:" not in result.stderr


def test_a_failed_train_shows_the_error_without_stale_progress_bars(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", str(tmp_path / "nonexist.csv"), "--target", "species", "-o", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "0/1" not in result.output and "define the problem" not in result.output
    assert result.stderr.startswith("error: No such file")


def test_a_long_error_is_one_line_at_80_columns(tmp_path: Path) -> None:
    missing = "a-rather-long-folder-name-for-the-data/" * 3 + "nonexist.csv"
    done = _polyclass("train", missing, "--target", "species", "-o", "out", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: No such file") and lines[0].endswith("Check the path.")
    assert len(lines[0]) > 80


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_serve_refuses_a_port_outside_1_to_65535(port: str, tmp_path: Path) -> None:
    done = _polyclass("serve", "penguins", f"--port={port}", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: Invalid value for '--port'")
    assert "http://" not in done.stderr


def test_evaluate_warns_in_one_line_each_and_notes_speak_to_the_reader(
    trained: Trained, tmp_path: Path
) -> None:
    from polyclass.datasets import penguins_path

    rows = penguins_path().read_text().splitlines()[:101]  # header + 100 Adelie rows
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "ev"
    result = CliRunner().invoke(
        app, ["evaluate", str(trained.model_dir), str(tmp_path / "s.csv"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("warning: ") for line in lines), result.stderr
    fitted = [line for line in lines if "rows the model was fitted on" in line]
    assert len(fitted) == 1 and "Evaluate on rows the model never saw." in fitted[0]
    notes = json.loads((out / "metrics.json").read_text())["test"]["notes"]
    assert not any("'labels' parameter" in note for note in notes), notes
    assert "Only one class occurs in both the true labels and the predictions." in notes


def test_serve_help_says_the_body_limit_is_in_mib() -> None:
    done = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200)
    assert done.exit_code == 0
    assert "in MiB of 1,048,576 bytes" in " ".join(done.output.replace("│", " ").split())
