"""Small real datasets shipped with polyclass.

``penguins.csv`` is the Palmer penguins table (Horst, Hill & Gorman; data from
Dr. Kristen Gorman and Palmer Station LTER; CC0). See ``LICENSE-penguins.txt``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_penguins", "penguins_path"]


def penguins_path() -> Path:
    """Return the path of the bundled Palmer penguins CSV.

    Returns
    -------
    pathlib.Path
        ``.../polyclass/datasets/penguins.csv`` (344 rows, 8 columns, target
        ``species``; missing values are empty fields).

    Examples
    --------
    >>> penguins_path().name
    'penguins.csv'
    """
    return Path(str(resources.files(__name__).joinpath("penguins.csv")))


def load_penguins() -> pd.DataFrame:
    """Load the bundled Palmer penguins table as a DataFrame.

    Returns
    -------
    pandas.DataFrame
        344 rows; columns ``species`` (the usual target: Adelie, Chinstrap,
        Gentoo), ``island``, ``bill_length_mm``, ``bill_depth_mm``,
        ``flipper_length_mm``, ``body_mass_g``, ``sex``, ``year``. Missing
        values are kept as NaN.

    Examples
    --------
    >>> df = load_penguins()
    >>> df.shape
    (344, 8)
    >>> sorted(df["species"].unique())
    ['Adelie', 'Chinstrap', 'Gentoo']
    """
    from polyclass.data import load_table

    return load_table(penguins_path())
