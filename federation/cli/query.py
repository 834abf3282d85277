"""``duckmesh query``, ``explain`` and ``lineage``: governed SQL run, explained, traced.

Each command hands the SQL to the mesh (which governs it) and the answer to
:mod:`federation.cli.render`; none of them touches the SQL itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from federation.cli import params as p
from federation.cli.render import (
    FORMATS,
    emit,
    output_format,
    preview,
    print_json,
    print_table,
    progress,
    render_lines,
    render_table,
    sigterm_interrupts,
    warn,
)
from federation.errors import UsageError
from federation.result import pretty_sql, to_jsonable

if TYPE_CHECKING:
    from federation.audit.lineage import ColumnLineage
    from federation.mesh import Mesh
    from federation.pipeline.query import GovernedQuery
    from federation.result import Result
    from federation.server.client import RemoteResult


@click.command(cls=p.SqlCommand)
@p.sql_source
@p.param
@p.user
@p.fmt(FORMATS, help="output format; json is one array of row objects, line one "
                     "'column = value' line per cell (for wide results); with --output "
                     "the default is the file's extension (.csv .json .parquet .md .xlsx)")
@p.output()
@click.option("--max-rows", type=click.IntRange(min=1), default=100, show_default=True,
              help="rows shown by --format table or line")
@click.option("--as-of", metavar="SNAPSHOT_OR_TIME",
              help="read Iceberg products at this snapshot id or ISO timestamp (still governed)")
@click.option("--stamp", is_flag=True,
              help="with --format json: print {\"stamp\": …, \"rows\": […]} where the stamp "
                   "lists the contract versions and files read (parquet output always "
                   "carries it as file metadata 'duckmesh.stamp')")
@p.purpose
@p.engine
@p.remote
@click.pass_context
def query(ctx: click.Context, sql: str | None, sql_file: Path | None,
          params: tuple[str, ...], user: str | None, fmt: str, output: Path | None,
          max_rows: int, as_of: str | None, stamp: bool, purpose: str | None,
          engine: str | None, server: str | None, token_file: Path | None) -> None:
    """Run governed SQL naming products as domain.product.

    The SQL is the argument, a file (-f FILE) or stdin (`-`); it may start with a
    comment. $NAME in it is bound to --param NAME=VALUE.
    """
    text = p.sql_text(sql, sql_file)
    values = p.param_values(params)
    given = ctx.get_parameter_source("fmt") not in (ParameterSource.DEFAULT, None)
    fmt = output_format(fmt, output, given=given)
    if stamp and fmt != "json":
        raise UsageError("--stamp goes with --format json")
    with sigterm_interrupts(), progress() as on_progress:
        if server and engine:
            raise UsageError("--engine cannot be used with --server: the server chooses")
        if server:
            result: Result | RemoteResult = p.connection(server, token_file, user, as_of) \
                .sql(text, values, purpose=purpose)
        else:
            with p.guided_denials(ctx, purpose):
                result = p.mesh_of(ctx).sql(text, user=p.caller(user), progress=on_progress,
                                            as_of=as_of, purpose=purpose, engine=engine,
                                            params=values)
        for warning in result.warnings:
            warn(warning)
        if fmt in ("table", "line"):
            # Run under the progress bar, keeping only the rows shown; print once it is gone.
            shown, total = preview(result.reader(), max_rows)
        else:
            emit(result, fmt, output, stamp)
    if fmt == "line":
        render_lines(shown, max_rows, total=total)
    elif fmt == "table":
        render_table(shown, max_rows, total=total)


@click.command(cls=p.SqlCommand)
@p.sql_source
@p.param
@p.user
@p.fmt(("text", "json"), default="text", help="text, or json with governed_sql and decisions")
@click.option("--as-of", metavar="SNAPSHOT_OR_TIME",
              help="plan Iceberg products at this snapshot id or ISO timestamp")
@p.purpose
@p.engine
@p.remote
@click.pass_context
def explain(ctx: click.Context, sql: str | None, sql_file: Path | None,
            params: tuple[str, ...], user: str | None, fmt: str, as_of: str | None,
            purpose: str | None, engine: str | None, server: str | None,
            token_file: Path | None) -> None:
    """Show the governed SQL and every policy decision, without running the query."""
    text = p.sql_text(sql, sql_file)
    values = p.param_values(params)
    if server:
        from federation.cli.remote import print_explain

        connection = p.connection(server, token_file, user, as_of)
        print_explain(connection.explain_json(text, values, purpose=purpose), fmt)
        return
    mesh = p.mesh_of(ctx)
    with p.guided_denials(ctx, purpose):
        governed = mesh.govern(text, p.caller(user), as_of=as_of, purpose=purpose,
                               params=values)
    chosen, spark = engine_sql(mesh, governed, engine)
    if fmt == "json":
        print_json({**explanation(governed, p.caller(user)), "engine": chosen,
                    **({"spark_sql": spark} if spark is not None else {})})
        return
    rows = [[d.product, d.column or "", d.action + (f" [{d.detail}]" if d.detail else ""),
             d.reason] for d in governed.decisions]
    print_table(rows, ("product", "column", "decision", "rule"),
                title=f"policy decisions for {p.caller(user)}")
    click.echo(f"\n-- engine: {chosen}")
    click.echo("\n-- governed SQL\n" + pretty_sql(governed))
    if spark is not None:
        click.echo("\n-- Spark SQL (views stand for the planned files; the mask key is bound "
                   "as :duckmesh_mask_ipad/opad)\n" + spark)


def engine_sql(mesh: Mesh, governed: GovernedQuery, engine: str | None) -> tuple[str,
                                                                                str | None]:
    """The engine ``explain`` reports for ``governed`` and, for Spark, its Spark SQL."""
    from federation.engines.choose import choose
    from federation.pipeline.budget import estimate_bytes

    chosen = choose(engine, mesh.settings.engine, estimate_bytes(governed))
    if chosen != "spark":
        return chosen, None
    from federation.engines.spark import display_views, shapes, spark_sql

    types = shapes(governed, mesh.settings.engine, mesh.root).types
    return chosen, spark_sql(governed, display_views(governed), types)


def explanation(governed: GovernedQuery, user: str) -> dict[str, object]:
    """``explain --format json``: who asked, what is read, every decision, the SQL run."""
    return {
        "user": user,
        "products": list(governed.products),
        "columns_read": governed.columns_read,
        "decisions": [to_jsonable(d) for d in governed.decisions],
        "governed_sql": governed.governed_sql,
    }


@click.command("lineage", cls=p.SqlCommand)
@p.sql_source
@p.user
@p.fmt(("table", "json", "dot", "mermaid"))
@click.option("--products", "mesh_graph", is_flag=True,
              help="the mesh's graph instead: which derived products and reports read which "
                   "product columns (of the DOMAIN.PRODUCT given as argument, else all)")
@click.pass_context
def lineage_cmd(ctx: click.Context, sql: str | None, sql_file: Path | None, user: str | None,
                fmt: str, mesh_graph: bool) -> None:
    """For each output column: its source product columns, the transformation, and the
    classification it inherits (the strictest of its sources). Nothing is run."""
    from federation.audit.lineage import lineage

    if mesh_graph:
        from federation.cli.publishing import print_graph

        print_graph(p.mesh_of(ctx), sql, fmt)
        return
    if fmt in ("dot", "mermaid"):
        raise UsageError(f"--format {fmt} draws the mesh's graph: add --products")
    with p.guided_denials(ctx):
        columns = lineage(p.mesh_of(ctx).govern(p.sql_text(sql, sql_file), p.caller(user)))
    if fmt == "json":
        print_json([c.as_dict() for c in columns])
        return
    print_table(([c.output, c.classification or "", _sources(c), c.transformation]
                 for c in columns), ("output", "classification", "sources", "transformation"))


def _sources(column: ColumnLineage) -> str:
    return ", ".join(f"{s.product}.{s.column}" + (f" ({s.classification})"
                                                  if s.classification else "")
                     for s in column.sources)
