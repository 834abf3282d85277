"""The ``duckmesh`` command line.

Exit codes: 0 ok; 1 usage or input error; 3 access denied; 4 contract or quality
failure.  Errors are one line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from connectors.writers import atomic_file, dumps, write_stream
from federation.checks.validate import validate_mesh
from federation.cli.params import mesh_of
from federation.cli.render import FORMATS, preview, print_rows, render_table, stdout_console
from federation.cli.reports import reports
from federation.errors import DuckmeshError, UsageError
from federation.mesh import Mesh, default_user
from federation.pipeline.stamp import STAMP_METADATA_KEY
from federation.result import Result, pretty_sql, to_jsonable

USER_HELP = "who is asking (default: $DUCKMESH_USER, then the OS user); roles come from " \
            "governance/principals.yaml"


def _fail(message: str, code: int) -> None:
    click.echo(f"duckmesh: error: {message}", err=True)
    sys.exit(code)


def _reader_went_away() -> None:
    """stdout's reader closed it (``duckmesh query … | head``): stop quietly, exit 141 as
    a Unix tool stopped by SIGPIPE does.  Unfinished results are closed first, so the
    query's connection is released and its audit record written."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit would fail again
    gc.collect()
    sys.exit(141)


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
        except BrokenPipeError:
            _reader_went_away()
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
        except click.UsageError as exc:
            # One line like every other error, pointing at the command's help.
            command = exc.ctx.command_path if exc.ctx is not None else "duckmesh"
            _fail(f"{exc.format_message()} (see `{command} --help`)", 1)
        except click.ClickException as exc:
            _fail(exc.format_message(), 1)
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
    metadata = {STAMP_METADATA_KEY: dumps(result.stamp),
                "duckmesh.lineage": dumps([c.as_dict() for c in result.lineage()])}
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
@click.option("--as-of", metavar="SNAPSHOT_OR_TIME",
              help="read Iceberg products at this snapshot id or ISO timestamp (still governed)")
@click.option("--stamp", is_flag=True,
              help="with --format json: print {\"stamp\": …, \"rows\": […]} where the stamp "
                   "lists the contract versions and files read (parquet output always "
                   "carries it as file metadata 'duckmesh.stamp')")
@click.option("--purpose", metavar="TEXT",
              help="why you run this query; recorded in the audit log")
@click.pass_context
def query(ctx: click.Context, sql: str, user: str | None, fmt: str, output: Path | None,
          max_rows: int, as_of: str | None, stamp: bool, purpose: str | None) -> None:
    """Run governed SQL naming products as domain.product."""
    mesh = mesh_of(ctx)
    if fmt == "table" and output is not None:
        raise UsageError("--output needs --format csv, json or parquet")
    if stamp and fmt != "json":
        raise UsageError("--stamp goes with --format json")
    with _progress() as progress:
        result = mesh.sql(sql, user=user or default_user(), progress=progress, as_of=as_of,
                          purpose=purpose)
        for warning in result.warnings:
            click.echo(f"duckmesh: warning: {warning}", err=True)
        if fmt == "table":
            # Run under the progress bar, keeping only the rows shown; print once it is gone.
            shown, total = preview(result.reader(), max_rows)
        else:
            _emit(result, fmt, output, stamp)
    if fmt == "table":
        render_table(shown, max_rows, total=total)


@cli.command()
@click.argument("sql")
@click.option("--user", "-u", help=USER_HELP)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text, or json with governed_sql and decisions")
@click.option("--as-of", metavar="SNAPSHOT_OR_TIME",
              help="plan Iceberg products at this snapshot id or ISO timestamp")
