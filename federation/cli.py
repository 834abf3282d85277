"""The ``duckmesh`` command line.

Exit codes: 0 ok; 1 usage or input error; 3 access denied; 4 contract or quality
failure.  Errors are one line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from connectors.errors import DuckmeshError, UsageError
from federation.mesh import Mesh, default_user
from federation.output import FORMATS, atomic_file, dumps, render_table, write_stream
from federation.result import Result, pretty_sql, to_jsonable
from federation.stamp import STAMP_METADATA_KEY
from federation.validate import validate_mesh

USER_HELP = "who is asking (default: $DUCKMESH_USER, then the OS user); roles come from " \
            "governance/principals.yaml"


def _fail(message: str, code: int) -> None:
    click.echo(f"duckmesh: error: {message}", err=True)
    sys.exit(code)


class DuckmeshGroup(click.Group):
    """A click group that turns every error into one line and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DuckmeshError as exc:
            if ctx.meta.get("duckmesh.debug"):
                traceback.print_exc()
            _fail(str(exc), exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
            # Unknown errors may quote data: show the class only, unless --debug.
            if ctx.meta.get("duckmesh.debug"):
                traceback.print_exc()
            _fail(f"internal error ({type(exc).__name__}); rerun with --debug for details", 1)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the CLI; usage errors exit 1 as DESIGN.md documents, not click's 2."""
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.Abort:
            _fail("aborted", 1)
        except click.ClickException as exc:
            exc.show()
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=DuckmeshGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--mesh", "mesh_path", type=click.Path(file_okay=False, path_type=Path),
              envvar="DUCKMESH_MESH",
              help="mesh folder (default: $DUCKMESH_MESH, else the nearest folder upwards "
                   "holding duckmesh.yaml)")
@click.option("--debug", is_flag=True, help="show tracebacks on errors")
@click.version_option(package_name="duckmesh")
@click.pass_context
def cli(ctx: click.Context, mesh_path: Path | None, debug: bool) -> None:
    """duckmesh: governed SQL across the data products of a data mesh."""
    ctx.meta["duckmesh.debug"] = debug
    ctx.obj = {"mesh_path": mesh_path}


