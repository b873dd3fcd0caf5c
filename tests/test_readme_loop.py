"""The README's "Close the loop" block runs as written after the equivalent of ``make run``.

Feedback for 60 served rows is posted first (step 0 of the block points to the section
above for that); servers listen on a free port of 127.0.0.1 and stop at SIGINT once ready.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

import pandas as pd

from test_readme import POLYCLASS, README, _free_port, _wait_ready


def _loop_block() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Close the loop", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    return [re.sub(r"\s*\[[^\]]*\]", "", line) for line in lines]  # optional parts left out


def _post(port: int, path: str, body: object, headers: dict[str, str]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status == 200


def _serve(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    server = subprocess.Popen(
        [*POLYCLASS, *args, "--port", str(port)],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    _wait_ready(port, server)
    return server, port


def _stop(server: subprocess.Popen[str]) -> None:
    server.send_signal(signal.SIGINT)
    assert server.wait(timeout=120) == 0


def _run(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*POLYCLASS, *shlex.split(line)[1:]], cwd=cwd, capture_output=True, text=True, timeout=900
    )


def test_readme_close_the_loop_runs_as_written(tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    examples.mkdir()
    shutil.copy(README.parent / "examples" / "penguins.csv", examples / "penguins.csv")
    train = "polyclass train examples/penguins.csv --target species --out out/penguins --cv 2 --C 1"
    assert _run(train, tmp_path).returncode == 0
    rows = pd.read_csv(examples / "penguins.csv").dropna().sample(60, random_state=0)
    server, port = _serve(["serve", "penguins"], tmp_path)
    try:
        for i, row in enumerate(rows.to_dict("records")):
            label = row.pop("species")
            _post(port, "/invocations", {"dataframe_records": [row]}, {"X-Request-ID": f"r{i}"})
            _post(port, "/feedback", {"request_id": f"r{i}", "label": label}, {})
    finally:
        _stop(server)
    challenger = None
    for line in _loop_block():
        if challenger is not None:
            line = line.replace("CHALLENGER_VERSION", challenger)
        if line.startswith("polyclass serve "):
            server, _ = _serve(shlex.split(line)[1:], tmp_path)
            _stop(server)
            continue
        done = _run(line, tmp_path)
        ok = (0, 1) if line.startswith(("polyclass retrain", "polyclass monitor")) else (0,)
        assert done.returncode in ok, f"{line}: {done.stderr[-2000:]}"
        if line.startswith("polyclass retrain"):
            found = re.search(r"challenger version (\d+)", done.stdout)
            assert found, done.stdout
            challenger = found.group(1)
    assert challenger is not None and (tmp_path / "retrain" / "comparison.json").exists()
    assert (tmp_path / "feedback.parquet").exists()
