"""The CLI's one output layer: every command prints through here.

Rich tables for terminals (:func:`print_table`, :func:`print_rows`, :func:`render_table`),
``column = value`` blocks for wide results (:func:`render_lines`), one JSON document for
``--format json`` (:func:`print_json`), streamed CSV / JSON / Parquet / Markdown / xlsx
results (:func:`emit`, written by :mod:`connectors.writers`), reports written to a
file or stdout (:func:`write_text`), and the one-line messages on stderr
(:func:`warn`, :func:`fail`, the progress bar).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console, OverflowMethod
from rich.table import Table
from rich.text import Text

from connectors.writers import STREAM_FORMATS, atomic_file, dumps, text_cell, write_stream
from federation.errors import QueryInterrupted, UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from federation.result import Result
    from federation.server.client import RemoteResult

FORMATS = ("table", "line", *STREAM_FORMATS)
"""Formats of ``query``: a table or ``column = value`` lines on the terminal, or a stream."""

_cell = text_cell


# -- messages on stderr -------------------------------------------------------------------

def fail(message: str, code: int) -> NoReturn:
    """Print ``duckmesh: error: MESSAGE`` (one line, on stderr) and exit with ``code``."""
    click.echo(f"duckmesh: error: {message}", err=True)
    sys.exit(code)


def warn(message: str) -> None:
    """A non-fatal finding, one line on stderr; stdout stays clean for the data."""
    click.echo(f"duckmesh: warning: {message}", err=True)


@contextlib.contextmanager
def progress() -> Iterator[Callable[[float], None] | None]:
    """A progress bar on stderr while a query runs, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    # Only on a terminal: scripts and pipes never load rich's progress machinery.
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("query"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("query", total=100)
        yield lambda pct: bar.update(task, completed=pct)


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a service manager stopping the process, ``kill``) stops the running query
    as interrupted: DuckDB is interrupted, the file being written is removed, the query's
    audit record is completed as ``interrupted``, and the process exits 143 with one line.
    (SIGKILL cannot be handled: its record stays ``running`` and readers show it as
    interrupted.)

    Ctrl-C (SIGINT) stops it too, wherever it is: Python raises KeyboardInterrupt only
    between bytecodes, and DuckDB may be computing inside a result stream (or may take the
    signal as the end of a small planning lookup and go on), so a thread woken by the
    signal itself (``signal.set_wakeup_fd``) interrupts DuckDB's connections, again every
    half second until the command ends: exit 130, audited as interrupted."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from federation.engines.duckdb import TERMINATING, interrupt_all

    seen: set[int] = set()
    done = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        seen.add(signum)
        interrupt_all()
        fail("interrupted (SIGTERM); the query's audit record says so", 128 + signum)

    def watch(read: int) -> None:
        while signal.SIGINT not in os.read(read, 64):
            if done.is_set():
                return
        seen.add(signal.SIGINT)
        interrupt_all()
        while not done.wait(0.5):
            interrupt_all()

    read, write = os.pipe()
    os.set_blocking(write, False)
    previous = signal.signal(signal.SIGTERM, stop)
    previous_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    watcher = threading.Thread(target=watch, args=(read,), daemon=True)
    watcher.start()
    try:
        yield
    except QueryInterrupted:
        if signal.SIGINT in seen:
            raise KeyboardInterrupt from None
        if not TERMINATING.is_set():
            raise
        # The handler ran inside DuckDB, which turned its exit into an interrupted query:
        # its line is printed, the record completed; end as the handler meant to.
        sys.exit(128 + signal.SIGTERM)
    finally:
        done.set()
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGTERM, previous)
        os.write(write, b"\0")  # wakes the watcher if it still waits for a signal
        watcher.join(2)
        os.close(write)
        os.close(read)


# -- tables on stdout ---------------------------------------------------------------------

def stdout_console() -> Console:
    """A console on stdout: terminal width on a terminal, unwrapped lines in a pipe."""
    return Console(width=None if sys.stdout.isatty() else 10_000)


Cell = str | Text
"""A table cell: plain text, shown as it is, or a styled :class:`rich.text.Text`."""


def print_table(rows: Iterable[Sequence[Cell]], columns: Sequence[str], *,
                title: str | None = None, justify_right: Collection[int | str] = (),
                overflow: OverflowMethod = "fold", empty: str | None = None,
                console: Console | None = None) -> None:
    """Print ``rows`` under the headers ``columns``.

    A ``str`` cell is printed as it is: values from data, contracts and the audit log
    may hold ``[...]``, which rich would otherwise read as markup and restyle or drop.
    Styling comes only from cells that are :class:`rich.text.Text` already.

    ``justify_right``: the columns aligned right (counts, sizes), by name or position.
    ``empty``: printed instead of the table when there are no rows (by default an empty
    table is printed).
    """
    rows = list(rows)
    console = console or stdout_console()
    if not rows and empty is not None:
        console.print(empty)
        return
    view = Table(title=title, header_style="bold")
    for i, name in enumerate(columns):
        right = i in justify_right or name in justify_right
        view.add_column(name, justify="right" if right else "left", overflow=overflow)
    for row in rows:
        view.add_row(*(Text(cell) if isinstance(cell, str) else cell for cell in row))
    console.print(view)


def print_rows(rows: list[dict[str, Any]], columns: tuple[str, ...], fmt: str,
               empty: str = "") -> None:
    """Listing output: ``json`` is the whole rows as one array; ``table`` shows ``columns``
    (None shown as ``empty``)."""
    if fmt == "json":
        print_json(rows)
        return
    print_table([[empty if row[k] is None else str(row[k]) for k in columns] for row in rows],
                columns)


