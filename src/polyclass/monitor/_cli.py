"""``polyclass monitor``: drift, live metrics and alerts from a model's prediction log.

Exit status: 0 all well, 1 an alert fired, 2 anything else went wrong (one line on
stderr says what and how to fix it), so cron or CI can act on it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from polyclass._cli_errors import err_console, fail

console = Console()

Format = Literal["html", "json", "prometheus"]
DriftAlert = Literal["important", "any", "share"]


def monitor_command(
    model: Annotated[
        str,
        typer.Argument(
            help="Registry reference (name, name@alias, name:3) or an artifact directory."
        ),
    ],
    log: Annotated[
        Path | None,
        typer.Option(
            "--log",
            help="The model's log folder (<root>/logs/<name>).",
            show_default="the folder `polyclass serve` writes for this model",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only predictions at or after this ISO time (UTC unless a zone is given).",
            show_default="the first logged",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Only predictions before this ISO time.", show_default="no limit"),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(help="Window of the time series: 30m, 1h, 1d.", show_default="1h"),
    ] = None,
    format_: Annotated[
        Format,
        typer.Option(
            "--format",
            help="html (report files and a summary), json (stdout) or prometheus (gauges).",
        ),
    ] = "html",
    out: Annotated[
        Path, typer.Option(help="Folder for monitor.html and monitor.json (--format html).")
    ] = Path("monitor"),
    registry: Annotated[
        str | None,
        typer.Option(
            envvar="POLYCLASS_REGISTRY",
            help="Registry URL or folder.",
            show_default="./.polyclass",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="monitor.toml: methods and thresholds per column, the alert rule, "
            "performance metric and threshold, alert commands.",
        ),
    ] = None,
    drift_alert: Annotated[
        DriftAlert | None,
        typer.Option(
            help="When drift alerts: a drifted column among the model's most important "
            "ones (or dataset drift), any drifted column, or only dataset drift.",
            show_default="important",
        ),
    ] = None,
    alert_command: Annotated[
        str | None,
        typer.Option(help="Command to run when an alert fires (alerts as JSON on its stdin)."),
    ] = None,
    retrain_command: Annotated[
        str | None,
        typer.Option(
            help="The retraining command alerts name.",
            show_default="polyclass train DATA --target T --name NAME",
        ),
    ] = None,
    region: Annotated[
        list[str] | None,
        typer.Option(
            "--region",
            help="NAME=LOG_FOLDER of one region's log (repeatable, several per region for "
            "its replicas): report every region and all of them together.",
            show_default=False,
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            envvar="DASK_SCHEDULER_ADDRESS",
            help="Read and count the logged inputs on Dask, one task per segment: 'local' "
            "(a LocalCluster for this run) or a scheduler address. Same numbers.",
        ),
    ] = None,
) -> None:
    """Compare logged traffic with the model's training data; score feedback; alert.

    Exits 0 when all is well, 1 when an alert fires, 2 on any other failure.
    """
    from polyclass.artifact import ArtifactError
    from polyclass.monitor._alerts import run_alert_command
    from polyclass.monitor._config import MonitorConfig
    from polyclass.monitor._monitor import monitor
    from polyclass.predlog import LogError
    from polyclass.registry import RegistryError

    try:
        cfg = MonitorConfig.from_toml(config) if config is not None else MonitorConfig()
        cfg = cfg.with_options(
            alert_command=alert_command,
            retrain_command=retrain_command,
            window=window,
            drift_alert=drift_alert,
        )
        if region:
            _regions(region, format_, out, lambda f: monitor(
                model, f, since=since, until=until, window=window, config=cfg,
                registry=registry, dask=dask,
            ))  # fmt: skip
        result = monitor(
            model,
            log,
            since=since,
            until=until,
            window=window,
            config=cfg,
            registry=registry,
            dask=dask,
        )
    except typer.Exit:  # --region's reports are done
        raise
    except (LogError, ValueError, ArtifactError, RegistryError, FileNotFoundError) as exc:
        fail(str(exc))
    except Exception as exc:  # anything unexpected is still a clear exit 2, never a trace
        fail(f"monitoring failed: {type(exc).__name__}: {exc}")

    report_path = None
    doc = result.to_dict()
    if format_ == "html":
        from polyclass.monitor._report import write_monitor_report

        try:
            html_path, _ = write_monitor_report(out, doc)
        except OSError as exc:
            fail(f"cannot write the report into {out}: {exc}. Pick another --out.")
        report_path = str(html_path)
    if result.alerts and cfg.alert_command:
        ran = run_alert_command(cfg.alert_command, result.alerts, report=report_path)
        result.alert_command = ran
        doc["alert_command"] = ran
        if ran["returncode"] != 0:
            err_console.print(
                f"[yellow]warning:[/] alert command failed: {ran['error'] or ran}", highlight=False
            )
    if format_ == "json":
        sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    elif format_ == "prometheus":
        from polyclass.monitor._prometheus import gauges

        sys.stdout.write(gauges(result))
    else:
        _summary(doc, report_path)
    for p in doc["log"]["problems"]:
        err_console.print(f"[yellow]skipped:[/] {p['path']}: {p['reason']}", highlight=False)
    raise typer.Exit(result.exit_code)


def _regions(values: list[str], format_: str, out: Path, run: Any) -> None:
    """``--region``: every region's logs together, then each region; exit 1 on an alert."""
    from polyclass.monitor._regions import monitor_regions, parse_region_logs

    if format_ == "prometheus":
        raise ValueError("--region reports as html or json; use --format html or json")
    overall, regions = monitor_regions(parse_region_logs(values), run)
    results = {"overall": overall, **regions}
    if format_ == "json":
        docs = {name: r.to_dict() for name, r in results.items()}
        sys.stdout.write(json.dumps(docs, indent=2, allow_nan=False) + "\n")
    else:
        from polyclass.monitor._report import write_monitor_report

        table = Table(title="Regions")
        for col in ("region", "predictions", "alerts", "report"):
            table.add_column(col)
        for name, result in results.items():
            doc = result.to_dict()
            html, _ = write_monitor_report(out if name == "overall" else out / name, doc)
            alerts = ", ".join(str(a.get("kind", "alert")) for a in doc["alerts"]) or "none"
            table.add_row(name, f"{doc['log']['rows']:,}", alerts, str(html))
        console.print(table)
    raise typer.Exit(max(r.exit_code for r in results.values()))


