"""``polyclass monitor``: drift, live metrics and alerts from a model's prediction log.

Exit status: 0 all well, 1 an alert fired, 2 anything else went wrong (one line on
stderr says what and how to fix it), so cron or CI can act on it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from polyclass._cli_errors import err_console, fail

console = Console()

FORMATS = ("html", "json", "prometheus")


def monitor_command(
    model: str = typer.Argument(
        ..., help="Registry reference (name, name@alias, name:3) or an artifact directory."
    ),
    log: Path = typer.Option(
        None,
        "--log",
        help="The model's log folder (<root>/logs/<name>); default the one "
        "`polyclass serve` writes for this model.",
    ),
    since: str = typer.Option(
        None,
        "--since",
        help="Only predictions at or after this ISO time (UTC unless a zone is given).",
    ),
    until: str = typer.Option(None, "--until", help="Only predictions before this ISO time."),
    window: str = typer.Option(
        None, "--window", help="Window of the time series: 30m, 1h, 1d (default 1h)."
    ),
    format_: str = typer.Option(
        "html",
        "--format",
        help="html (report files), json (stdout) or prometheus (gauges on stdout).",
    ),
    out: Path = typer.Option(
        Path("monitor"), "--out", help="Folder for monitor.html and monitor.json (--format html)."
    ),
    registry: str = typer.Option(
        None,
        "--registry",
        help="Registry URL or folder (default $POLYCLASS_REGISTRY or ./.polyclass).",
    ),
    config: Path = typer.Option(
        None,
        "--config",
        help="monitor.toml: methods and thresholds "
        "per column, performance threshold, alert commands.",
    ),
    alert_command: str = typer.Option(
        None,
        "--alert-command",
        help="Command to run when an alert fires (alerts as JSON on its stdin).",
    ),
    retrain_command: str = typer.Option(
        None,
        "--retrain-command",
        help="The retraining command alerts name (default: polyclass train ...).",
    ),
) -> None:
    """Compare logged traffic with the model's training data; score feedback; alert.

    Exits 0 when all is well, 1 when an alert fires, 2 on any other failure.
    """
    from polyclass.artifact import ArtifactError
    from polyclass.monitor._alerts import run_alert_command
    from polyclass.monitor._config import MonitorConfig
    from polyclass.monitor._logs import LogError
    from polyclass.monitor._monitor import monitor
    from polyclass.registry import RegistryError

    if format_ not in FORMATS:
        fail(f"--format must be one of {list(FORMATS)}, got {format_!r}.")
    try:
        cfg = MonitorConfig.from_toml(config) if config is not None else MonitorConfig()
        cfg = cfg.with_options(
            alert_command=alert_command, retrain_command=retrain_command, window=window
        )
        result = monitor(
            model, log, since=since, until=until, window=window, config=cfg, registry=registry
        )
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


def _summary(doc: dict[str, Any], report: str | None) -> None:
    alerts = doc["alerts"]
    log = doc["log"]
    status = "[bold red]ALERT[/]" if alerts else "[bold green]OK[/]"
    console.print(f"{status} {log['rows']:,} predictions read from {log['dir']}", highlight=False)
    for a in alerts:
        console.print(f"  [red]•[/] {a['message']}", highlight=False)
    if report:
        console.print(f"report: {report}", highlight=False)