def _mesh(ctx: click.Context) -> Mesh:
    obj = ctx.find_object(dict) or {}
    if "mesh" not in obj:
        obj["mesh"] = Mesh.open(obj.get("mesh_path"))
    mesh = obj["mesh"]
    assert isinstance(mesh, Mesh)
    return mesh


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[float], None] | None]:
    """A progress bar on stderr while a query runs, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    columns = (TextColumn("query"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("query", total=100)
        yield lambda pct: bar.update(task, completed=pct)


def _emit(result: Result, fmt: str, output: Path | None, stamp: bool) -> None:
    metadata = {STAMP_METADATA_KEY: dumps(result.stamp)}
    wrap = result.stamp if stamp and fmt == "json" else None
    if output is not None:
        with atomic_file(output) as handle:
            rows = write_stream(result.reader(), fmt, handle, metadata, stamp=wrap)
        click.echo(f"wrote {rows} rows to {output}", err=True)
        return
    if fmt == "parquet" and sys.stdout.isatty():
        raise UsageError("parquet output needs --output FILE (or a pipe)")
    write_stream(result.reader(), fmt, sys.stdout.buffer, metadata, stamp=wrap)
    sys.stdout.flush()


@cli.command()
@click.argument("sql")
@click.option("--user", "-u", help=USER_HELP)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="output format; json is one array of row objects")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="write to FILE (atomically) instead of stdout")
@click.option("--max-rows", type=click.IntRange(min=1), default=100, show_default=True,
              help="rows shown by --format table")
@click.option("--stamp", is_flag=True,
              help="with --format json: print {\"stamp\": …, \"rows\": […]} where the stamp "
                   "lists the contract versions and files read (parquet output always "
                   "carries it as file metadata 'duckmesh.stamp')")
@click.pass_context
def query(ctx: click.Context, sql: str, user: str | None, fmt: str, output: Path | None,
          max_rows: int, stamp: bool) -> None:
    """Run governed SQL naming products as domain.product."""
    mesh = _mesh(ctx)
    if fmt == "table" and output is not None:
        raise UsageError("--output needs --format csv, json or parquet")
    if stamp and fmt != "json":
        raise UsageError("--stamp goes with --format json")
    with _progress() as progress:
        result = mesh.sql(sql, user=user or default_user(), progress=progress)
        for warning in result.warnings:
            click.echo(f"duckmesh: warning: {warning}", err=True)
        if fmt == "table":
            result.arrow()  # run under the progress bar; print once it is gone
        else:
            _emit(result, fmt, output, stamp)
    if fmt == "table":
        render_table(result.arrow(), max_rows)


@cli.command()
@click.argument("sql")
@click.option("--user", "-u", help=USER_HELP)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text, or json with governed_sql and decisions")
@click.pass_context
def explain(ctx: click.Context, sql: str, user: str | None, fmt: str) -> None:
    """Show the governed SQL and every policy decision, without running the query."""
    mesh = _mesh(ctx)
    query_ = mesh.govern(sql, user or default_user())
    if fmt == "json":
        click.echo(dumps({
            "user": user or default_user(),
            "products": list(query_.products),
            "columns_read": query_.columns_read,
            "decisions": [to_jsonable(d) for d in query_.decisions],
            "governed_sql": query_.governed_sql,
        }))
        return
    console = Console(width=None if sys.stdout.isatty() else 10_000)
    table = Table(title=f"policy decisions for {user or default_user()}", header_style="bold")
    for name in ("product", "column", "decision", "rule"):
        table.add_column(name, overflow="fold")
    for d in query_.decisions:
        decision = d.action + (f" [{d.detail}]" if d.detail else "")
        table.add_row(d.product, d.column or "", decision, d.reason)
    console.print(table)
    click.echo("\n-- governed SQL\n" + pretty_sql(query_))


@cli.command()
@click.pass_context
def validate(ctx: click.Context) -> None:
    """Check every contract and governance file; errors name file, line and field."""
    obj = ctx.find_object(dict) or {}
    root = Mesh.locate(obj.get("mesh_path"))
    errors, count = validate_mesh(root)
    for error in errors:
        click.echo(f"error: {error}", err=True)
    if errors:
        _fail(f"{len(errors)} problem{'s' * (len(errors) != 1)} in mesh {root}", 1)
    click.echo(f"mesh {root}: {count} products, all contracts and policies valid")


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path),
                default=Path("demo-mesh"))
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="1.0 makes about 1M bookings")
def demo(directory: Path, scale: float) -> None:
    """Write a complete demo mesh (travel agency) with data into DIRECTORY."""
    from products.demo import write_demo

    root = write_demo(directory, scale)
    click.echo(f"demo mesh written to {root}")
    click.echo(f"try: duckmesh --mesh {directory} query --user ana "
               "\"SELECT country, count(*) FROM customers.profiles GROUP BY ALL\"")


@cli.group()
def products() -> None:
    """Discover data products."""


@products.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="output format")
@click.pass_context
def products_list(ctx: click.Context, fmt: str) -> None:
    """List every product of the mesh."""
    mesh = _mesh(ctx)
    rows = [{"product": p.fqn, "version": p.version, "status": p.status, "owner": p.owner,
             "columns": len(p.columns), "description": p.description} for p in mesh.catalog]
    if fmt == "json":
        click.echo(dumps(rows))
        return
    table = Table(header_style="bold")
    for name in ("product", "version", "status", "owner", "columns", "description"):
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(str(row[k] or "") for k in row))
    Console(width=None if sys.stdout.isatty() else 10_000).print(table)


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="duckmesh")