@click.pass_context
def explain(ctx: click.Context, sql: str, user: str | None, fmt: str, as_of: str | None) -> None:
    """Show the governed SQL and every policy decision, without running the query."""
    mesh = mesh_of(ctx)
    query_ = mesh.govern(sql, user or default_user(), as_of=as_of)
    if fmt == "json":
        click.echo(dumps({
            "user": user or default_user(),
            "products": list(query_.products),
            "columns_read": query_.columns_read,
            "decisions": [to_jsonable(d) for d in query_.decisions],
            "governed_sql": query_.governed_sql,
        }))
        return
    console = stdout_console()
    table = Table(title=f"policy decisions for {user or default_user()}", header_style="bold")
    for name in ("product", "column", "decision", "rule"):
        table.add_column(name, overflow="fold")
    for d in query_.decisions:
        decision = d.action + (f" [{d.detail}]" if d.detail else "")
        table.add_row(d.product, d.column or "", decision, d.reason)
    console.print(table)
    click.echo("\n-- governed SQL\n" + pretty_sql(query_))


@cli.command()
@click.option("--against", metavar="REV",
              help="also refuse breaking contract changes since git revision REV whose "
                   "major version did not change")
@click.pass_context
def validate(ctx: click.Context, against: str | None) -> None:
    """Check every contract and governance file; errors name file, line and field."""
    obj = ctx.find_object(dict) or {}
    root = Mesh.locate(obj.get("mesh_path"))
    errors, count = validate_mesh(root, against)
    for error in errors:
        click.echo(f"error: {error}", err=True)
    if errors:
        _fail(f"{len(errors)} problem{'s' * (len(errors) != 1)} in mesh {root}", 1)
    click.echo(f"mesh {root}: {count} products, all contracts and policies valid")


@cli.command("lineage")
@click.argument("sql")
@click.option("--user", "-u", help=USER_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="output format")
@click.pass_context
def lineage_cmd(ctx: click.Context, sql: str, user: str | None, fmt: str) -> None:
    """For each output column: its source product columns, the transformation, and the
    classification it inherits (the strictest of its sources). Nothing is run."""
    from federation.audit.lineage import lineage

    mesh = mesh_of(ctx)
    columns = lineage(mesh.govern(sql, user or default_user()))
    if fmt == "json":
        click.echo(dumps([c.as_dict() for c in columns]))
        return
    table = Table(header_style="bold")
    for name in ("output", "classification", "sources", "transformation"):
        table.add_column(name, overflow="fold")
    for c in columns:
        sources = ", ".join(f"{s.product}.{s.column}" + (f" ({s.classification})"
                                                         if s.classification else "")
                            for s in c.sources)
        table.add_row(c.output, c.classification or "", sources, c.transformation)
    stdout_console().print(table)


@cli.command("audit")
@click.option("--user", "-u", "who", help="only queries by this user")
@click.option("--product", "-p", help="only queries reading this product (domain.product)")
@click.option("--since", metavar="TIME", help="only queries at or after this ISO time")
@click.option("--costs", is_flag=True,
              help="scanned bytes and queries per day, domain, product and user instead")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="json is one array of records")
@click.option("--compact", is_flag=True,
              help="instead: gather record files into Parquet, the data of meta.audit")
