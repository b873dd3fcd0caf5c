"""Monitoring options: drift methods and thresholds per column, performance and alerts.

Options come from keyword arguments or a ``monitor.toml`` file (top level or a
``[monitor]`` table; unknown keys are refused)::

    method = "auto"          # default drift method of every column
    alpha = 0.05             # level of the ks / chisquare tests (drift when p < alpha)
    small_sample = 1000      # 'auto': tests up to this many current values, distances above
    drift_share = 0.5        # dataset drift when at least this share of columns drifted
    drift_alert = "important"  # when drift alerts: "important" (a drifted column is one
                             # of the model's `important_features` most important, or
                             # the dataset drifted), "any" (any column drifted), "share"
                             # (only dataset drift)
    important_features = 5   # how many of the most important columns "important" watches
    window = "1h"

    [thresholds]             # distances: drift when the value is at least this
    psi = 0.2
    jensenshannon = 0.1
    wasserstein = 0.1        # divided by the reference standard deviation

    [columns.body_mass_g]    # per column: method, threshold, enabled
    method = "psi"
    threshold = 0.1

    [columns.year]
    enabled = false

    [performance]
    metric = "accuracy"      # accuracy, balanced_accuracy, f1_macro, f1_weighted,
                             # precision_macro, recall_macro; default: the metric the
                             # model was trained for (accuracy when it is not one of these)
    min_value = 0.9          # default: the model's test value minus tolerance
    tolerance = 0.05
    min_labels = 100         # fewer labelled rows than this: no performance alert

    [alerts]
    retrain_command = "polyclass train fresh.csv --target species --name penguins"
    command = "notify-send polyclass"   # run when an alert fires
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

#: Drift methods: 'auto' picks a test for small samples and a distance for large ones.
METHODS = ("auto", "ks", "chisquare", "psi", "jensenshannon", "wasserstein")
#: p-value tests: drift when p < threshold.
TESTS = ("ks", "chisquare")
#: When drift raises an alert (see the module docstring).
DRIFT_ALERTS = ("important", "any", "share")
#: Each ``drift_alert`` rule in words, for the report's feature-drift verdict.
DRIFT_ALERT_RULES = {
    "important": "a drifted feature among the most important ones, or dataset drift",
    "any": "any drifted feature",
    "share": "dataset drift only",
}
#: Default thresholds: p-value level for the tests, minimum distance for the others.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "psi": 0.2,
    "jensenshannon": 0.1,
    "wasserstein": 0.1,
}
PERFORMANCE_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "f1_weighted",
    "precision_macro",
    "recall_macro",
)


@dataclass(frozen=True)
class ColumnRule:
    """How one column is judged: its drift method, threshold, and whether it is checked."""

    method: str = "auto"
    threshold: float | None = None
    enabled: bool = True


@dataclass
class MonitorConfig:
    """All monitoring options, validated; see the module docstring for their meaning.

    Examples
    --------
    >>> cfg = MonitorConfig(columns={"age": ColumnRule(method="psi", threshold=0.1)})
    >>> cfg.rule("age"), cfg.rule("income")
    (('psi', 0.1), ('auto', None))
    """

    method: str = "auto"
    alpha: float = 0.05
    small_sample: int = 1000
    drift_share: float = 0.5
    drift_alert: str = "important"
    important_features: int = 5
    window: str = "1h"
    thresholds: dict[str, float] = field(default_factory=dict)
    columns: dict[str, ColumnRule] = field(default_factory=dict)
    performance_metric: str | None = None
    performance_min: float | None = None
    performance_tolerance: float = 0.05
    min_labels: int = 100
    retrain_command: str | None = None
    alert_command: str | None = None

    def __post_init__(self) -> None:
        _check_method("method", self.method)
        _check_fraction("alpha", self.alpha)
        _check_fraction("drift_share", self.drift_share, closed=True)
        if not isinstance(self.small_sample, int) or self.small_sample < 0:
            raise ValueError(
                f"monitor option small_sample must be a non-negative integer, got "
                f"{self.small_sample!r}."
            )
        for name, value in self.thresholds.items():
            if name not in DEFAULT_THRESHOLDS:
                raise ValueError(
                    f"Unknown drift method {name!r} in [thresholds]; use one of "
                    f"{sorted(DEFAULT_THRESHOLDS)}."
                )
            _check_threshold(f"thresholds.{name}", name, value)
        for col, rule in self.columns.items():
            _check_method(f"columns.{col}.method", rule.method)
            if rule.threshold is not None and rule.method == "auto":
                raise ValueError(
                    f"columns.{col} sets a threshold but no method; 'auto' chooses its own. "
                    "Add method = 'ks', 'chisquare', 'psi', 'jensenshannon' or 'wasserstein'."
                )
            if rule.threshold is not None:
                _check_threshold(f"columns.{col}.threshold", rule.method, rule.threshold)
        if self.drift_alert not in DRIFT_ALERTS:
            raise ValueError(
                f"monitor option drift_alert must be one of {list(DRIFT_ALERTS)}, got "
                f"{self.drift_alert!r}."
            )
        if (
            not isinstance(self.important_features, int)
            or isinstance(self.important_features, bool)
            or self.important_features < 1
        ):
            raise ValueError(
                "monitor option important_features must be a whole number >= 1, got "
                f"{self.important_features!r}."
            )
        if (
            self.performance_metric is not None
            and self.performance_metric not in PERFORMANCE_METRICS
        ):
            raise ValueError(
                f"performance.metric must be one of {list(PERFORMANCE_METRICS)}, got "
                f"{self.performance_metric!r}."
            )
        if self.performance_min is not None:
            _check_fraction("performance.min_value", self.performance_min, closed=True)
        if self.min_labels < 0:
            raise ValueError(f"performance.min_labels must be >= 0, got {self.min_labels}.")

    def metric_for(self, model_metric: str | None) -> str:
        """The live metric: the configured one, else the model's own when labels alone
        give it (``f1`` is a binary model's F1 of its positive class), else accuracy."""
        if self.performance_metric is not None:
            return self.performance_metric
        if model_metric in PERFORMANCE_METRICS or model_metric == "f1":
            return model_metric
        return "accuracy"

    def threshold(self, method: str) -> float:
        """The threshold of ``method`` (``'auto'`` resolves per column, not here)."""
        if method == "auto":
            raise ValueError("threshold('auto') is undefined: 'auto' picks a method per column.")
        if method in TESTS:
            return self.thresholds.get(method, self.alpha)
        return self.thresholds.get(method, DEFAULT_THRESHOLDS[method])

    def rule(self, column: str) -> tuple[str, float | None]:
        """(method, explicit threshold or None) for ``column``."""
        r = self.columns.get(column)
        if r is None:
            return self.method, None
        return r.method, r.threshold

    def enabled(self, column: str) -> bool:
        """Whether ``column`` is checked for drift."""
        r = self.columns.get(column)
        return True if r is None else r.enabled

    def with_options(self, **options: Any) -> MonitorConfig:
        """A copy with the given options replaced (None values are ignored)."""
        return replace(self, **{k: v for k, v in options.items() if v is not None})

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, source: str = "options") -> MonitorConfig:
        """Build from a TOML-shaped dict; unknown keys raise ValueError naming them."""
        doc = dict(doc.get("monitor", doc))
        top = {f.name for f in fields(cls)} - {
            "performance_metric",
            "performance_min",
            "performance_tolerance",
            "min_labels",
            "retrain_command",
            "alert_command",
            "columns",
        }
        kwargs: dict[str, Any] = {}
        for key, value in doc.items():
            if key in top:
                kwargs[key] = dict(value) if key == "thresholds" else value
            elif key == "columns":
                kwargs["columns"] = {
                    str(col): _column_rule(str(col), spec, source) for col, spec in value.items()
                }
            elif key == "performance":
                perf = dict(value)
                _refuse_unknown(
                    perf,
                    {"metric", "min_value", "tolerance", "min_labels"},
                    "[performance]",
                    source,
                )
                for k, attr in (
                    ("metric", "performance_metric"),
                    ("min_value", "performance_min"),
                    ("tolerance", "performance_tolerance"),
                    ("min_labels", "min_labels"),
                ):
                    if k in perf:
                        kwargs[attr] = perf[k]
            elif key == "alerts":
                alerts = dict(value)
                _refuse_unknown(alerts, {"retrain_command", "command"}, "[alerts]", source)
                if "retrain_command" in alerts:
                    kwargs["retrain_command"] = str(alerts["retrain_command"])
                if "command" in alerts:
                    kwargs["alert_command"] = str(alerts["command"])
            else:
                raise ValueError(
                    f"Unknown monitor option {key!r} in {source}. Known: "
                    f"{sorted([*top, 'columns', 'performance', 'alerts'])}."
                )
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | Path) -> MonitorConfig:
        """Read a ``monitor.toml`` file."""
        p = Path(path)
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"Monitor config {p} does not exist; check the path.") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"Monitor config {p} is not valid TOML: {exc}.") from None
        return cls.from_dict(doc, source=str(p))