def _summary(doc: dict[str, Any], report: str | None) -> None:
    alerts = doc["alerts"]
    log = doc["log"]
    status = "[bold red]ALERT[/]" if alerts else "[bold green]OK[/]"
    console.print(f"{status} {log['rows']:,} predictions read from {log['dir']}", highlight=False)
    for a in alerts:
        console.print(f"  [red]•[/] {a['message']}", highlight=False)
    for note in doc["notes"]:
        console.print(f"  note: {note}", highlight=False)
    drifted = [f for f in (doc.get("drift") or {}).get("features", []) if f["drifted"]]
    if drifted:
        console.print(_drift_table(drifted))
    if doc.get("versions"):
        console.print(_versions_table(doc["versions"]))
    if report:
        console.print(f"report: {report}", highlight=False)


def _versions_table(versions: dict[str, Any]) -> Table:
    """Every version in the log side by side, and how often version pairs agree."""
    table = Table(title="Versions")
    for col in ("version", "rows", "labelled", "accuracy (95% CI)", "macro F1", "drifted"):
        table.add_column(col)
    for v in versions["versions"]:
        live = v["live"]
        ci = live.get("accuracy_ci") or [None, None]
        acc = f"{live['accuracy']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if live.get("accuracy") else "—"
        drift = v.get("drift") or {}
        table.add_row(
            str(v["version"]),
            f"{v['rows']:,}",
            f"{v['labelled']:,}",
            acc,
            _number(live.get("f1_macro"), 3),
            ", ".join(drift.get("drifted") or []) or "—",
        )
    from polyclass.monitor._versions import shadow_coverage

    for pair in versions["agreement"]:
        a, b = pair["versions"]
        agree = f"versions {a} and {b} agree on {pair['agreement']:.1%} of {pair['rows']:,} rows."
        said = " ".join(filter(None, (agree, shadow_coverage(pair))))
        table.caption = (table.caption or "") + said + " "
    return table


def _number(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def _drift_table(features: list[dict[str, Any]]) -> Table:
    """The drifted features, most moved first, with the test's statistic and p-value apart."""
    table = Table(title="Drifted features")
    for col, right in (
        ("feature", False),
        ("method", False),
        ("statistic", True),
        ("p-value", True),
        ("threshold", True),
        ("rows", True),
    ):
        table.add_column(col, justify="right" if right else "left")
    for f in sorted(features, key=lambda f: -(f["stats"].get("jensenshannon") or 0.0)):
        table.add_row(
            f["name"],
            f["method"],
            _number(f["statistic"]),
            _number(f["p_value"], 3),
            f"{'p < ' if f['p_value'] is not None else '≥ '}{f['threshold']:g}",
            f"{f['n']:,}",
        )
    return table
