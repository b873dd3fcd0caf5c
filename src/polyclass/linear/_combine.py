"""How one-vs-rest and one-vs-one combine binary scores into multiclass outputs.

NumPy only: this module imports nothing else, so a stored model (see
``LinearMulticlassPredictor``) predicts without scikit-learn or SciPy. The fitted
wrappers use the same functions, so a reloaded model predicts identically by
construction.

Pairs are ordered as in scikit-learn: ``(0, 1), (0, 2), ..., (0, K-1), (1, 2), ...``;
for pair ``(i, j)`` with ``i < j`` the binary problem's positive class is ``j``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating[Any]]

#: Pairwise probabilities are kept inside ``[MIN_PROB, 1 - MIN_PROB]`` before coupling,
#: as libsvm does, so that the coupling system stays well conditioned.
MIN_PROB = 1e-7


def pair_indices(n_classes: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """First and second class index of each one-vs-one pair, in scikit-learn's order."""
    first, second = np.triu_indices(n_classes, k=1)
    return first.astype(np.intp), second.astype(np.intp)


def _check_pair_columns(values: npt.NDArray[Any], n_classes: int, name: str) -> None:
    n_pairs = n_classes * (n_classes - 1) // 2
    if values.ndim != 2 or values.shape[1] != n_pairs:
        raise ValueError(
            f"{name} must have shape (n_samples, {n_pairs}) for {n_classes} classes "
            f"(one column per pair of classes); got shape {values.shape}. Pass one "
            "column per pair, in the order (0, 1), (0, 2), ..., (1, 2), ..."
        )


