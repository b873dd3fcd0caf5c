"""A store URL carrying credentials or options is refused everywhere it can be given
(`deploy check` in text and JSON, `serve --store`, `cloud replicate`) with one `error:`
line and exit 2, the URL shown redacted: no secret reaches a terminal, a CI log or JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polyclass.cli import app
from polyclass.cloud import UsageError, redact_url, split_url

#: Each URL given -> how every message must show it. Every secret holds "s3cr3t".
URLS = {
    "s3://AKIAX:s3cr3tKEY@bucket/pc": "s3://***@bucket/pc",
    # a '/' in the secret key ends urlsplit's user part early: still found, still hidden
    "s3://AKIAX:s3cr3t/KEY@bucket/pc": "s3://***@bucket/pc",
    "s3://bucket/pc?secret_key=s3cr3tA&token=s3cr3tB&password=s3cr3tC"
    "&X-Amz-Security-Token=s3cr3tD&sig=s3cr3tE": "s3://bucket/pc?***",
    "gs://AKIAX:s3cr3tKEY@bucket/pc?token=s3cr3tTOK#s3cr3tFRAG": "gs://***@bucket/pc?***",
    "file://AKIAX:s3cr3tKEY@localhost/tmp/pc": "file://***@localhost/tmp/pc",
}
_CLOUD = {"s3": "aws", "gs": "gcp", "file": "onprem"}


def _no_secret(*texts: str) -> None:
    for text in texts:
        assert "s3cr3t" not in text and "AKIAX" not in text, text


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.mark.parametrize(("url", "shown"), URLS.items())
def test_redact_url_keeps_the_scheme_and_drops_user_and_options(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    with pytest.raises(UsageError, match="carries credentials or options") as info:
        split_url(url)
    assert repr(shown) in str(info.value)
    _no_secret(str(info.value))


def test_redact_url_leaves_a_bare_url_and_hides_a_schemeless_user() -> None:
    assert redact_url("az://container/prefix") == "az://container/prefix"
    assert redact_url("AKIAX:s3cr3t@bucket/pc") == "***@bucket/pc"
    assert redact_url(42) == "42"


def _topology(tmp_path: Path) -> Path:
    lines = ['model = "penguins:1"']
    for number, url in enumerate(URLS):
        cloud = _CLOUD[url.split("://")[0]]
        lines.append(f'[[regions]]\nname = "r{number}"\ncloud = "{cloud}"\nstore = "{url}"')
    path = tmp_path / "topology.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _deploy_check(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The real command at 80 columns, as a person or a CI job runs it."""
    return subprocess.run(
        [sys.executable, "-m", "polyclass.cli", "deploy", "check", str(path), *extra],
        cwd=path.parent,
        env={**os.environ, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_refuses_every_credentialed_store_in_one_error_line(tmp_path: Path) -> None:
    out = _deploy_check(_topology(tmp_path))
    _no_secret(out.stdout, out.stderr)
    assert out.returncode == 2, out.stderr
    line = _one_error_line(out.stderr)
    assert f"{len(URLS)} problems" in line  # every region's, in one run
    for shown in URLS.values():
        assert f"Store URL {shown!r} carries credentials or options" in line


def test_deploy_check_json_refuses_them_without_a_secret(tmp_path: Path) -> None:
    out = _deploy_check(_topology(tmp_path), "--json")
    _no_secret(out.stdout, out.stderr)
    assert out.returncode == 2, out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] is False and len(report["problems"]) == len(URLS)
    for problem, shown in zip(report["problems"], URLS.values(), strict=True):
        assert f"Store URL {shown!r} carries credentials or options" in problem


@pytest.mark.parametrize(("url", "shown"), URLS.items())
@pytest.mark.parametrize(
    "command",
    [["serve", "penguins:1", "--store"], ["cloud", "replicate", "penguins:1", "--to"]],
    ids=["serve", "replicate"],
)
def test_serve_and_replicate_refuse_the_url_without_a_secret(
    command: list[str], url: str, shown: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POLYCLASS_REGISTRY", str(tmp_path / "registry"))
    result = CliRunner().invoke(app, [*command, url])
    _no_secret(result.stdout, result.stderr)
    assert result.exit_code == 2, result.stderr
    assert repr(shown) in _one_error_line(result.stderr)


def test_serve_refuses_a_credentialed_replica_url_given_as_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for model in ("s3://AKIAX:s3cr3t/KEY@bucket/pc/models/m/1", "s3://bucket/pc?token=s3cr3t"):
        result = CliRunner().invoke(app, ["serve", model])
        _no_secret(result.stdout, result.stderr)
        assert result.exit_code == 2, result.stderr
        _one_error_line(result.stderr)


def test_a_stores_file_with_a_credentialed_url_is_refused_without_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    stores = tmp_path / "stores.toml"
    for values in ('cloud = "aws"', "bogus = 1"):
        stores.write_text(
            f'[stores."s3://AKIAX:s3cr3tKEY@bucket/pc?token=s3cr3tTOK"]\n{values}\n',
            encoding="utf-8",
        )
        result = CliRunner().invoke(
            app, ["cloud", "replicate", "penguins:1", "--stores-file", str(stores)]
        )
        _no_secret(result.stdout, result.stderr)
        assert result.exit_code == 2, result.stderr
        assert "s3://***@bucket/pc?***" in _one_error_line(result.stderr)


@pytest.mark.parametrize(
    "url", ["s3://AKIAX:s3cr3tKEY@bucket", "s3://bucket/backup.json?token=s3cr3tTOK"]
)
def test_an_object_url_with_credentials_is_refused_without_a_secret(url: str) -> None:
    from polyclass.cloud import write_bytes

    with pytest.raises(UsageError, match="carries credentials or options") as info:
        write_bytes(url, b"{}")
    _no_secret(str(info.value))
