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


@cli.command("check")
@click.argument("names", nargs=-1, metavar="[DOMAIN.PRODUCT]...")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "junit"]),
              default="table", show_default=True, help="output format; junit is JUnit XML")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="write the report to FILE (atomically)")
@click.pass_context
def check_cmd(ctx: click.Context, names: tuple[str, ...], fmt: str, output: Path | None) -> None:
    """Check products against their contracts and quality rules (exit 4 on failure).

    Schema conformance and freshness come from the files; quality rules run governed, as
    the domain's owner. A rule that cannot be evaluated is an error, never a pass.
    """
    from federation.check import check, failed, to_junit

    mesh = _mesh(ctx)
    findings = check(mesh, names)
    if fmt == "table" and output is None:
        table = Table(header_style="bold")
        for name in ("product", "check", "status", "detail"):
            table.add_column(name, overflow="fold")
        colors = {"passed": "green", "failed": "red", "error": "red", "warning": "yellow"}
        for f in findings:
            color = colors.get(f.status, "dim")
            table.add_row(f.product, f.check, f"[{color}]{f.status}[/{color}]", f.message)
        _console().print(table)
    else:
        text = to_junit(findings) if fmt == "junit" else dumps([f.as_dict() for f in findings])
        if output is None:
            click.echo(text)
        else:
            with atomic_file(output) as handle:
                handle.write(text.encode())
    counts = {s: sum(f.status == s for f in findings)
              for s in ("passed", "failed", "error", "warning", "skipped")}
    click.echo(", ".join(f"{n} {s}" for s, n in counts.items() if n), err=True)
    if failed(findings):
        sys.exit(4)


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


@products.command("search")
@click.argument("text")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="output format")
@click.pass_context
def products_search(ctx: click.Context, text: str, fmt: str) -> None:
    """Find products by name, domain, tag, owner, description or column."""
    from products.discovery import search

    matches = search(_mesh(ctx).catalog, text)
    rows: list[dict[str, Any]] = [
        {"product": m.product.fqn, "score": m.score, "matched": list(m.reasons),
         "description": m.product.description} for m in matches]
    if fmt == "json":
        click.echo(dumps(rows))
        return
    if not rows:
        click.echo(f"no product matches {text!r}", err=True)
        return
    table = Table(header_style="bold")
    for name in ("product", "score", "matched", "description"):
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(row["product"], str(row["score"]), ", ".join(row["matched"]),
                      row["description"] or "")
    _console().print(table)


@products.command("show")
@click.argument("name", metavar="DOMAIN.PRODUCT")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="output format")
@click.option("--sample", type=click.IntRange(min=1, max=10_000), default=None,
              help="also show N sample rows, governed (masked) for --user")
@click.option("--user", "-u", help=USER_HELP)
@click.pass_context
def products_show(ctx: click.Context, name: str, fmt: str, sample: int | None,
                  user: str | None) -> None:
    """Owner, schema, SLA, quality rules and live facts of one product."""
    from sqlglot import exp

    from products.discovery import describe

    mesh = _mesh(ctx)
    product = mesh.catalog.get(name)
    info = describe(product, mesh.root)
    rows = None
    if sample:
        query_ = exp.select("*").from_(exp.table_(product.name, db=product.domain)).limit(sample)
        rows = mesh.sql(query_.sql(dialect="duckdb"), user=user or default_user()).arrow()
        info["sample"] = rows.to_pylist()
    if fmt == "json":
        click.echo(dumps(info))
        return
    console = _console()
    facts = info["facts"]
    console.print(f"[bold]{info['product']}[/bold]  v{info['version']}  ({info['status']})")
    for key in ("description", "owner", "location", "format", "contract"):
        console.print(f"  {key}: {info[key]}")
    if info["tags"]:
        console.print(f"  tags: {', '.join(map(str, info['tags']))}")
    if "error" in facts:
        console.print(f"  data: unavailable: {facts['error']}")
    else:
        fresh = facts["freshness"]
        console.print(f"  data: {facts['rows']} rows, {facts['size_bytes']} bytes in "
                      f"{facts['files']} files, last modified {facts['last_modified']}"
                      + (f", {fresh['status']} (SLA {fresh['sla']})" if fresh else ""))
    columns = Table(title="schema", header_style="bold")
    for col in ("name", "type", "required", "classification", "description"):
        columns.add_column(col, overflow="fold")
    for col in info["columns"]:
        columns.add_row(col["name"], col["type"], "yes" if col["required"] else "",
                        col["classification"] or "", col["description"] or "")
    console.print(columns)
    for rule in info["quality"]:
        console.print(f"  quality: {dumps(rule)}")
    for sla in info["sla"]:
        console.print(f"  sla: {dumps(sla)}")
    if rows is not None and sample:
        console.print(f"sample ({rows.num_rows} rows, governed for {user or default_user()}):")
        render_table(rows, sample, console)


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 10_000)


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="duckmesh")
