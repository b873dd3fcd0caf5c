"""``write_report``: the HTML report and ``metrics.json``, written atomically."""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from polyclass._json import to_jsonable
from polyclass._version import __version__
from polyclass.report._data import data_section
from polyclass.report._html import fmt, metric_name
from polyclass.report._leaderboard import leaderboard_section, partial_dependence_section
from polyclass.report._page import page
from polyclass.report._plots import esc
from polyclass.report._results import evaluation_section, explain_section
from polyclass.report._sections import (
    headline,
    model_section,
    problem_section,
    set_label,
    strategies_section,
    summary_section,
    threshold_section,
    threshold_value,
    warnings_section,
)

METRICS_FORMAT = "polyclass.metrics/1"

TOC = (
    ("summary", "Summary"),
    ("problem", "Problem"),
    ("data", "Data"),
    ("warnings", "Data warnings"),
    ("families", "Model families"),
    ("strategies", "Strategies"),
    ("validation", "Validation"),
    ("threshold", "Operating point"),
    ("test", "Test"),
    ("explain", "What the model relies on"),
    ("dependence", "Partial dependence"),
    ("model", "Model and run"),
)

KNOWN_KEYS = (
    "title",
    "scored",
    "problem",
    "data",
    "warnings",
    "leaderboard",
    "strategies",
    "validation",
    "threshold",
    "test",
    "coefficients",
    "importance",
    "partial_dependence",
    "refit",
    "model",
    "timings",
    "generated_at",
    "split",
)


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush to disk, then rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is meant to be read
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def render_html(context: Mapping[str, Any]) -> str:
    """The report page for ``context`` (see :func:`write_report` for its keys)."""
    problem = _mapping(context.get("problem"))
    target = problem.get("target")
    model = _mapping(context.get("model"))
    title = str(context.get("title") or (f"Predicting {target}" if target else "Model report"))
    heading = (
        esc(title)
        if context.get("title") or not target
        else (f"Predicting <code>{esc(target)}</code>")
    )
    key, entry, set_name = headline(context)
    meta = []
    if model.get("name"):
        version = model.get("version")
        meta.append(f"model {model['name']}" + (f" v{version}" if version is not None else ""))
    if entry is not None:
        meta.append(
            f"{metric_name(key)} {fmt(entry.get('value'))} on {set_label(context, set_name)}"
        )
    meta.append(f"generated {context.get('generated_at') or _now()}")
    meta.append(f"polyclass {__version__}")
    threshold = threshold_value(context.get("threshold"))
    scored = _mapping(context.get("scored"))
    has = context.get
    sections = [
        (True, summary_section(context)),
        (has("problem") is not None, problem_section(context.get("problem"))),
        (has("data") is not None, data_section(context.get("data"))),
        (has("warnings") is not None, warnings_section(context.get("warnings"))),
        (
            has("leaderboard") is not None,
            leaderboard_section(context.get("leaderboard"), context.get("refit")),
        ),
        (has("strategies") is not None, strategies_section(context.get("strategies"))),
        (
            has("validation") is not None,
            evaluation_section(
                context.get("validation"),
                section_id="validation",
                title="Validation",
                lede="Held-out validation rows, used to pick the strategy's operating point.",
                threshold=threshold,
                collapse_curves=True,
            ),
        ),
        (True, threshold_section(context.get("threshold"), _classes(context))),
        (
            True,
            evaluation_section(
                context.get("test"),
                section_id="test",
                title=str(scored.get("title") or "Test"),
                lede=str(
                    scored.get("lede") or "The held-out test set, scored once after the final fit."
                ),
                threshold=threshold,
            ),
        ),
        (
            has("coefficients") is not None or has("importance") is not None,
            explain_section(context.get("coefficients"), context.get("importance")),
        ),
        (
            has("partial_dependence") is not None,
            partial_dependence_section(context.get("partial_dependence")),
        ),
        (
            has("model") is not None or has("timings") is not None,
            model_section(context.get("model"), context.get("timings"), context.get("split")),
        ),
    ]
    # A section the context says nothing about is left out, not shown empty.
    body = "".join(html for shown, html in sections if shown)
    toc = [
        (i, str(scored.get("title") or t) if i == "test" else t)
        for i, t in TOC
        if f'id="{i}"' in body
    ]
    footer = (
        f"Generated by polyclass {esc(__version__)}. This file is self-contained: it loads "
        "nothing from the network. The same numbers are in <code>metrics.json</code>."
    )
    return page(title=title, heading=heading, meta=meta, toc=toc, body=body, footer=footer)


