"""Read CSV and Parquet tables, whole or in chunks."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from polyclass.data._errors import DataError

__all__ = ["SUPPORTED_EXTENSIONS", "iter_table_chunks", "load_table"]

#: Cells per chunk when reading a CSV (rows = this / columns, at least 10,000).
_CSV_CHUNK_CELLS = 5_000_000

#: File name endings understood by :func:`load_table`, mapped to the format.
SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".csv.bz2": "csv",
    ".csv.zip": "csv",
    ".csv.xz": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def _format_of(path: Path) -> str:
    name = path.name.lower()
    # longest ending first so '.csv.gz' wins over '.gz'
    for ending in sorted(SUPPORTED_EXTENSIONS, key=len, reverse=True):
        if name.endswith(ending):
            return SUPPORTED_EXTENSIONS[ending]
    supported = ", ".join(SUPPORTED_EXTENSIONS)
    raise DataError(
        f"Cannot read {str(path)!r}: unknown file type {path.suffix or '(no extension)'!r}. "
        f"Supported endings are {supported}. Rename the file or convert it to CSV or Parquet."
    )


def _check_path(path: str | os.PathLike[str]) -> tuple[Path, str]:
    p = Path(path)
    fmt = _format_of(p)
    if not p.exists():
        raise DataError(
            f"No such file: {str(p)!r} (looked in {str(Path.cwd())!r}). Check the path."
        )
    if p.is_dir():
        raise DataError(f"{str(p)!r} is a directory; give the path of a CSV or Parquet file.")
    return p, fmt


def _unreadable(path: Path, fmt: str, exc: BaseException) -> DataError:
    hint = {
        "csv": "a comma-separated UTF-8 text file with a header row",
        "tsv": "a tab-separated UTF-8 text file with a header row",
        "parquet": "a Parquet file",
    }[fmt]
    detail = (
        str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__
    )
    return DataError(
        f"Could not read {str(path)!r} as {fmt.upper()}: {detail}. "
        f"Check that it is {hint} and not truncated."
    )


def _check_columns(path: Path, available: Sequence[str], wanted: Sequence[str]) -> None:
    missing = [c for c in wanted if c not in set(available)]
    if missing:
        raise DataError(
            f"{str(path)!r} has no column(s) {missing}. Available columns: {list(available)}."
        )


def _csv_kwargs(fmt: str) -> dict[str, Any]:
    return {"sep": "\t"} if fmt == "tsv" else {}


def _csv_header(path: Path, fmt: str) -> list[str]:
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0, **_csv_kwargs(fmt)).columns]
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{str(path)!r} is empty: expected a header row with column names."
        ) from None
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as exc:
        raise _unreadable(path, fmt, exc) from exc


def load_table(
    path: str | os.PathLike[str],
    *,
    columns: Sequence[str] | None = None,
    dtype: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame.

    Parameters
    ----------
    path : str or path-like
        A ``.csv`` (optionally ``.gz``/``.bz2``/``.zip``/``.xz`` compressed),
        ``.tsv``, ``.parquet`` or ``.pq`` file.
    columns : sequence of str, optional
        Read only these columns (all of them by default).
    dtype : mapping, optional
        Column dtypes for CSV input (e.g. ``{"zip": "str"}``); ignored for Parquet,
        which stores its own types. :meth:`Schema.csv_dtypes` gives the mapping
        that reproduces a training table's types.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DataError
        The file does not exist, has an unknown extension (the message lists the
        supported ones), lacks a requested column, or cannot be parsed.

    Examples
    --------
    >>> from polyclass.datasets import penguins_path
    >>> load_table(penguins_path(), columns=["species", "island"]).shape
    (344, 2)
    """
    p, fmt = _check_path(path)
    wanted = list(columns) if columns is not None else None
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pfile = pq.ParquetFile(p)
            names = pfile.schema_arrow.names
            if wanted is not None:
                _check_columns(p, names, wanted)
            # one column at a time: peak memory is the table plus one column, where
            # reading everything at once holds Arrow's and pandas' copies together
            parts = {
                name: pfile.read(columns=[name], use_threads=False).column(0).to_pandas()
                for name in (wanted if wanted is not None else names)
            }
        except DataError:
            raise
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
            raise _unreadable(p, fmt, exc) from exc
        return pd.DataFrame(parts, copy=False)
    header = _csv_header(p, fmt)
    if wanted is not None:
        _check_columns(p, header, wanted)
    # Read in chunks and concatenate: the peak is about twice the table, where one
    # pd.read_csv call peaks at four to five times it.
    rows = max(10_000, _CSV_CHUNK_CELLS // max(1, len(wanted or header)))
    try:
        reader = pd.read_csv(
            p,
            usecols=wanted,
            dtype=dict(dtype) if dtype else None,
            chunksize=rows,
            **_csv_kwargs(fmt),
        )
        with reader:
            chunks = list(reader)
    except pd.errors.EmptyDataError:
        raise DataError(f"{str(p)!r} is empty: expected a header row and data rows.") from None
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as exc:
        raise _unreadable(p, fmt, exc) from exc
    if not chunks:
        empty: pd.DataFrame = pd.read_csv(p, nrows=0, usecols=wanted, **_csv_kwargs(fmt))
        return empty
    frame = chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)
    del chunks
    for name in frame.columns:
        # a text column whose value is empty in a whole chunk comes back as object
        if pd.api.types.is_object_dtype(frame[name].dtype) and (
            pd.api.types.infer_dtype(frame[name], skipna=True) == "string"
        ):
            frame[name] = frame[name].astype("str")
    return frame


