"""One-hot encoding of one categorical column, with rare and unseen categories."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polyclass.data import DataError, ValueType
from polyclass.preprocess._imputer import most_frequent

__all__ = ["RARE", "OneHotColumn"]

#: Name of the output column that all rare categories of a feature share.
RARE = "__rare__"


@dataclass(frozen=True)
class OneHotColumn:
    """Fitted encoding of one categorical/boolean column.

    ``categories`` are all non-missing values seen in training, sorted; those in
    ``rare`` share the ``__rare__`` output column; ``fill`` is the most frequent
    value, used for missing values. Output columns: the frequent categories in
    order, then ``__rare__`` if any category is rare.
    """

    name: str
    value_type: ValueType
    categories: tuple[Any, ...]
    rare: tuple[Any, ...]
    fill: Any

    @classmethod
    def fit(
        cls,
        name: str,
        value_type: ValueType,
        categories: Sequence[Any],
        counts: NDArray[np.int64],
        n_missing: int,
        min_frequency: int,
    ) -> OneHotColumn:
        """Learn the encoding from distinct values and their counts."""
        if len(categories) == 0:
            raise DataError(
                f"Column {name!r} has no non-missing values to learn categories from. "
                "Drop it (check_data does) or fill it."
            )
        mode = most_frequent(counts)
        counts = counts.copy()
        counts[mode] += n_missing  # imputed first, like SimpleImputer before OneHotEncoder
        rare = tuple(
            c for c, k in zip(categories, counts.tolist(), strict=True) if k < min_frequency
        )
        return cls(
            name=name,
            value_type=value_type,
            categories=tuple(categories),
            rare=rare,
            fill=categories[mode],
        )

    @property
    def kept(self) -> list[Any]:
        """Categories with their own output column."""
        rare = set(self.rare)
        return [c for c in self.categories if c not in rare]

    @property
    def width(self) -> int:
        """Number of output columns."""
        return len(self.kept) + (1 if self.rare else 0)

    def output_names(self) -> list[str]:
        """``'name=value'`` for each output column."""
        return [f"{self.name}={c}" for c in self.kept] + (
            [f"{self.name}={RARE}"] if self.rare else []
        )

    def lookup(self) -> NDArray[np.int64]:
        """Output column of each seen category (rare ones share the last)."""
        rare = set(self.rare)
        n_kept = len(self.categories) - len(rare)
        out = np.empty(len(self.categories), dtype=np.int64)
        j = 0
        for i, c in enumerate(self.categories):
            if c in rare:
                out[i] = n_kept
            else:
                out[i] = j
                j += 1
        return out

    def fill_code(self) -> int:
        """Index of ``fill`` in ``categories``."""
        return self.categories.index(self.fill)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "name": self.name,
            "value_type": self.value_type,
            "categories": list(self.categories),
            "rare": list(self.rare),
            "fill": self.fill,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OneHotColumn:
        """Inverse of :meth:`to_dict`."""
        try:
            col = cls(
                name=str(d["name"]),
                value_type=d["value_type"],
                categories=tuple(d["categories"]),
                rare=tuple(d["rare"]),
                fill=d["fill"],
            )
        except (KeyError, TypeError) as exc:
            raise DataError(f"Malformed one-hot state: missing or wrong entry {exc}.") from None
        if col.fill not in col.categories or not set(col.rare) <= set(col.categories):
            raise DataError(
                f"Malformed one-hot state for {col.name!r}: the fill value and the "
                "rare categories must be among the categories."
            )
        return col
