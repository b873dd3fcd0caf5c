"""What every model family provides: a search space, an estimator, and a pickle-free form.

A family's :meth:`Family.export` turns a fitted estimator into JSON metadata and plain
arrays; :meth:`Family.predictor` rebuilds, with NumPy alone, an object whose
``predict_proba`` equals the fitted estimator's. Serving and loading use the predictor,
so neither runs code from the artifact nor needs the library that trained the model.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray


class Predictor(Protocol):
    """A stored model rebuilt with NumPy alone."""

    classes: NDArray[Any]
    n_features: int

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Class probabilities, columns in the order of ``classes``."""
        ...

    def predict(self, X: NDArray[np.float64]) -> NDArray[Any]:
        """The fitted estimator's own labels."""
        ...


class Family:
    """One model family: how to search it, build it, store it and predict from it.

    Subclasses set ``name``, ``extra`` and ``requires`` and implement
    :meth:`candidates`, :meth:`build_estimator`, :meth:`export_estimator` and
    :meth:`stored_predictor`; :meth:`build`, :meth:`export` and :meth:`predictor` add
    the out-of-fold calibration any family may ask for.

    Attributes
    ----------
    name : str
        The family's name, as ``polyclass train --families`` spells it.
    extra : str or None
        The pip extra that installs the family's library (``None``: a core dependency).
    requires : tuple of str
        The modules :meth:`build` and :meth:`export` import.
    calibration : {'sigmoid', 'isotonic'} or None
        How :meth:`build` calibrates the family's probabilities unless the parameters
        say otherwise (``None``: the estimator's own probabilities).
    calibratable : bool
        Whether the family accepts a calibration at all.
    scores_only : bool
        The estimator's scores are not probabilities: it is always calibrated.
    blas_threads : bool
        Whether a fit gains from more than one BLAS thread (false: fit with one).
    """

    name: str = ""
    extra: str | None = None
    requires: tuple[str, ...] = ("sklearn",)
    calibration: str | None = None
    calibratable: bool = True
    scores_only: bool = False
    blas_threads: bool = True

    def available(self) -> bool:
        """Whether the family's library is installed.

        Returns
        -------
        bool
        """
        return all(importlib.util.find_spec(module) is not None for module in self.requires)

    def require(self) -> None:
        """Raise a clear error when the family's library is missing.

        Raises
        ------
        ImportError
            Naming the missing module and the extra that installs it.
        """
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                fix = (
                    f"pip install 'polyclass[{self.extra}]'"
                    if self.extra
                    else f"pip install {module}"
                )
                raise ImportError(
                    f"The {self.name!r} model family needs the {module!r} package, which is "
                    f"not installed. Install it with: {fix}"
                )

    def candidates(self, n_rows: int, n_features: int, n_classes: int) -> list[dict[str, Any]]:
        """A small search space for a table of this size, cheaper on big tables.

        Parameters
        ----------
        n_rows, n_features, n_classes : int
            The size of the training table (after preprocessing) and its class count.

        Returns
        -------
        list of dict
            Parameter dicts for :meth:`build`; the first is a sensible default.
        """
        raise NotImplementedError

    def build(self, params: dict[str, Any], *, random_state: int, n_jobs: int = 1) -> Any:
        """An unfitted scikit-learn-compatible estimator for ``params``.

        Parameters
        ----------
        params : dict
            One of :meth:`candidates`. The key ``calibration`` (``'sigmoid'``,
            ``'isotonic'`` or ``None``; default :attr:`calibration`) wraps the estimator
            so that its probabilities are calibrated out-of-fold (see
            :func:`polyclass.families.calibrated`); any family but ``linear`` accepts it.
        random_state : int
            Seed for every random choice the estimator makes.
        n_jobs : int, default=1
            Threads or processes the estimator may use.

        Returns
        -------
        estimator
            With ``fit(X, y)``, ``predict_proba`` and ``classes_``.
        """
        from polyclass.families._calibration import calibrated

        params = dict(params)
        method = params.pop("calibration", self.calibration)
        if method is None and self.scores_only:
            raise ValueError(
                f"The {self.name!r} family's scores are not probabilities; it needs a "
                "calibration: 'sigmoid' or 'isotonic'."
            )
        if method is not None and not self.calibratable:
            raise ValueError(f"The {self.name!r} family's probabilities are not recalibrated.")
        estimator = self.build_estimator(params, random_state=random_state, n_jobs=n_jobs)
        return estimator if method is None else calibrated(estimator, method, n_jobs=n_jobs)

    def export(self, fitted: Any) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        """The fitted estimator as JSON-able metadata and plain arrays (no object dtype).

        Parameters
        ----------
        fitted : estimator
            An estimator :meth:`build` made, fitted, or a predictor :meth:`predictor`
            rebuilt (a loaded model saved again: its stored state, unchanged).

        Returns
        -------
        meta : dict
        arrays : dict of str to ndarray
        """
        from polyclass.families._calibration import export_calibrated, is_calibrated

        again = restored(fitted)
        if again is not None:
            return again
        if is_calibrated(fitted):
            return export_calibrated(fitted, self.export_estimator)
        return self.export_estimator(fitted)

    def predictor(self, meta: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]) -> Predictor:
        """The stored model, checked and rebuilt with NumPy alone.

        Parameters
        ----------
        meta, arrays
            :meth:`export`'s output, possibly read back from disk.

        Returns
        -------
        Predictor
            Whose ``predict_proba`` equals the fitted estimator's.

        Raises
        ------
        ValueError
            Naming the field or array that is missing or malformed.
        """
        from polyclass.families._calibration import calibrated_predictor, is_calibrated_state

        if is_calibrated_state(meta):
            if not self.calibratable:
                raise ValueError(f"a stored {self.name!r} model cannot be calibrated")
            return calibrated_predictor(meta, arrays, self.stored_predictor)
        if self.scores_only:
            raise ValueError(f"a stored {self.name!r} model must be calibrated")
        predictor: Predictor = self.stored_predictor(meta, arrays)
        return predictor

    # --- what a family implements ------------------------------------------------------
    def build_estimator(self, params: dict[str, Any], *, random_state: int, n_jobs: int = 1) -> Any:
        """The family's own unfitted estimator for ``params`` (no calibration key)."""
        raise NotImplementedError

    def export_estimator(self, fitted: Any) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        """The family's own fitted estimator as metadata and arrays."""
        raise NotImplementedError

    def stored_predictor(self, meta: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]) -> Any:
        """The family's own stored estimator rebuilt (a :class:`Predictor`, or for a
        ``scores_only`` family an object with ``decision_function``, ``classes`` and
        ``n_features``)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<model family {self.name!r}>"


def check_header(meta: Mapping[str, Any], form: str, version: int) -> None:
    """Refuse metadata of another format or a newer version than this polyclass reads."""
    if not isinstance(meta, Mapping):
        raise ValueError(f"the {form} metadata is a {type(meta).__name__}, not an object")
    got = (meta.get("format"), meta.get("version"))
    if got != (form, version):
        raise ValueError(
            f"the stored model has format {got[0]!r} version {got[1]!r}; this polyclass "
            f"reads format {form!r} version {version}. Upgrade polyclass to load it"
        )


def stored_array(
    arrays: Mapping[str, NDArray[Any]], name: str, kind: str, ndim: int, *, infinite: bool = False
) -> NDArray[Any]:
    """``arrays[name]``, checked for its dtype kind (``'f'``, ``'i'``, ``'b'``) and ndim.

    Floats must be finite; ``infinite=True`` allows +-inf (never NaN).
    """
    if name not in arrays:
        raise ValueError(f"the stored model has no {name!r} array")
    a = np.asarray(arrays[name])
    if a.dtype.kind != kind or a.ndim != ndim:
        raise ValueError(
            f"the stored {name!r} array is {a.dtype} with {a.ndim} dimensions; expected "
            f"kind {kind!r} with {ndim}"
        )
    if kind == "f" and not np.all(~np.isnan(a) if infinite else np.isfinite(a)):
        raise ValueError(f"the stored {name!r} array holds a value that is not finite")
    return a


def stored_classes(arrays: Mapping[str, NDArray[Any]]) -> NDArray[Any]:
    """The stored class labels: at least two, of a plain dtype."""
    if "classes" not in arrays:
        raise ValueError("the stored model has no 'classes' array")
    classes = np.asarray(arrays["classes"])
    if classes.ndim != 1 or len(classes) < 2 or classes.dtype.kind not in "biufU":
        raise ValueError(
            f"the stored classes are {classes.dtype} of shape {classes.shape}; expected at "
            "least two labels (numbers or strings)"
        )
    return classes


def plain_classes(classes: Any) -> NDArray[Any]:
    """Class labels as an array ``np.save`` writes without pickle (strings as unicode)."""
    a = np.asarray(classes)
    if a.dtype.kind == "O":
        a = a.astype(str)
    return a


def stored_int(meta: Mapping[str, Any], name: str, low: int = 0) -> int:
    """``meta[name]`` as an int of at least ``low``."""
    value = meta.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"the stored {name!r} is {value!r}; expected an integer >= {low}")
    return value


def softmax_rows(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row-wise softmax of ``z`` in place, the arithmetic of scikit-learn's ``softmax``."""
    z -= z.max(axis=1).reshape(-1, 1)
    np.exp(z, out=z)
    z /= z.sum(axis=1).reshape(-1, 1)
    return z


