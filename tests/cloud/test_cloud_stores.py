"""Stores as URLs against real emulators: bytes in and out, atomic writes, clear errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from _cloud_emulators import AZURITE_KEY, free_port

from polyclass.cloud import Store, StoreError, UsageError, read_bytes, write_bytes

CLOUDS = ["s3", "gcs", "azure", "file"]

# s3fs and gcsfs hand aiohttp chunks as bytes; aiohttp's hint about that is theirs to act on.
pytestmark = pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning")


@pytest.mark.parametrize("cloud", CLOUDS)
def test_write_then_read_bytes_round_trips_and_overwrites(
    cloud: str, new_store: Callable[[str], str]
) -> None:
    url = new_store(cloud) + "/backup/registry.json"
    write_bytes(url, b'{"v": 1}')
    write_bytes(url, b'{"v": 2}')
    assert read_bytes(url) == b'{"v": 2}'
    with pytest.raises(FileNotFoundError, match="No object at"):
        read_bytes(new_store(cloud) + "/absent.json")


def test_file_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_bytes(f"file://{tmp_path}/a/b.bin", b"x" * 1000)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.bin"]


@pytest.mark.parametrize("cloud", ["s3", "gcs", "azure"])
def test_a_missing_bucket_is_named_with_the_fix(cloud: str, emulators: object) -> None:
    scheme = {"s3": "s3", "gcs": "gs", "azure": "az"}[cloud]
    what = "container" if cloud == "azure" else "bucket"
    with pytest.raises(StoreError, match=f"the {what} 'no-such-bucket-9' does not exist"):
        write_bytes(f"{scheme}://no-such-bucket-9/p/x.json", b"1")
    with pytest.raises(StoreError, match="Create it or fix the URL"):
        Store(f"{scheme}://no-such-bucket-9/p").check()


def test_wrong_credentials_name_the_store_and_variable_and_hide_the_secret(
    new_store: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = new_store("azure")
    wrong_key = "V3J vbmcga2V5IGZvciB0aGUgdGVzdA==".replace(" ", "")
    connection = os.environ["AZURE_STORAGE_CONNECTION_STRING"].replace(AZURITE_KEY, wrong_key)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
    with pytest.raises(StoreError) as caught:
        write_bytes(url + "/x.json", b"1")
    message = str(caught.value)
    assert url in message and "refused the credentials" in message
    assert "AZURE_STORAGE_CONNECTION_STRING" in message
    assert wrong_key not in message and AZURITE_KEY not in message


def test_an_unreachable_store_names_the_endpoint_variable(
    emulators: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(StoreError, match=r"s3://some-bucket/p cannot be reached.*AWS_ENDPOINT_URL"):
        read_bytes("s3://some-bucket/p/x.json")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("bucket/x", "Invalid store URL"),
        ("ftp://host/x", "Unknown store scheme 'ftp'"),
        ("s3://AKIA:secret@bucket/x", "carries credentials"),
        ("s3://bucket", "names no object"),
    ],
)
def test_bad_urls_are_usage_errors(url: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem) as caught:
        write_bytes(url, b"")
    assert "secret" not in str(caught.value)
