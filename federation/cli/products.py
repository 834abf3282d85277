"""``duckmesh products list | search TEXT | show DOMAIN.PRODUCT | init DOMAIN.PRODUCT``:
discover the mesh's data products, and draft the contract of a new one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from connectors.writers import dumps, text_cell
from federation.cli import params as p
from federation.cli.render import (
    print_json,
    print_rows,
    print_table,
    render_table,
    stdout_console,
    write_text,
)
from federation.cli.suggest import SuggestingGroup
from federation.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.console import Console

    from federation.mesh import Mesh
    from products.contract import Product

LIST_COLUMNS = ("product", "version", "status", "owner", "columns", "description")


@click.group(cls=SuggestingGroup)
def products() -> None:
    """Discover data products."""


@products.command("list")
@p.fmt(("table", "json"))
@p.remote
@click.pass_context
def products_list(ctx: click.Context, fmt: str, server: str | None,
                  token_file: Path | None) -> None:
    """List every product of the mesh."""
    rows = p.connection(server, token_file).products() if server else \
        [{"product": d.fqn, "version": d.version, "status": d.status, "owner": d.owner,
          "columns": len(d.columns), "description": d.description}
         for d in p.mesh_of(ctx).catalog]
    print_rows(rows, LIST_COLUMNS, fmt)


@products.command("search")
@click.argument("text")
@p.fmt(("table", "json"))
@p.remote
@click.pass_context
def products_search(ctx: click.Context, text: str, fmt: str, server: str | None,
                    token_file: Path | None) -> None:
    """Find products by name, domain, tag, owner, description or column."""
    from products.discovery import search

    rows: list[dict[str, Any]] = p.connection(server, token_file).search(text) if server else [
        {"product": m.product.fqn, "score": m.score, "matched": list(m.reasons),
         "description": m.product.description} for m in search(p.mesh_of(ctx).catalog, text)]
    if fmt == "json":
        print_json(rows)
        return
    if not rows:
        click.echo(f"no product matches {text!r}", err=True)
        return
    print_table(([r["product"], str(r["score"]), ", ".join(r["matched"]), r["description"] or ""]
                 for r in rows), ("product", "score", "matched", "description"))


@products.command("show")
@click.argument("name", metavar="DOMAIN.PRODUCT")
@p.fmt(("table", "json"))
@click.option("--sample", type=click.IntRange(min=1, max=10_000), default=None,
              help="also show N sample rows, governed (masked) for --user")
@p.user
@p.remote
@click.pass_context
def products_show(ctx: click.Context, name: str, fmt: str, sample: int | None,
                  user: str | None, server: str | None, token_file: Path | None) -> None:
    """Owner, schema, SLA, quality rules and live facts of one product."""
    from products.discovery import describe

    if server:  # each column also says the server's decision for you
        connection = p.connection(server, token_file, user)
        info = connection.product(name)
        domain, _, table = str(info["product"]).partition(".")
        rows = connection.sql(sample_sql(domain, table, sample)).arrow() if sample else None
    else:
        mesh = p.mesh_of(ctx)
        product = mesh.catalog.get(name)
        info = describe(product, mesh.root, mesh.settings.storage)
        rows = sample_rows(mesh, product, sample, p.caller(user)) if sample else None
    if rows is not None:
        info["sample"] = rows.to_pylist()
    if fmt == "json":
        print_json(info)
        return
    console = stdout_console()
    _print_description(info, console)
    if rows is not None and sample:
        who = "you" if server else p.caller(user)
        console.print(f"sample ({rows.num_rows} rows, governed for {who}):")
        render_table(rows, sample, console)


def sample_rows(mesh: Mesh, product: Product, count: int, user: str) -> pa.Table:
    """The first ``count`` rows of ``product`` as ``user`` may see them (governed)."""
    return mesh.sql(sample_sql(product.domain, product.name, count), user=user).arrow()


def sample_sql(domain: str, name: str, count: int) -> str:
    """``SELECT * FROM domain.name LIMIT count``, built as an expression, never as text:
    the names come from a contract file (or a server)."""
    from sqlglot import exp

    query = exp.select("*").from_(exp.table_(name, db=domain)).limit(count)
    return query.sql(dialect="duckdb")


def _print_description(info: dict[str, Any], console: Console) -> None:
    facts = info["facts"]
    # Contract and storage text is printed as it is: a description may hold "[...]",
    # which rich would read as markup.
    console.print(Text.assemble((info["product"], "bold"),
                                f"  v{info['version']}  ({info['status']})"))
    for key in ("description", "owner", "location", "format", "contract"):
        console.print(f"  {key}: {info[key]}", markup=False)
    if info["tags"]:
        console.print(f"  tags: {', '.join(map(str, info['tags']))}", markup=False)
    if "error" in facts:
        console.print(f"  data: unavailable: {facts['error']}", markup=False)
    else:
        fresh = facts["freshness"]
        console.print(f"  data: {facts['rows']} rows, {facts['size_bytes']} bytes in "
                      f"{facts['files']} files, last modified {facts['last_modified']}"
                      + (f", {fresh['status']} (SLA {fresh['sla']})" if fresh else ""),
                      markup=False)
    print_table(([c["name"], c["type"], "yes" if c["required"] else "",
                  c["classification"] or "", c["description"] or ""] for c in info["columns"]),
                ("name", "type", "required", "classification", "description"),
                title="schema", console=console)
    for rule in info["quality"]:
        console.print(f"  quality: {dumps(rule)}", markup=False)
    for sla in info["sla"]:
        console.print(f"  sla: {dumps(sla)}", markup=False)


@products.command("profile")
@click.argument("name", metavar="DOMAIN.PRODUCT")
@p.user
@p.purpose
@p.fmt(("table", "json"))
@click.pass_context
def products_profile(ctx: click.Context, name: str, user: str | None, purpose: str | None,
                     fmt: str) -> None:
    """Governed profile of the columns you may see: type, nulls, approximate distinct
    values; min, max and top values where you see clear values (counts only where
    masked). Runs as governed queries, audited."""
    from federation.checks.profile import profile_of

    with p.guided_denials(ctx, purpose):
        found = profile_of(p.mesh_of(ctx), p.caller(user), name, purpose)
    if fmt == "json":
        print_json(found)
        return
    print_table(([r["name"], r["type"], "clear" if r["clear"] else f"masked ({r['method']})",
                  str(r["nulls"]), str(r["distinct"]), _shown(r["min"]), _shown(r["max"]),
                  ", ".join(f"{_shown(v)} ({n})" for v, n in r["top"])]
                 for r in found["rows"]),
                ("column", "type", "values", "nulls", "distinct≈", "min", "max", "top values"),
                title=f"{found['product']}: {found['total']} rows, as {found['user']} may "
                      "see them", justify_right=("nulls", "distinct≈"),
                empty=f"no column of {found['product']} is visible to {found['user']}")


def _shown(value: object) -> str:
    return "" if value is None else text_cell(value)


@products.command("init")
@click.argument("name", metavar="DOMAIN.PRODUCT")
@click.option("--from", "source", required=True, metavar="PATH_OR_URI",
              help="Parquet file, folder (hive partitions are found) or glob")
@p.output(help="where to write (default: domains/DOMAIN/PRODUCT.odcs.yaml in the mesh)")
@click.option("--force", is_flag=True, help="overwrite an existing contract")
@click.pass_context
def products_init(ctx: click.Context, name: str, source: str, output: Path | None,
                  force: bool) -> None:
    """Write a draft ODCS contract from existing Parquet data, with suggested
    classifications for the owner to confirm."""
    import yaml

    from products.bootstrap import HEADER, check_draft, draft_contract

    # With --output no mesh is needed: a draft may be written before the mesh exists.
    root = p.mesh_root(ctx) if output is None else Path.cwd()
    contract = draft_contract(name, source, root)
    domain, product = contract["domain"], contract["dataProduct"]
    target = output or root / "domains" / domain / f"{product}.odcs.yaml"
    check_draft(contract, target, domain, product)
    if target.exists() and not force:
        raise UsageError(f"{target} already exists", hint="use --force to overwrite")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text(HEADER + yaml.safe_dump(contract, sort_keys=False, allow_unicode=True), target)
    click.echo(f"wrote draft contract {target}")
    for prop in contract["schema"][0]["properties"]:
        reason = prop["customProperties"][1]["value"]
        click.echo(f"  {prop['name']:<24} {prop['physicalType']:<16} "
                   f"{prop['classification']:<11} {reason}", err=True)


# Self-serve publishing (federation/cli/publishing.py): publish, refresh, due, status.
from federation.cli.publishing import COMMANDS as _PUBLISHING  # noqa: E402

for _command in _PUBLISHING:
    products.add_command(_command)