def preview(reader: pa.RecordBatchReader, max_rows: int) -> tuple[pa.Table, int]:
    """The first ``max_rows`` rows of a stream and how many rows it had in all.

    The rest is counted as it streams by and never held: a terminal preview of a large
    result costs the rows it shows in memory, not the whole result.
    """
    import pyarrow as pa

    kept: list[pa.RecordBatch] = []
    held = total = 0
    for batch in reader:
        total += batch.num_rows
        if held < max_rows:
            part = batch.slice(0, max_rows - held)
            kept.append(part)
            held += part.num_rows
    return pa.Table.from_batches(kept, schema=reader.schema), total


def render_table(table: pa.Table, max_rows: int, console: Console | None = None,
                 total: int | None = None) -> None:
    """Print up to ``max_rows`` rows as a table; a note on stderr says what was left out.

    ``total``: the result's row count when ``table`` holds only its first rows.
    """
    import pyarrow as pa

    shown = table.slice(0, max_rows)
    count = table.num_rows if total is None else total
    # By position: a result may repeat a column name with another type.
    numeric = {i for i, field in enumerate(table.schema)
               if pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
               or pa.types.is_decimal(field.type)}
    # Column by column: rows as dicts would keep one value of a repeated name.
    columns = [column.to_pylist() for column in shown.columns]
    print_table(([_cell(v) for v in row] for row in zip(*columns, strict=True)),
                table.schema.names, justify_right=numeric, console=console)
    if count > max_rows:
        Console(stderr=True).print(f"({max_rows} of {count} rows shown; use "
                                   "--max-rows, or --format csv/json/parquet for all)")
    else:
        Console(stderr=True).print(f"({count} row{'s' * (count != 1)})")


def render_lines(table: pa.Table, max_rows: int, console: Console | None = None,
                 total: int | None = None) -> None:
    """Print up to ``max_rows`` rows as ``column = value`` lines, one block per row (the
    DuckDB CLI's ``.mode line``): a result of 100 columns stays readable."""
    console = console or stdout_console()
    shown = table.slice(0, max_rows)
    names = table.schema.names
    width = max((len(n) for n in names), default=0)
    columns = [column.to_pylist() for column in shown.columns]
    for i, row in enumerate(zip(*columns, strict=True)):
        if i:
            console.print("", markup=False)
        for name, value in zip(names, row, strict=True):
            console.print(f"{name:>{width}} = {_cell(value)}", markup=False, highlight=False,
                          soft_wrap=True)
    count = table.num_rows if total is None else total
    if count > max_rows:
        Console(stderr=True).print(f"({max_rows} of {count} rows shown; use --max-rows)")
    else:
        Console(stderr=True).print(f"({count} row{'s' * (count != 1)})")


# -- documents and streams ----------------------------------------------------------------

def print_json(value: Any) -> None:
    """``value`` as one JSON document on stdout (duckmesh's encoding of dates, decimals)."""
    click.echo(dumps(value))


def write_text(text: str, output: Path | None) -> None:
    """``text`` on stdout, or written to ``output`` atomically (all of it or nothing)."""
    if output is None:
        click.echo(text)
        return
    with atomic_file(output, sweep=True) as handle:
        handle.write(text.encode())


OUTPUT_SUFFIXES = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet",
                   ".md": "markdown", ".markdown": "markdown", ".xlsx": "xlsx"}
"""File extensions that say the format of ``query --output`` when ``--format`` is not given."""


def output_format(fmt: str, output: Path | None, *, given: bool) -> str:
    """The format ``query`` writes: ``fmt`` when given (or without ``--output``), else the
    one the output file's extension names (``-o x.parquet`` writes Parquet)."""
    if output is None:
        return fmt
    if given:
        if fmt not in STREAM_FORMATS:
            raise UsageError(f"--output needs --format {', '.join(STREAM_FORMATS)}")
        return fmt
    inferred = OUTPUT_SUFFIXES.get(output.suffix.lower())
    if inferred is None:
        raise UsageError(f"cannot tell the format of {output.name!r} from its extension",
                         hint="name it .csv, .json, .parquet, .md or .xlsx, or give --format")
    return inferred


def emit(result: Result | RemoteResult, fmt: str, output: Path | None, stamp: bool) -> None:
    """Stream a query result as CSV, JSON or Parquet to ``output`` or stdout.

    The stamp and the column lineage travel as file metadata; with ``stamp`` a JSON
    result is wrapped as ``{"stamp": …, "rows": […]}``.
    """
    from federation.pipeline.stamp import STAMP_METADATA_KEY

    metadata = {STAMP_METADATA_KEY: dumps(result.stamp),
                "duckmesh.lineage": dumps([c.as_dict() for c in result.lineage()])}
    wrap = result.stamp if stamp and fmt == "json" else None
    if output is not None:
        with atomic_file(output, sweep=True) as handle:
            rows = write_stream(result.reader(), fmt, handle, metadata, stamp=wrap)
        click.echo(f"wrote {rows} rows to {output}", err=True)
        return
    if fmt in ("parquet", "xlsx") and sys.stdout.isatty():
        raise UsageError(f"{fmt} output needs --output FILE (or a pipe)")
    write_stream(result.reader(), fmt, sys.stdout.buffer, metadata, stamp=wrap)
    sys.stdout.flush()