def expit(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """The logistic function ``1 / (1 + exp(-z))``, without overflow warnings."""
    with np.errstate(over="ignore"):
        out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z))
    return out


class StoredPredictor:
    """What every family's predictor shares: ``classes_`` and the state it was built from."""

    classes: NDArray[Any]
    #: The (meta, arrays) the predictor was rebuilt from; a loaded model saves them again.
    stored: tuple[dict[str, Any], dict[str, NDArray[Any]]] | None = None

    @property
    def classes_(self) -> NDArray[Any]:
        """The class labels, as scikit-learn names them."""
        return self.classes

    def keep(self, meta: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]) -> None:
        """Remember the stored state this predictor was rebuilt from."""
        self.stored = (dict(meta), dict(arrays))


def restored(fitted: Any) -> tuple[dict[str, Any], dict[str, NDArray[Any]]] | None:
    """The stored state of a rebuilt predictor (a loaded model saved again), else None."""
    if isinstance(fitted, StoredPredictor) and fitted.stored is not None:
        return fitted.stored
    return None


def dense(X: Any, n_features: int) -> NDArray[np.float64]:
    """``X`` as a dense 2-D float64 array of ``n_features`` columns (sparse is densified)."""
    if hasattr(X, "toarray"):
        X = X.toarray()
    a = np.asarray(X, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != n_features:
        raise ValueError(
            f"X has shape {a.shape}; the model takes rows of {n_features} features "
            "(the preprocessed design matrix)."
        )
    return a
