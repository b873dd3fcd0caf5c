"""The model families polyclass knows, by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from polyclass.families._boosting import BoostingFamily
from polyclass.families._family import Family
from polyclass.families._forest import ForestFamily
from polyclass.families._linear import LinearFamily
from polyclass.families._mlp import MLPFamily
from polyclass.families._svm import SVMFamily

#: Every family polyclass can train, store and serve, by name.
FAMILIES: Mapping[str, Family] = MappingProxyType(
    {
        f.name: f
        for f in (LinearFamily(), BoostingFamily(), ForestFamily(), SVMFamily(), MLPFamily())
    }
)


def get_family(name: str) -> Family:
    """The family called ``name``.

    Parameters
    ----------
    name : str
        One of :data:`FAMILIES`' keys.

    Returns
    -------
    Family

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.

    Examples
    --------
    >>> get_family("forest")
    <model family 'forest'>
    >>> get_family("svm2")
    Traceback (most recent call last):
    ...
    ValueError: Unknown model family 'svm2'; polyclass knows linear, boosting, forest, svm, mlp.
    """
    family = FAMILIES.get(name) if isinstance(name, str) else None
    if family is None:
        raise ValueError(f"Unknown model family {name!r}; polyclass knows {', '.join(FAMILIES)}.")
    return family
