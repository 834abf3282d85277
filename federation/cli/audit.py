"""``duckmesh audit``: the query log, filtered, summed up as costs, or compacted.

Only the roles in duckmesh.yaml ``audit.readers`` read it.  ``--user`` is the reader, as
everywhere (the caller); ``--by USER`` filters the log by who ran the queries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import click

from federation.cli import params as p
from federation.cli.render import print_json, print_table
from federation.errors import UsageError

RECORD_COLUMNS = ("time", "user", "outcome", "products", "rows", "ms", "sql")
COST_COLUMNS = ("day", "domain", "product", "user", "queries", "bytes_scanned")


@click.command("audit")
@click.option("--by", "who", metavar="USER", help="only queries run by this user")
@p.user
@click.option("--product", "-p", help="only queries reading this product (domain.product)")
@click.option("--since", metavar="TIME", help="only queries at or after this ISO time")
@click.option("--costs", is_flag=True,
              help="scanned bytes and queries per day, domain, product and user instead")
@p.fmt(("table", "json"), help="json is one array of records")
@click.option("--compact", is_flag=True,
              help="instead: gather record files into Parquet, the data of meta.audit")
@click.pass_context
def audit_cmd(ctx: click.Context, who: str | None, product: str | None, since: str | None,
              costs: bool, fmt: str, compact: bool, user: str | None) -> None:
    """The query log: who read what, under which decisions, with what outcome.

    Readable by the roles in duckmesh.yaml audit.readers (default: admin); --user is
    the reader, --by filters by who ran the queries.
    """
    mesh = p.mesh_of(ctx)
    reader = mesh.governance.principal(p.caller(user))
    mesh.audit.check_reader(reader.name, reader.roles)
    if compact:
        done = mesh.audit.compact()
        click.echo(f"compacted {done.records} records"
                   + (f" into {done.file}" if done.file else "")
                   + f"; removed {done.removed} record files")
        return
    rows = filter_records(mesh.audit.records(), user=who, product=product,
                          since=parse_since(since))
    if costs:
        rows = cost_rows(rows, product)
    if fmt == "json":
        print_json(rows)
    elif costs:
        # Cost cells are short: cut rather than folded, as this table always was.
        print_table(([str(r[k]) for k in COST_COLUMNS] for r in rows), COST_COLUMNS,
                    justify_right=("queries", "bytes_scanned"), overflow="ellipsis")
    else:
        print_table((_record_cells(r) for r in rows), RECORD_COLUMNS)


def parse_since(text: str | None) -> dt.datetime | None:
    """``--since`` as an aware time; a time without a zone is UTC, as the records are."""
    if not text:
        return None
    try:
        start = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since takes an ISO time, not {text!r}") from None
    return start if start.tzinfo else start.replace(tzinfo=dt.UTC)


def filter_records(records: Iterable[dict[str, Any]], *, user: str | None = None,
                   product: str | None = None,
                   since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The audit records run by ``user``, reading ``product`` (any case), at or after
    ``since``; None matches everything."""
    return [r for r in records
            if (user is None or r.get("user") == user)
            and (product is None or product.lower() in r.get("products", []))
            and (since is None or dt.datetime.fromisoformat(r["timestamp"]) >= since)]


def cost_rows(records: list[dict[str, Any]], product: str | None) -> list[dict[str, Any]]:
    """Queries and scanned bytes per day, domain, product and user (of the executed
    queries among ``records``); only ``product``'s rows when one is given."""
    from federation.audit.log import costs

    rows = costs(records)
    return [r for r in rows if r["product"] == product.lower()] if product else rows


def _record_cells(record: dict[str, Any]) -> list[str]:
    # Long SQL is cut: the table is for scanning; --format json has the whole text.
    # A server-verified identity (token, OIDC) is marked; an embedded --user is a claim.
    user = record["user"] + (" (authenticated)" if record.get("authenticated") else "")
    return [record["timestamp"][:19], user, record["outcome"],
            ", ".join(record["products"]),
            "" if record["rows"] is None else str(record["rows"]),
            str(record["duration_ms"]), record["sql"][:200]]