@click.pass_context
def audit_cmd(ctx: click.Context, who: str | None, product: str | None, since: str | None,
              costs: bool, fmt: str, compact: bool) -> None:
    """The query log: who read what, under which decisions, with what outcome.

    Readable by the roles in duckmesh.yaml audit.readers (default: admin); the caller is
    $DUCKMESH_USER, else the OS user.
    """
    import datetime as dt

    mesh = mesh_of(ctx)
    caller = mesh.governance.principal(default_user())
    mesh.audit.check_reader(caller.name, caller.roles)
    if compact:
        done = mesh.audit.compact()
        click.echo(f"compacted {done.records} records"
                   + (f" into {done.file}" if done.file else "")
                   + f"; removed {done.removed} record files")
        return
    start = None
    if since:
        try:
            start = dt.datetime.fromisoformat(since)
        except ValueError:
            raise UsageError(f"--since takes an ISO time, not {since!r}") from None
        start = start if start.tzinfo else start.replace(tzinfo=dt.UTC)
    rows = [r for r in mesh.audit.records()
            if (who is None or r.get("user") == who)
            and (product is None or product.lower() in r.get("products", []))
            and (start is None or dt.datetime.fromisoformat(r["timestamp"]) >= start)]
    if costs:
        from federation.audit.log import costs as cost_rows

        rows = cost_rows(rows)
        if product:
            rows = [r for r in rows if r["product"] == product.lower()]
    if fmt == "json":
        click.echo(dumps(rows))
        return
    if costs:
        table = Table(header_style="bold")
        for name in ("day", "domain", "product", "user", "queries", "bytes_scanned"):
            table.add_column(name, justify="right" if name in ("queries", "bytes_scanned")
                             else "left")
        for r in rows:
            table.add_row(*(str(r[k]) for k in ("day", "domain", "product", "user", "queries",
                                                 "bytes_scanned")))
        stdout_console().print(table)
        return
    table = Table(header_style="bold")
    for name in ("time", "user", "outcome", "products", "rows", "ms", "sql"):
        table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(r["timestamp"][:19], r["user"], r["outcome"], ", ".join(r["products"]),
                      "" if r["rows"] is None else str(r["rows"]), str(r["duration_ms"]),
                      r["sql"][:200])
    stdout_console().print(table)


@cli.command("diff")
@click.argument("old", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rev", metavar="REV",
              help="compare the contract OLD at git revision REV with its current version")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="output format")
def diff_cmd(old: Path, new: Path | None, rev: str | None, fmt: str) -> None:
    """Classify the changes between two versions of a contract (exit 4 if a breaking
    change lacks a major version bump).

    Either two files (OLD NEW), or one file and --rev REV (the file at REV vs now).
    """
    from products.contract import CONTRACT_SUFFIX, load_contract
    from products.diff import (
        actual_bump,
        bump_ok,
        contract_from_text,
        diff_products,
        git_show,
        required_bump,
    )

    def name_of(path: Path) -> tuple[str, str]:
        stem = path.name[: -len(CONTRACT_SUFFIX)] if path.name.endswith(CONTRACT_SUFFIX) \
            else path.stem
        return path.resolve().parent.name, stem

    if (new is None) == (rev is None):
        raise UsageError("give two contract files, or one file and --rev REV")
    if rev is not None:
        domain, stem = name_of(old)
        text = git_show(old, rev)
        before = contract_from_text(text, f"{rev}:{old}", domain, stem) if text else None
        after = load_contract(old, domain) if old.exists() else None
    else:
        assert new is not None
        for path in (old, new):
            if not path.exists():
                raise UsageError(f"{path} does not exist")
        before = load_contract(old, name_of(old)[0])
        after = load_contract(new, name_of(new)[0]) if new.exists() else None
    changes = diff_products(before, after)
    need = required_bump(changes)
    have = actual_bump(before.version, after.version) if before and after else None
    ok = bump_ok(before, after, changes)
    if fmt == "json":
        click.echo(dumps({
            "old_version": before.version if before else None,
            "new_version": after.version if after else None,
            "required_bump": need, "actual_bump": have, "ok": ok,
            "changes": [{"kind": c.kind, "detail": c.detail, "column": c.column,
                         "breaking": c.breaking, "bump": c.bump} for c in changes]}))
    else:
        table = Table(header_style="bold")
        for name in ("change", "detail", "breaking", "needs"):
            table.add_column(name, overflow="fold")
        for c in changes:
            table.add_row(c.kind, c.detail, "[red]yes[/red]" if c.breaking else "no", c.bump)
        stdout_console().print(table if changes else "no changes")
        versions = f"{before.version if before else '-'} → {after.version if after else '-'}"
        click.echo(f"version {versions}: needs a {need} bump"
                   + (f", has a {have} bump" if have else "")
                   + ("" if ok else " — NOT ENOUGH"))
    if not ok:
        sys.exit(4)


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
    from federation.checks.data import check, failed, to_junit

    mesh = mesh_of(ctx)
    findings = check(mesh, names)
    if fmt == "table" and output is None:
        table = Table(header_style="bold")
        for name in ("product", "check", "status", "detail"):
            table.add_column(name, overflow="fold")
        colors = {"passed": "green", "failed": "red", "error": "red", "warning": "yellow"}
        for f in findings:
            color = colors.get(f.status, "dim")
            table.add_row(f.product, f.check, f"[{color}]{f.status}[/{color}]", f.message)
        stdout_console().print(table)
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
@click.option("--storage", metavar="s3://BUCKET/PREFIX",
              help="put the data on object storage instead of DIRECTORY/data")