def expit(scores: FloatArray) -> FloatArray:
    """Logistic sigmoid ``1 / (1 + exp(-s))`` without overflow for large ``|s|``."""
    e = np.exp(-np.abs(scores))
    return np.where(scores >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def ovr_normalize(positive_proba: FloatArray) -> FloatArray:
    """One-vs-rest probabilities: each class's positive probability, rows scaled to one.

    With a single binary model (two classes) the columns are ``1 - p`` and ``p``. Rows
    that sum to zero are left as they are, as scikit-learn does.
    """
    proba = np.array(positive_proba, dtype=np.result_type(positive_proba, np.float32))
    if proba.ndim == 1:
        proba = proba[:, np.newaxis]
    if proba.shape[1] == 1:
        proba = np.concatenate((1 - proba, proba), axis=1)
    row_sums = np.sum(proba, axis=1)[:, np.newaxis]
    np.divide(proba, row_sums, out=proba, where=row_sums != 0)
    return proba


def ovo_decision(
    predictions: npt.ArrayLike, confidences: npt.ArrayLike, n_classes: int
) -> FloatArray:
    """One-vs-one decision values: votes plus a confidence tie-breaker.

    For pair ``(i, j)``, a prediction of 0 is a vote for ``i`` and 1 a vote for ``j``;
    the pair's confidence is subtracted from ``i``'s and added to ``j``'s running sum.
    The summed confidence ``s`` enters as ``s / (3 (|s| + 1))``, inside ``(-1/3, 1/3)``,
    so it breaks ties between equal vote counts and never overturns a vote. This is
    scikit-learn's rule, with the sums taken in the same order, so the values agree
    bit for bit.

    Parameters
    ----------
    predictions : array-like of shape (n_samples, n_pairs)
        Each pairwise model's predicted label, 0 (first class) or 1 (second class).
    confidences : array-like of shape (n_samples, n_pairs)
        Each pairwise model's decision value (or probability) for the second class.
    n_classes : int
        Number of classes ``K``; ``n_pairs`` must be ``K (K - 1) / 2``.

    Returns
    -------
    ndarray of shape (n_samples, n_classes)

    Examples
    --------
    >>> ovo_decision([[1, 0, 0]], [[0.5, -2.0, -1.0]], 3).round(3)
    array([[ 1.2 ,  2.2 , -0.25]])
    """
    pred = np.asarray(predictions)
    conf = np.asarray(confidences)
    _check_pair_columns(pred, n_classes, "predictions")
    _check_pair_columns(conf, n_classes, "confidences")
    n_samples = pred.shape[0]
    # (K, n) layout keeps each class's running sum contiguous.
    votes = np.zeros((n_classes, n_samples))
    sums = np.zeros((n_classes, n_samples))
    first, second = pair_indices(n_classes)
    for k, (i, j) in enumerate(zip(first.tolist(), second.tolist(), strict=True)):
        sums[i] -= conf[:, k]
        sums[j] += conf[:, k]
        votes[i] += pred[:, k] == 0
        votes[j] += pred[:, k] == 1
    transformed = sums / (3 * (np.abs(sums) + 1))
    return np.ascontiguousarray((votes + transformed).T)


def pairwise_coupling(
    second_proba: npt.ArrayLike, n_classes: int, *, chunk_size: int = 8192
) -> FloatArray:
    """Class probabilities from pairwise ones (Wu, Lin and Weng 2004, second method).

    With ``r_ij`` the estimate of ``P(y = i | y in {i, j}, x)``, each row's
    probabilities ``p`` minimise ``sum_i sum_{j != i} (r_ji p_i - r_ij p_j)^2`` subject
    to ``sum(p) = 1``. That is the quadratic ``p^T Q p`` with ``Q_ii = sum_{s != i}
    r_si^2`` and ``Q_ij = -r_ji r_ij``, whose optimum solves the bordered linear system
    ``[[Q, 1], [1^T, 0]] [p; b] = [0; 1]`` (so ``Q p = b 1`` with ``b = p^T Q p``). This
    is the method libsvm uses; here the small system is solved exactly for a batch of
    rows at a time. The optimum is non-negative (Wu, Lin and Weng, Theorem 2); round-off
    below zero is clipped and the row renormalised.

    Parameters
    ----------
    second_proba : array-like of shape (n_samples, n_pairs)
        For pair ``(i, j)`` (``i < j``, scikit-learn's order), the estimate of
        ``P(y = j | y in {i, j}, x)``. Values are clipped to ``[1e-7, 1 - 1e-7]`` as in
        libsvm (except with two classes, where the result is exactly ``[1 - r, r]``).
    n_classes : int
        Number of classes ``K``.
    chunk_size : int, default=8192
        Rows solved per batch; bounds the temporary memory to about
        ``chunk_size * (K + 1)^2`` floats.

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
        Rows are non-negative and sum to one.

    Examples
    --------
    >>> pairwise_coupling([[0.5, 0.5, 0.5]], 3).round(6)
    array([[0.333333, 0.333333, 0.333333]])
    """
    r = np.asarray(second_proba, dtype=np.float64)
    _check_pair_columns(r, n_classes, "second_proba")
    n_samples = r.shape[0]
    if n_classes == 2:
        return np.column_stack((1 - r[:, 0], r[:, 0]))
    first, second = pair_indices(n_classes)
    # Q_cc sums r_sc^2 over the pairs c is in: r_j^2 where c is first, r_i^2 where second.
    pair_columns = [(first == c, second == c) for c in range(n_classes)]
    size = n_classes + 1
    # Flat positions of the entries of each row's (K + 1) x (K + 1) system. No BLAS here:
    # tiny matrix products on busy cores cost more than these sums.
    diagonal = np.arange(n_classes) * (size + 1)
    upper = first * size + second
    lower = second * size + first
    border = np.concatenate(
        (n_classes * size + np.arange(n_classes), np.arange(n_classes) * size + n_classes)
    )
    chunk = max(1, min(chunk_size, n_samples))
    buffer = np.zeros((chunk, size * size))  # every entry but the corner is rewritten
    rhs = np.zeros((size, 1))
    rhs[n_classes] = 1.0
    out = np.empty((n_samples, n_classes))
    for start in range(0, n_samples, chunk):
        r_j = np.clip(r[start : start + chunk], MIN_PROB, 1 - MIN_PROB)  # r_ji
        r_i = 1 - r_j  # r_ij
        n_rows = r_j.shape[0]
        flat = buffer[:n_rows]
        r_j2 = r_j * r_j
        r_i2 = r_i * r_i
        for c, (as_first, as_second) in enumerate(pair_columns):
            flat[:, diagonal[c]] = r_j2[:, as_first].sum(axis=1) + r_i2[:, as_second].sum(axis=1)
        off_diagonal = -r_i * r_j
        flat[:, upper] = off_diagonal
        flat[:, lower] = off_diagonal
        flat[:, border] = 1.0
        system = flat.reshape(n_rows, size, size)
        try:
            solution = np.linalg.solve(system, np.broadcast_to(rhs, (n_rows, size, 1)))
        except np.linalg.LinAlgError:
            solution = np.linalg.pinv(system) @ rhs
        p = np.maximum(solution[:, :n_classes, 0], 0.0)
        p /= p.sum(axis=1, keepdims=True)
        out[start : start + n_rows] = p
    return out


STRATEGIES = ("ovr", "ovo")


class LinearMulticlassPredictor:
    """Predictions of a one-vs-rest or one-vs-one model of stacked linear scores.

    ``scores = X @ coef + intercept`` is one matrix product, one column per binary
    model; the strategy's rule turns the columns into classes and probabilities. This
    is what a fitted polyclass wrapper of ``LogisticRegression`` predicts with, and what
    a stored one is rebuilt from (NumPy only).

    Parameters
    ----------
    strategy : {"ovr", "ovo"}
    coef : ndarray of shape (n_features, n_models)
    intercept : ndarray of shape (n_models,)
    classes : ndarray of shape (n_classes,)

    Examples
    --------
    >>> import numpy as np
    >>> p = LinearMulticlassPredictor("ovr", np.eye(3), np.zeros(3), np.array(["a", "b", "c"]))
    >>> p.predict(np.array([[0.0, 2.0, 1.0]]))
    array(['b'], dtype='<U1')
    """

    def __init__(
        self,
        strategy: str,
        coef: npt.NDArray[Any],
        intercept: npt.NDArray[Any],
        classes: npt.NDArray[Any],
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be 'ovr' or 'ovo'; got {strategy!r}.")
        n_classes = len(classes)
        if n_classes < 2:
            raise ValueError(f"classes must hold at least 2 labels; got {n_classes}.")
        if strategy == "ovr":
            n_models = 1 if n_classes == 2 else n_classes
        else:
            n_models = n_classes * (n_classes - 1) // 2
        if coef.ndim != 2 or coef.shape[1] != n_models or intercept.shape != (n_models,):
            raise ValueError(
                f"A {strategy} model of {n_classes} classes needs coef of shape "
                f"(n_features, {n_models}) and intercept of shape ({n_models},); got "
                f"{coef.shape} and {intercept.shape}."
            )
        self.strategy = strategy
        self.coef = coef
        self.intercept = intercept
        self.classes = classes

    @property
    def n_features(self) -> int:
        """Number of input columns the coefficients expect."""
        return int(self.coef.shape[0])

    def scores(self, X: Any) -> FloatArray:
        """Every binary model's decision value: ``X @ coef + intercept``.

        Parameters
        ----------
        X : ndarray or scipy.sparse matrix of shape (n_samples, n_features)
            Rows preprocessed as at fit time.

        Returns
        -------
        ndarray of shape (n_samples, n_models)

        Raises
        ------
        ValueError
            X is not 2-D with ``n_features`` columns.
        """
        if getattr(X, "ndim", None) != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"X must be 2-D with {self.n_features} features (columns), as at fit "
                f"time; got shape {getattr(X, 'shape', None)}."
            )
        scores = np.asarray(X @ self.coef)
        scores += self.intercept
        return scores

    def decision_function(self, X: Any) -> FloatArray:
        """Per-class decision values; 1-D with two classes, as scikit-learn's.

        Parameters
        ----------
        X : ndarray or scipy.sparse matrix of shape (n_samples, n_features)
            Rows preprocessed as at fit time.

        Returns
        -------
        ndarray of shape (n_samples, n_classes) or (n_samples,)
        """
        scores = self.scores(X)
        n_classes = len(self.classes)
        if self.strategy == "ovr":
            return scores[:, 0] if n_classes == 2 else scores
        decision = ovo_decision(scores > 0, scores, n_classes)
        return decision[:, 1] if n_classes == 2 else decision

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """Class labels: the largest decision value (above zero with two classes).

        Parameters
        ----------
        X : ndarray or scipy.sparse matrix of shape (n_samples, n_features)
            Rows preprocessed as at fit time.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes``.
        """
        decision = self.decision_function(X)
        if decision.ndim == 1:
            return self.classes.take((decision > 0).astype(int))
        best: npt.NDArray[np.intp] = decision.argmax(axis=1)
        return self.classes.take(best)

    def predict_proba(self, X: Any) -> FloatArray:
        """Probabilities: normalised sigmoids (ovr) or pairwise coupling (ovo).

        Parameters
        ----------
        X : ndarray or scipy.sparse matrix of shape (n_samples, n_features)
            Rows preprocessed as at fit time.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows sum to one; columns in the order of ``classes``.
        """
        scores = self.scores(X)
        if self.strategy == "ovr":
            return ovr_normalize(expit(scores))
        return pairwise_coupling(expit(scores), len(self.classes))