def iter_table_chunks(
    path: str | os.PathLike[str],
    chunksize: int = 100_000,
    *,
    columns: Sequence[str] | None = None,
    dtype: Mapping[str, Any] | None = None,
) -> Iterator[pd.DataFrame]:
    """Stream a CSV or Parquet file as DataFrames of at most ``chunksize`` rows.

    Only one chunk is held in memory at a time, so files larger than memory can be
    scored batch by batch. CSV is read with pandas' chunked reader; Parquet with
    pyarrow's batch iterator (row groups are read lazily).

    Parameters
    ----------
    path : str or path-like
        Same formats as :func:`load_table`.
    chunksize : int, default 100_000
        Maximum rows per chunk.
    columns : sequence of str, optional
        Read only these columns.
    dtype : mapping, optional
        Column dtypes for CSV input. Pass :meth:`Schema.csv_dtypes` so that a chunk
        whose text column happens to look numeric (or is all empty) keeps the type
        the model was trained on.

    Yields
    ------
    pandas.DataFrame
        Consecutive chunks; their index continues across chunks for CSV.

    Raises
    ------
    DataError
        As :func:`load_table`, and for a ``chunksize`` below 1.

    Examples
    --------
    >>> from polyclass.datasets import penguins_path
    >>> [len(c) for c in iter_table_chunks(penguins_path(), 200)]
    [200, 144]
    """
    if isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1:
        raise DataError(f"chunksize must be a positive integer. Got {chunksize!r} instead.")
    p, fmt = _check_path(path)
    wanted = list(columns) if columns is not None else None
    if fmt == "parquet":
        yield from _iter_parquet(p, chunksize, wanted)
        return
    header = _csv_header(p, fmt)
    if wanted is not None:
        _check_columns(p, header, wanted)
    try:
        reader = pd.read_csv(
            p,
            usecols=wanted,
            dtype=dict(dtype) if dtype else None,
            chunksize=chunksize,
            **_csv_kwargs(fmt),
        )
        with reader:
            yield from reader
    except pd.errors.EmptyDataError:
        return
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as exc:
        raise _unreadable(p, fmt, exc) from exc


def _iter_parquet(p: Path, chunksize: int, wanted: list[str] | None) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    try:
        pfile = pq.ParquetFile(p)
        if wanted is not None:
            _check_columns(p, pfile.schema_arrow.names, wanted)
        batches = pfile.iter_batches(batch_size=chunksize, columns=wanted)
        for batch in batches:
            yield batch.to_pandas()
    except DataError:
        raise
    except Exception as exc:
        raise _unreadable(p, "parquet", exc) from exc
