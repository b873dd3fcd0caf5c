"""Monitoring several regions' prediction logs at once: each region, then all of them.

Every region may have several logs (one per replica). A log's segments have unique
names (time, writer pid, sequence), so the logs of a region, or of every region, are
read as one by linking their segments into a temporary folder with the layout
``read_log`` expects; the logs themselves are only read.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["merged_log", "monitor_regions", "parse_region_logs"]

_KINDS = ("predictions", "feedback")


def parse_region_logs(values: Sequence[str]) -> dict[str, list[Path]]:
    """``NAME=DIR`` options -> region name -> its log folders (in the order given)."""
    regions: dict[str, list[Path]] = {}
    for value in values:
        name, sep, folder = value.partition("=")
        if not sep or not name or not folder:
            raise ValueError(
                f"--region {value!r} must be NAME=LOG_FOLDER (e.g. eu-west=logs/eu-west/0/"
                "logs/penguins); repeat it for each replica's log of each region"
            )
        path = Path(folder)
        if not path.is_dir():
            raise ValueError(f"--region {name}: the log folder {path} does not exist")
        regions.setdefault(name, []).append(path)
    return regions


@contextmanager
def merged_log(folders: Sequence[Path]) -> Iterator[Path]:
    """A temporary log folder whose segments are links to those of ``folders``."""
    with tempfile.TemporaryDirectory(prefix="polyclass-regions-") as tmp:
        root = Path(tmp)
        for kind in _KINDS:
            (root / kind).mkdir()
            for folder in folders:
                source = folder / kind
                if not source.is_dir():
                    continue
                for segment in source.iterdir():
                    target = root / kind / segment.name
                    if segment.name.startswith("part-") and not target.exists():
                        os.symlink(segment.resolve(), target)
        yield root


def monitor_regions(
    regions: dict[str, list[Path]], run: Callable[[Path], Any]
) -> tuple[Any, dict[str, Any]]:
    """``run`` (a monitor call on one log folder) over all regions' logs, then each region's."""
    everything = [folder for folders in regions.values() for folder in folders]
    with merged_log(everything) as folder:
        overall = run(folder)
    per_region = {}
    for name, folders in regions.items():
        with merged_log(folders) as folder:
            per_region[name] = run(folder)
    return overall, per_region