def _classes(context: Mapping[str, Any]) -> list[Any]:
    """The class labels, from the problem or else from an evaluation."""
    for key in ("problem", "test", "validation"):
        classes = _mapping(context.get(key)).get("classes")
        if isinstance(classes, list) and classes:
            return classes
    return []


def _mapping(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_report(out_dir: str | os.PathLike[str], context: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write ``report.html`` and ``metrics.json`` into ``out_dir``, each atomically.

    The HTML is one self-contained page (inline CSS and SVG; no scripts, fonts or
    network references) that opens offline. ``metrics.json`` holds the same context as
    plain JSON for machines. Each file is written under a temporary name and renamed,
    so a reader never sees half a file. Every key is optional: a missing one makes its
    section say so.

    Parameters
    ----------
    out_dir : str or PathLike
        Directory to write into (created if needed).
    context : mapping
        What the run found. Keys:

        ``title`` : str
            Page title (default ``"Predicting <target>"``).
        ``problem`` : dict
            ``target``, ``task``, ``classes``, ``positive_class``, ``costs``,
            ``metric`` (a key of ``evaluate``'s ``metrics``, e.g. ``"f1_macro"``;
            it is the headline) and ``metric_reasons`` (list of str).
        ``data`` : dict
            What ``polyclass.data.explore`` returns: ``n_rows``, ``n_columns``,
            ``class_balance``, ``missing``, ``column_kinds``, ``features``,
            ``correlations``; other keys are shown generically.
        ``warnings`` : list of dict
            Data warnings, each ``column``, ``code``, ``message`` (and optionally
            ``severity``: warning, error or info).
        ``strategies`` : dict
            ``summary``: one row per strategy with ``strategy``, ``cv_mean``,
            ``cv_std``, ``fit_seconds``, ``best_params`` (and ``selected``);
            ``candidates``: every candidate's row; ``chosen``, ``metric``,
            ``n_splits``.
        ``leaderboard`` : dict
            The model families compared: ``families`` (rows with ``family``,
            ``status`` chosen/ok/skipped, ``reason``, ``cv_mean``, ``cv_interval``,
            ``difference`` to the chosen one and its interval, ``fit_seconds``,
            ``predict_seconds_per_1000``, ``size_bytes``, ``calibration``),
            ``chosen``, ``why``, ``metric`` and ``search``.
        ``validation``, ``test`` : dict
            Each the output of :func:`polyclass.evaluation.evaluate`.
        ``threshold`` : dict
            The chosen operating point: ``threshold`` (binary cut-off on
            P(positive)) or a decision rule, with ``description``.
        ``coefficients`` : dict
            :func:`polyclass.evaluation.coefficient_table` output.
        ``importance`` : dict
            :func:`polyclass.evaluation.permutation_importance` output.
        ``partial_dependence`` : dict
            :func:`polyclass.evaluation.partial_dependence` output.
        ``refit`` : dict
            When the saved model was refitted on every row: ``rows`` and ``note``.
        ``model`` : dict
            ``name``, ``version``, ``artifact_path``, ``fingerprint`` and anything
            else worth recording.
        ``timings`` : dict
            Step name -> seconds.
        ``split`` : dict
            Rows per part, e.g. ``{"train": 206, "validation": 69, "test": 69}``.
        ``generated_at`` : str
            Timestamp shown in the header (default: now, UTC).

    Returns
    -------
    (Path, Path)
        Paths of ``report.html`` and ``metrics.json``.

    Examples
    --------
    >>> import tempfile
    >>> html_path, json_path = write_report(tempfile.mkdtemp(), {"problem": {"target": "y"}})
    >>> html_path.name, json_path.name
    ('report.html', 'metrics.json')
    """
    if not isinstance(context, Mapping):
        raise TypeError(
            f"write_report: context must be a dict of report sections, got "
            f"{type(context).__name__}. Pass a dict with keys such as {list(KNOWN_KEYS)[:4]}."
        )
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(
            f"write_report: out_dir {str(out)!r} exists and is not a directory. Pass a "
            "directory path (it is created when missing)."
        )
    out.mkdir(parents=True, exist_ok=True)
    clean = to_jsonable(context)
    html_text = render_html(clean)
    payload = {
        "format": METRICS_FORMAT,
        "polyclass_version": __version__,
        **{k: v for k, v in clean.items() if k != "title"},
    }
    json_text = json.dumps(payload, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    html_path = out / "report.html"
    json_path = out / "metrics.json"
    _atomic_write(json_path, json_text)
    _atomic_write(html_path, html_text)
    return html_path, json_path