@click.option("--s3-endpoint-url", metavar="URL",
              help="S3-compatible endpoint for --storage (written into duckmesh.yaml)")
def demo(directory: Path, scale: float, storage: str | None,
         s3_endpoint_url: str | None) -> None:
    """Write a complete demo mesh (travel agency) with data into DIRECTORY."""
    from products.demo import write_demo

    root = write_demo(directory, scale, storage, s3_endpoint_url)
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
    mesh = mesh_of(ctx)
    rows = [{"product": p.fqn, "version": p.version, "status": p.status, "owner": p.owner,
             "columns": len(p.columns), "description": p.description} for p in mesh.catalog]
    print_rows(rows, ("product", "version", "status", "owner", "columns", "description"), fmt)


@products.command("search")
@click.argument("text")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="output format")
@click.pass_context
def products_search(ctx: click.Context, text: str, fmt: str) -> None:
    """Find products by name, domain, tag, owner, description or column."""
    from products.discovery import search

    matches = search(mesh_of(ctx).catalog, text)
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
    stdout_console().print(table)


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

    mesh = mesh_of(ctx)
    product = mesh.catalog.get(name)
    info = describe(product, mesh.root, mesh.settings.storage)
    rows = None
    if sample:
        query_ = exp.select("*").from_(exp.table_(product.name, db=product.domain)).limit(sample)
        rows = mesh.sql(query_.sql(dialect="duckdb"), user=user or default_user()).arrow()
        info["sample"] = rows.to_pylist()
    if fmt == "json":
        click.echo(dumps(info))
        return
    console = stdout_console()
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


@products.command("init")
@click.argument("name", metavar="DOMAIN.PRODUCT")
@click.option("--from", "source", required=True, metavar="PATH_OR_URI",
              help="Parquet file, folder (hive partitions are found) or glob")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="where to write (default: domains/DOMAIN/PRODUCT.odcs.yaml in the mesh)")
@click.option("--force", is_flag=True, help="overwrite an existing contract")
@click.pass_context
def products_init(ctx: click.Context, name: str, source: str, output: Path | None,
                  force: bool) -> None:
    """Write a draft ODCS contract from existing Parquet data, with suggested
    classifications for the owner to confirm."""
    import yaml

    from products.bootstrap import HEADER, check_draft, draft_contract

    obj = ctx.find_object(dict) or {}
    root = Mesh.locate(obj.get("mesh_path")) if output is None else Path.cwd()
    contract = draft_contract(name, source, root)
    domain, product = contract["domain"], contract["dataProduct"]
    target = output or root / "domains" / domain / f"{product}.odcs.yaml"
    check_draft(contract, target, domain, product)
    if target.exists() and not force:
        raise UsageError(f"{target} already exists", hint="use --force to overwrite")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(target) as handle:
        handle.write((HEADER + yaml.safe_dump(contract, sort_keys=False,
                                              allow_unicode=True)).encode())
    click.echo(f"wrote draft contract {target}")
    for prop in contract["schema"][0]["properties"]:
        reason = prop["customProperties"][1]["value"]
        click.echo(f"  {prop['name']:<24} {prop['physicalType']:<16} "
                   f"{prop['classification']:<11} {reason}", err=True)


cli.add_command(reports)


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="duckmesh")


if __name__ == "__main__":
    main()
