"""The CLI's one output layer: every command prints through here.

Rich tables for terminals, one JSON array for ``--format json``, streamed CSV / JSON /
Parquet (written by :mod:`connectors.writers`) for results.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from connectors.writers import STREAM_FORMATS, dumps

FORMATS = ("table", *STREAM_FORMATS)
"""Formats of ``query``: a table on the terminal, or a stream."""


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)


def stdout_console() -> Console:
    """A console on stdout: terminal width on a terminal, unwrapped lines in a pipe."""
    return Console(width=None if sys.stdout.isatty() else 10_000)


def print_rows(rows: list[dict[str, Any]], columns: tuple[str, ...], fmt: str,
               empty: str = "") -> None:
    """Listing output: ``json`` is the whole rows as one array; ``table`` shows ``columns``
    (None shown as ``empty``)."""
    if fmt == "json":
        sys.stdout.write(dumps(rows) + "\n")
        return
    view = Table(header_style="bold")
    for name in columns:
        view.add_column(name, overflow="fold")
    for row in rows:
        view.add_row(*(empty if row[k] is None else str(row[k]) for k in columns))
    stdout_console().print(view)


def preview(reader: pa.RecordBatchReader, max_rows: int) -> tuple[pa.Table, int]:
    """The first ``max_rows`` rows of a stream and how many rows it had in all.

    The rest is counted as it streams by and never held: a terminal preview of a large
    result costs the rows it shows in memory, not the whole result.
    """
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
    console = console or stdout_console()
    shown = table.slice(0, max_rows)
    count = table.num_rows if total is None else total
    view = Table(show_lines=False, header_style="bold")
    for field in table.schema:
        numeric = pa.types.is_integer(field.type) or pa.types.is_floating(field.type) or \
            pa.types.is_decimal(field.type)
        view.add_column(field.name, justify="right" if numeric else "left", overflow="fold")
    for row in shown.to_pylist():
        view.add_row(*(_cell(v) for v in row.values()))
    console.print(view)
    if count > max_rows:
        Console(stderr=True).print(f"({max_rows} of {count} rows shown; use "
                                   "--max-rows, or --format csv/json/parquet for all)")
    else:
        Console(stderr=True).print(f"({count} row{'s' * (count != 1)})")
