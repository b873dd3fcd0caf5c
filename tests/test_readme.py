"""The README's serve -> feedback -> monitor walk-through runs as written.

Each line of the block is run in a fresh folder after the equivalent of ``make run``:
``polyclass ...`` through this interpreter, ``curl`` as the same HTTP request, and the
server on a free port of 127.0.0.1 instead of 8080.
"""

from __future__ import annotations

import json
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"
POLYCLASS = [sys.executable, "-m", "polyclass.cli"]


def _walkthrough() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Serve, collect feedback, monitor", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(
                f"the server exited: {server.stderr.read() if server.stderr else ''}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the server did not become ready")


def _curl(line: str, port: int) -> dict[str, object]:
    words = shlex.split(line)[1:]
    url, headers, body = "", {}, None
    i = 0
    while i < len(words):
        if words[i] == "-H":
            key, _, value = words[i + 1].partition(":")
            headers[key.strip()] = value.strip()
            i += 2
        elif words[i] == "-d":
            body = words[i + 1].encode()
            i += 2
        elif words[i].startswith("-"):
            i += 1
        else:
            url = words[i]
            i += 1
    path = url.split("localhost:8080", 1)[1]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status == 200
        return dict(json.loads(answer.read()))


def test_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    examples.mkdir()
    shutil.copy(README.parent / "examples" / "penguins.csv", examples / "penguins.csv")
    # `make run`, with a smaller search
    train = "train examples/penguins.csv --target species --out out/penguins --cv 2 --C 1"
    done = subprocess.run(
        [*POLYCLASS, *train.split()], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    port = _free_port()
    server: subprocess.Popen[str] | None = None
    answers: list[dict[str, object]] = []
    try:
        for line in _walkthrough():
            if line.startswith("polyclass ") and line.endswith("&"):
                args = shlex.split(line.rstrip("&"))[1:]
                args[args.index("--port") + 1] = str(port)
                server = subprocess.Popen(
                    [*POLYCLASS, *args],
                    cwd=tmp_path,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
                _wait_ready(port, server)
            elif line.startswith("polyclass "):
                done = subprocess.run(
                    [*POLYCLASS, *shlex.split(line)[1:]],
                    cwd=tmp_path,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                if line.startswith("polyclass monitor"):
                    assert done.returncode in (0, 1), done.stderr[-2000:]
                    assert "1 predictions read" in done.stdout
                else:
                    assert done.returncode == 0, done.stderr[-2000:]
                    assert "warning: " in done.stderr and "trained on" in done.stderr
            elif line.startswith("curl "):
                answers.append(_curl(line, port))
            elif line == "kill -INT %1":
                assert server is not None
                server.send_signal(signal.SIGINT)
                assert server.wait(timeout=120) == 0
                server = None
            else:
                raise AssertionError(f"the test does not know how to run {line!r}")
    finally:
        if server is not None:
            server.kill()
            server.wait()
    assert answers[0]["predictions"] == ["Gentoo"]
    assert (tmp_path / "out" / "penguins-monitor" / "monitor.html").exists()
    monitor = json.loads((tmp_path / "out" / "penguins-monitor" / "monitor.json").read_text())
    assert monitor["live"]["n_labelled"] == 1
