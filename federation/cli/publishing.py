"""``duckmesh products publish | refresh | due | status``: self-serve derived products
(docs/publishing.md).  Registered on the ``products`` group by federation.cli.products."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from federation.cli import params as p

if TYPE_CHECKING:
    from federation.mesh import Mesh


@click.command("publish")
@click.argument("name", metavar="DOMAIN.NAME")
@click.option("--sql", "sql", help="the product's SQL (or -f FILE)")
@click.option("--file", "-f", "sql_file", type=click.Path(dir_okay=False, path_type=Path),
              help="read the SQL from FILE ('-': stdin)")
@click.option("--format", "fmt", type=click.Choice(["parquet", "iceberg"]), default="parquet",
              show_default=True, help="how the data is stored: versioned Parquet folders, or "
              "an Iceberg table with one snapshot per publication")
@click.option("--schedule", metavar="CRON", help="refresh on this cron schedule "
              "(`duckmesh products due` runs it)")
@click.option("--timezone", default="UTC", show_default=True,
              help="time zone of --schedule's slots")
@click.option("--description", help="what the product is for")
@p.user
@click.pass_context
def publish_cmd(ctx: click.Context, name: str, sql: str | None, sql_file: Path | None,
                fmt: str, schedule: str | None, timezone: str, description: str | None,
                user: str | None) -> None:
    """Publish a governed query's result as a new (draft) product of your domain.

    Run by an owner of the domain, governed as that owner; each column's classification
    is inherited from the columns it is computed from.
    """
    from federation.publish.publisher import publish

    text = _sql(sql, sql_file)
    publication = publish(p.mesh_of(ctx), name, text, user=p.caller(user),
                          description=description, schedule=schedule, timezone=timezone,
                          fmt=fmt)
    click.echo(publication.line())
    click.echo(f"status: draft (readable by its domain's owners); make it readable with "
               f"`duckmesh products status {publication.product} active`", err=True)


def _sql(sql: str | None, sql_file: Path | None) -> str:
    from federation.errors import UsageError

    if (sql is None) == (sql_file is None):
        raise UsageError("give the product's SQL with --sql SQL or -f FILE (one of them)")
    if sql_file is None:
        text = sql or ""
    elif str(sql_file) == "-":
        text = sys.stdin.read()
    else:
        try:
            text = sql_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read SQL file {str(sql_file)!r} "
                             f"({type(exc).__name__})") from None
    if not text.strip():
        raise UsageError("the SQL is empty")
    return text


@click.command("refresh")
@click.argument("name", metavar="DOMAIN.NAME")
@p.user
@click.pass_context
def refresh_cmd(ctx: click.Context, name: str, user: str | None) -> None:
    """Publish the next version of a derived product (as its publisher, or --user)."""
    from federation.publish.refresh import refresh

    click.echo(refresh(p.mesh_of(ctx), name, user=user).line())


@click.command("due")
@click.option("--now", metavar="TIME", help="pretend it is this ISO time (default: now)")
@click.pass_context
def due_cmd(ctx: click.Context, now: str | None) -> None:
    """Refresh every scheduled derived product whose slot has arrived.

    Meant for cron, like `reports due`: a failed refresh exits non-zero and is retried
    by the next call.
    """
    import datetime as dt

    from federation.errors import UsageError
    from federation.publish.refresh import due
    from federation.reports.schedule import parse_instant

    try:
        at = parse_instant(now) if now else dt.datetime.now(dt.UTC)
    except ValueError as exc:
        raise UsageError(f"--now: {exc}") from None
    outcomes = due(p.mesh_of(ctx), at)
    for outcome in outcomes:
        click.echo(outcome.line(), err=outcome.outcome == "failed")
    failed = [o.error for o in outcomes if o.outcome == "failed"]
    if failed:
        sys.exit(failed[0].exit_code if failed[0] is not None else 1)


@click.command("status")
@click.argument("name", metavar="DOMAIN.NAME")
@click.argument("status", type=click.Choice(["draft", "active", "deprecated", "retired"]))
@click.option("--replacement", metavar="DOMAIN.PRODUCT", help="the product to use instead")
@click.option("--sunset", metavar="DATE", help="when it will be retired (YYYY-MM-DD)")
@p.user
@click.pass_context
def status_cmd(ctx: click.Context, name: str, status: str, replacement: str | None,
               sunset: str | None, user: str | None) -> None:
    """Move a product through draft -> active -> deprecated -> retired (its owners)."""
    from federation.publish.lifecycle import set_status

    mesh = p.mesh_of(ctx)
    old = set_status(mesh, name, status, user=p.caller(user), replacement=replacement,
                     sunset=sunset)
    click.echo(f"{mesh.catalog.get(name).fqn}: {old} -> {status}")


COMMANDS = (publish_cmd, refresh_cmd, due_cmd, status_cmd)


def print_graph(mesh: Mesh, focus: str | None, fmt: str) -> None:
    """``lineage --products [D.P]``: the mesh's product graph in ``fmt``."""
    from federation.cli.render import print_table
    from federation.errors import UsageError
    from federation.governance.policies import suggest
    from federation.publish.graph import consumers, edges, render

    found = consumers(mesh.root, mesh.catalog)
    if focus is not None:
        known = [p.fqn for p in mesh.catalog] + [c.name for c in found]
        if focus.lower() not in known:
            raise UsageError(f"no product or report {focus!r}" + suggest(focus, known),
                             hint="see `duckmesh products list` and `duckmesh reports list`")
        focus = focus.lower()
    if fmt == "table":
        print_table(([e["from"], e["to"], e["kind"], ", ".join(e["columns"])]
                     for e in edges(found, focus)),
                    ("upstream", "downstream", "kind", "columns read"),
                    empty="no derived products or reports read products")
        return
    click.echo(render(found, mesh.catalog, fmt, focus))
