"""The Parquet files of a distributed table: found (file, directory, glob; local or in a
store through fsspec) and checked to agree on their columns and types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from polyclass.scale._errors import ScaleError


@dataclass(frozen=True)
class Parts:
    """The files of one table, in a stable (sorted) order, and their shared schema."""

    files: tuple[str, ...]
    columns: tuple[str, ...]
    types: tuple[str, ...]
    rows: tuple[int, ...]
    storage_options: dict[str, Any]

    @property
    def n_rows(self) -> int:
        return sum(self.rows)


def _filesystem(path: str, storage_options: dict[str, Any]) -> tuple[Any, str]:
    import fsspec

    fs, root = fsspec.core.url_to_fs(path, **storage_options)
    return fs, root


def _url(fs: Any, path: str) -> str:
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple | list) else fs.protocol
    return path if protocol in ("file", "local") else f"{protocol}://{path}"


def find_files(path: str, storage_options: dict[str, Any] | None = None) -> list[str]:
    """The Parquet files ``path`` names: itself, the ``*.parquet`` files under a directory
    (recursively, partitioned layouts included), or those a glob matches; sorted."""
    options = dict(storage_options or {})
    fs, root = _filesystem(path, options)
    if any(ch in root for ch in "*?["):
        found = sorted(fs.glob(root))
    elif fs.isdir(root):
        found = sorted(p for p in fs.find(root) if p.endswith((".parquet", ".parq", ".pq")))
    elif fs.exists(root):
        found = [root]
    else:
        raise ScaleError(f"No such file or directory: {path!r}. Check the path or URL.")
    found = [p for p in found if not fs.isdir(p)]
    if not found:
        raise ScaleError(
            f"{path!r} holds no Parquet files (*.parquet). Point DATA at a Parquet file, "
            "a directory of them or a glob."
        )
    return [_url(fs, p) for p in found]


def read_footer(url: str, storage_options: dict[str, Any]) -> tuple[list[str], list[str], int]:
    """Column names, Arrow types (as text) and row count from one file's footer (runs on a
    worker; reads no data pages)."""
    import pyarrow.parquet as pq

    fs, root = _filesystem(url, storage_options)
    try:
        with fs.open(root, "rb") as handle:
            meta = pq.ParquetFile(handle).metadata
            schema = meta.schema.to_arrow_schema()
    except Exception as exc:  # a corrupt or non-Parquet file: name it
        raise ScaleError(
            f"Cannot read {url!r} as Parquet ({type(exc).__name__}: {exc}). Remove or "
            "replace the file."
        ) from None
    return list(schema.names), [str(t) for t in schema.types], int(meta.num_rows)


def _comparable(arrow_type: str) -> str:
    # dictionary-encoded and large strings hold the same values as plain strings
    if arrow_type.startswith("dictionary<values=string"):
        return "string"
    return {"large_string": "string"}.get(arrow_type, arrow_type)


def check_schemas(
    files: Sequence[str], footers: Sequence[tuple[list[str], list[str], int]]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The shared columns and types, or a ScaleError naming the first file and column
    that differ from the first file."""
    names, types, _ = footers[0]
    first = dict(zip(names, (_comparable(t) for t in types), strict=True))
    for url, (other_names, other_types, _) in zip(files[1:], footers[1:], strict=True):
        other = dict(zip(other_names, (_comparable(t) for t in other_types), strict=True))
        missing = [c for c in first if c not in other]
        extra = [c for c in other if c not in first]
        if missing or extra:
            column = (missing or extra)[0]
            where = "lacks" if missing else "has the extra"
            raise ScaleError(
                f"The Parquet files disagree on their columns: {url!r} {where} column "
                f"{column!r} (compared with {files[0]!r}). Give every file the same columns."
            )
        for column, kind in first.items():
            if other[column] != kind and not _widening(kind, other[column]):
                raise ScaleError(
                    f"Column {column!r} has type {other[column]} in {url!r} but {kind} in "
                    f"{files[0]!r}. Write every partition with the same type for it."
                )
    return tuple(names), tuple(types)


def _widening(a: str, b: str) -> bool:
    """Integer and float widths of one family read as the same column (pandas widens)."""
    family = {"int": "number", "uint": "number", "float": "number", "double": "number"}
    strip = [k for k in family if a.startswith(k)], [k for k in family if b.startswith(k)]
    return bool(strip[0] and strip[1])


def discover(client: Any, path: str, storage_options: dict[str, Any] | None = None) -> Parts:
    """Find ``path``'s files and read their footers in parallel on the cluster."""
    options = dict(storage_options or {})
    files = find_files(path, options)
    futures = client.map(read_footer, files, storage_options=options, pure=False)
    footers = client.gather(futures)
    columns, types = check_schemas(files, footers)
    return Parts(
        files=tuple(files),
        columns=columns,
        types=types,
        rows=tuple(int(f[2]) for f in footers),
        storage_options=options,
    )
