"""Lazy public names for a package: each loads its module on first use.

``import polyclass`` must stay cheap: the server needs NumPy only, and ``--help``
should not pay for scikit-learn, pandas or SQLAlchemy. A package lists where each
public name lives; ``attach`` returns the module-level ``__getattr__`` and ``__dir__``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def attach(
    package: str, where: Mapping[str, str], public: list[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    where : mapping of str to str
        Public name -> the module defining it (absolute, or relative to ``package``
        when it starts with a dot). A name mapped to ``package + ".x"`` with the same
        last component as the name returns the module itself.
    public : list of str
        The package's ``__all__``, listed by ``dir()``.
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        try:
            module_name = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module = importlib.import_module(module_name, package)
        value = module if module_name.rsplit(".", 1)[-1] == name else getattr(module, name)
        namespace[name] = value  # later look-ups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(public)

    return __getattr__, __dir__
