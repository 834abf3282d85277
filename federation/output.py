"""One output layer for every command: table, CSV, JSON, Parquet; files written atomically.

CSV, JSON and Parquet stream record batches, so a large result never has to fit in
memory; a file appears under its name only when it is complete.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from connectors.errors import UsageError

FORMATS = ("table", "csv", "json", "parquet")


def json_default(value: Any) -> Any:
    """JSON encoding for the Python values Arrow produces."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    """JSON text of ``value`` with duckmesh's encoding of dates, decimals and bytes."""
    return json.dumps(value, default=json_default, ensure_ascii=False)


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """Write to a temporary file beside ``path``; rename into place only on success.

    The data is synced before the rename, so a crash never leaves a renamed but empty or
    partial file; a write that fails leaves nothing (a killed process: only a hidden
    ``.<name>.….partial`` beside it).
    """
    path = path.resolve()
    if path.is_dir():
        raise UsageError(f"{path} is a directory")
    if not path.parent.is_dir():
        raise UsageError(f"folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json(reader: pa.RecordBatchReader, out: IO[bytes],
                stamp: dict[str, Any] | None = None) -> int:
    rows = 0
    if stamp is not None:
        out.write(b'{"stamp": ' + dumps(stamp).encode() + b',\n"rows": ')
    out.write(b"[")
    for batch in reader:
        for row in batch.to_pylist():
            out.write((b",\n" if rows else b"\n") + dumps(row).encode())
            rows += 1
    out.write(b"\n]" if rows else b"]")
    out.write(b"}\n" if stamp is not None else b"\n")
    return rows


def _write_csv(reader: pa.RecordBatchReader, out: IO[bytes]) -> int:
    rows = 0
    with pacsv.CSVWriter(out, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def _write_parquet(reader: pa.RecordBatchReader, out: IO[bytes],
                   metadata: dict[str, str] | None) -> int:
    schema = reader.schema
    if metadata:
        schema = schema.with_metadata({**(schema.metadata or {}), **metadata})
    rows = 0
    with pq.ParquetWriter(out, schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def write_stream(reader: pa.RecordBatchReader, fmt: str, out: IO[bytes],
                 metadata: dict[str, str] | None = None, *,
                 stamp: dict[str, Any] | None = None) -> int:
    """Write every batch of ``reader`` to ``out`` in ``fmt``; the number of rows written.

    ``metadata`` goes into Parquet file metadata; ``stamp`` wraps JSON output as
    ``{"stamp": …, "rows": […]}``.
    """
    if fmt == "json":
        return _write_json(reader, out, stamp)
    if fmt == "csv":
        return _write_csv(reader, out)
    if fmt == "parquet":
        return _write_parquet(reader, out, metadata)
    raise UsageError(f"format {fmt!r} cannot be streamed")


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
