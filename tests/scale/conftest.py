"""A real LocalCluster (two worker processes, one thread each) shared by the scale tests,
and Parquet parts of a small multiclass table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _scale_data import make_table, write_parts

pytest.importorskip("distributed")


@pytest.fixture(scope="session")
def client() -> Iterator[Any]:
    from polyclass.scale import connect

    with connect("local", n_workers=2) as c:
        yield c


@pytest.fixture(scope="session")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    """The table (sorted by label so 'dog' lives only in the last parts) and its parts."""
    df = make_table().sort_values("label", kind="stable").reset_index(drop=True)
    folder = tmp_path_factory.mktemp("scale-parts")
    write_parts(df, folder, 5)
    return df, folder
