"""The leaderboard of model families: each family's best candidate, paired with the winner.

Every family was scored in the same folds, so the difference between two families is
measured fold by fold; its interval is a Student t interval over the folds. (Folds share
training rows, so these intervals are somewhat narrow: a guide, not a test.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from polyclass.pipeline._scoring import Scorer
from polyclass.pipeline._search import Skipped
from polyclass.pipeline._tune import CALIBRATION_BINS, CandidateResult, best_result, eligible


def t_interval(
    values: list[float],
    level: float = 0.95,
    bounds: tuple[float, float] = (-np.inf, np.inf),
) -> list[float] | None:
    """The mean's Student t interval over ``values``, clipped to the metric's ``bounds``
    (None for fewer than two values)."""
    if len(values) < 2:
        return None
    a = np.asarray(values, dtype=np.float64)
    half = float(stats.t.ppf(0.5 + level / 2, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a)))
    lo, hi = bounds
    return [float(max(a.mean() - half, lo)), float(min(a.mean() + half, hi))]


def _bounds(scorer: Scorer) -> tuple[float, float]:
    """The range a metric's value lies in (a loss or a cost: from zero up)."""
    if not scorer.greater_is_better:
        return (0.0, np.inf)
    return (-1.0, 1.0) if scorer.name == "mcc" else (0.0, 1.0)


def _merged(result: CandidateResult, key: str) -> list[Any]:
    return [getattr(f, key) for f in result.folds if f is not None and f.error is None]


def _calibration_curve(result: CandidateResult) -> dict[str, Any] | None:
    """Out-of-fold reliability of the top probability: mean confidence and accuracy per bin."""
    parts = [c for c in _merged(result, "calibration") if c is not None]
    if not parts:
        return None
    total = np.sum(parts, axis=0)
    count, confidence, correct = total
    filled = count > 0
    ece = float(np.sum(np.abs(confidence[filled] - correct[filled])) / max(count.sum(), 1))
    return {
        "confidence": (confidence[filled] / count[filled]).tolist(),
        "accuracy": (correct[filled] / count[filled]).tolist(),
        "count": count[filled].astype(int).tolist(),
        "bins": CALIBRATION_BINS,
        "ece": ece,
    }


def _row(result: CandidateResult, n_candidates: int, bounds: tuple[float, float]) -> dict[str, Any]:
    sizes = [s for s in _merged(result, "size_bytes") if s is not None]
    return {
        "family": result.candidate.family,
        "status": "ok",
        "reason": None,
        "best_params": result.candidate.params(),
        "cv_mean": result.mean,
        "cv_std": result.std,
        "cv_interval": t_interval(result.fold_scores, bounds=bounds),
        "n_folds": len(result.fold_scores),
        "fold_scores": result.fold_scores,
        "n_candidates": n_candidates,
        "fit_seconds": float(np.mean(result.fit_seconds)),
        "predict_seconds_per_1000": float(np.mean(_merged(result, "predict_seconds_per_1000"))),
        "size_bytes": sizes[0] if sizes else None,
        "calibration": _calibration_curve(result),
    }


def leaderboard(
    results: list[CandidateResult],
    skipped: list[Skipped],
    scorer: Scorer,
    chosen: CandidateResult,
) -> dict[str, Any]:
    """Each family's best candidate, ranked, with the chosen family and why.

    Returns
    -------
    dict
        ``families`` (rows, best first, skipped families last with their reason),
        ``chosen`` (the family) and ``why`` (one sentence).
    """
    paired = eligible(results)
    rows, reasons = [], {s.family: s.reason for s in skipped}
    for family in dict.fromkeys(r.candidate.family for r in results):
        mine = [r for r in results if r.candidate.family == family]
        pool = [r for r in paired if r.candidate.family == family]
        if not pool:
            reasons[family] = _why_not(mine)
            continue
        row = _row(best_result(pool, scorer), len(mine), _bounds(scorer))
        diff = np.subtract(row["fold_scores"], chosen.fold_scores)
        row["difference"] = float(diff.mean())
        row["difference_interval"] = t_interval(diff.tolist())
        rows.append(row)
    rows.sort(key=lambda r: r["cv_mean"], reverse=scorer.greater_is_better)
    for row in rows:
        row["status"] = "chosen" if row["family"] == chosen.candidate.family else "ok"
    for family, reason in reasons.items():
        rows.append({"family": family, "status": "skipped", "reason": reason})
    return {
        "metric": scorer.name,
        "greater_is_better": scorer.greater_is_better,
        "families": rows,
        "chosen": chosen.candidate.family,
        "why": _why(rows, scorer),
    }


def _why_not(mine: list[CandidateResult]) -> str:
    errors = [r.error for r in mine if r.error]
    if errors and len(errors) == len(mine):
        return f"could not be fitted on the folds: {errors[0]}"
    # the reason of the candidate that went furthest: on the most rows, then folds
    furthest = sorted(mine, key=lambda r: (r.rows, len(r.fold_scores)), reverse=True)
    pruned = [r.pruned for r in furthest if r.pruned]
    return pruned[0] if pruned else "no candidate finished"


def _why(rows: list[dict[str, Any]], scorer: Scorer) -> str:
    """One sentence: the chosen family's score and its lead over the runner-up."""
    scored = [r for r in rows if r["status"] != "skipped"]
    top = scored[0]
    text = (
        f"{top['family']} has the best mean cross-validated {scorer.name} "
        f"({top['cv_mean']:.4f} over {top['n_folds']} folds)"
    )
    if len(scored) == 1:
        return text + "; it was the only family compared."
    runner = scored[1]
    lead = -runner["difference"]
    interval = runner["difference_interval"]
    text += f", {abs(lead):.4f} ahead of {runner['family']} on the same folds"
    if interval is not None:
        lo, hi = sorted(-v for v in interval)
        clear = lo > 0 if scorer.greater_is_better else hi < 0
        text += f" (95% interval of the paired difference {lo:+.4f} to {hi:+.4f}"
        text += ")." if clear else "; the lead is within the folds' noise)."
    else:
        text += "."
    return text