def _column_rule(column: str, spec: Any, source: str) -> ColumnRule:
    if not isinstance(spec, Mapping):
        raise ValueError(f"[columns.{column}] in {source} must be a table, got {spec!r}.")
    _refuse_unknown(spec, {"method", "threshold", "enabled"}, f"[columns.{column}]", source)
    threshold = spec.get("threshold")
    return ColumnRule(
        method=str(spec.get("method", "auto")),
        threshold=None if threshold is None else float(threshold),
        enabled=bool(spec.get("enabled", True)),
    )


def _refuse_unknown(d: Mapping[str, Any], known: set[str], where: str, source: str) -> None:
    extra = sorted(set(d) - known)
    if extra:
        raise ValueError(
            f"Unknown key(s) {extra} in {where} of {source}; known keys: {sorted(known)}."
        )


def _check_method(what: str, method: Any) -> None:
    if method not in METHODS:
        raise ValueError(f"{what} must be one of {list(METHODS)}, got {method!r}.")


def _check_fraction(what: str, v: Any, *, closed: bool = False) -> None:
    ok = isinstance(v, int | float) and not isinstance(v, bool)
    if ok:
        ok = 0 <= v <= 1 if closed else 0 < v < 1
    if not ok:
        span = "[0, 1]" if closed else "(0, 1)"
        raise ValueError(f"monitor option {what} must be a number in {span}, got {v!r}.")


def _check_threshold(what: str, method: str, v: Any) -> None:
    if method in TESTS or method == "auto":
        _check_fraction(what, v)
    elif not (isinstance(v, int | float) and not isinstance(v, bool) and v >= 0):
        raise ValueError(f"monitor option {what} must be a non-negative number, got {v!r}.")
