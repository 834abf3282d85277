"""``duckmesh reports list | run NAME [--at TIME] | due``: scheduled reports, listed and
run (one slot, or every slot due); each run's outcome is one line."""

from __future__ import annotations

import datetime as dt
import sys

import click

from federation.cli import params as p
from federation.cli.render import print_rows, warn
from federation.cli.suggest import SuggestingGroup
from federation.errors import DuckmeshError, UsageError
from federation.reports.history import History
from federation.reports.runner import RunOutcome, due, run_report
from federation.reports.schedule import latest_slot, parse_instant
from federation.reports.spec import load_report, load_reports


def _instant(text: str | None, option: str) -> dt.datetime:
    """The time given to ``option`` (``--at``, ``--now``); now when none is given."""
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _finish(outcomes: list[RunOutcome]) -> None:
    """One line per run; failures go to stderr and exit non-zero (the first failure's
    code), so a scheduler notices and the next ``due`` retries them."""
    for outcome in outcomes:
        click.echo(outcome.line(), err=outcome.outcome == "failed")
    failed = [o for o in outcomes if o.outcome == "failed"]
    if failed:
        error = failed[0].error
        sys.exit(error.exit_code if error is not None else 1)


@click.group("reports", cls=SuggestingGroup)
def reports() -> None:
    """Scheduled reports: governed SQL run as a principal on a cron schedule."""


@reports.command("list")
@p.fmt(("table", "json"), help=None)
@click.pass_context
def list_cmd(ctx: click.Context, fmt: str) -> None:
    """Every report: schedule, audience, format, current slot and last success."""
    mesh = p.mesh_of(ctx)
    now = dt.datetime.now(dt.UTC)
    rows = []
    for spec in load_reports(mesh.root):
        if isinstance(spec, DuckmeshError):
            warn(str(spec))  # listed as broken; the others are still shown
            continue
        last = History(mesh.root, spec.name).last_success()
        rows.append({"name": spec.name, "schedule": spec.schedule, "timezone": spec.timezone,
                     "run_as": spec.readers.describe(), "purpose": spec.purpose,
                     "format": spec.format, "current_slot": latest_slot(spec, now).isoformat(),
                     "last_success": last.isoformat() if last else None,
                     "destination": spec.destination})
    print_rows(rows, ("name", "schedule", "run_as", "format", "current_slot", "last_success"),
               fmt, empty="never")


@reports.command("run")
@click.argument("name")
@click.option("--at", metavar="TIME",
              help="run the slot current at this ISO time (default: now)")
@click.option("--force", is_flag=True, help="run even if the slot already succeeded")
@click.pass_context
def run_cmd(ctx: click.Context, name: str, at: str | None, force: bool) -> None:
    """Run report NAME for one slot (once per slot unless --force)."""
    mesh = p.mesh_of(ctx)
    spec = load_report(mesh.root, name)
    _finish([run_report(mesh, spec, _instant(at, "--at"), force=force)])


@reports.command("due")
@click.option("--now", metavar="TIME", help="pretend it is this ISO time (default: now)")
@click.pass_context
def due_cmd(ctx: click.Context, now: str | None) -> None:
    """Run every report whose slot has arrived since its last success.

    Meant to be called every minute by cron or an orchestrator; a failed slot exits
    non-zero and is retried by the next call.
    """
    _finish(due(p.mesh_of(ctx), _instant(now, "--now")))
