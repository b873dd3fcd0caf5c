"""How much ``registry import`` extracts at most; light, so the CLI can show the defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImportLimits:
    """Limits on an export archive, checked on its headers before anything is written.

    An archive over a limit is refused before extraction starts; raise a limit only
    for an archive you trust (``polyclass registry import --max-bytes/--max-files``).

    Parameters
    ----------
    max_bytes : int, default 2 GiB
        The most bytes the artifact's files may add up to, as the archive declares them.
    max_files : int, default 100,000
        The most files an archive may hold.
    max_manifest_bytes : int, default 64 MiB
        The largest ``polyclass-export.json`` (the limit ``model.json`` has too).

    Examples
    --------
    >>> ImportLimits(max_bytes=8 << 30).max_files
    100000
    """

    max_bytes: int = 2 << 30
    max_files: int = 100_000
    max_manifest_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_files", "max_manifest_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ImportLimits.{name} must be a positive integer; got {value!r}.")
