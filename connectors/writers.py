"""Writing data out: Arrow streams as CSV, JSON, Parquet, Markdown or Excel (xlsx), and
files replaced atomically.

Every format streams record batches, so a large result never has to fit in memory
(xlsx rows are streamed into the workbook); a file appears under its name only when it
is complete.  Every writer of the project (CLI output, reports, the audit store,
contracts drafted by ``init``) goes through :func:`atomic_file`.  Terminal rendering
(rich tables) is the CLI's (``federation.cli.render``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from connectors.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow is imported by the writers that use it: atomic_file, dumps and text_cell serve
# commands (and the audit log) that never touch Arrow.

STREAM_FORMATS = ("csv", "json", "parquet", "markdown", "xlsx")
"""Formats :func:`write_stream` writes."""


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
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    """JSON text of ``value`` with duckmesh's encoding of dates, decimals and bytes."""
    return json.dumps(value, default=json_default, ensure_ascii=False)


_SEP = "~"
"""Separates host, process id and a random part in a temporary file's name (no host
name holds it)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def remove_stale_partials(path: Path) -> list[Path]:
    """Remove the ``.<name>.….partial`` files beside ``path`` that writers on this host
    left when they were killed (their process is gone); the removed files.

    Files of live writers, and of writers on other hosts (a shared folder), are kept.
    """
    host = socket.gethostname()
    removed = []
    for candidate in path.parent.glob(f".{glob_escape(path.name)}.*.partial"):
        middle = candidate.name[len(path.name) + 2: -len(".partial")]
        parts = middle.split(_SEP)
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        if int(parts[1]) != os.getpid() and not _alive(int(parts[1])):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


@contextlib.contextmanager
def atomic_file(path: Path, *, sync: bool = True, sweep: bool = False) -> Iterator[IO[bytes]]:
    """Write to a temporary file beside ``path``; rename into place only on success.

    The data is synced before the rename, so a crash never leaves a renamed but empty or
    partial file; a write that fails leaves nothing.  A process killed while writing
    leaves a hidden ``.<name>.<host>~<pid>~<random>.partial`` beside it; with ``sweep``
    (the CLI's ``--output``), the next write of the same file removes it
    (:func:`remove_stale_partials`: it lists the folder, too slow for the audit log's).
    ``sync=False`` skips the fsync: the file then survives a killed process, not a crashed
    machine.
    """
    path = path.resolve()
    if path.is_dir():
        raise UsageError(f"{path} is a directory")
    if not path.parent.is_dir():
        raise UsageError(f"folder {path.parent} does not exist")
    if sweep:
        with contextlib.suppress(OSError):
            remove_stale_partials(path)
    middle = _SEP.join((socket.gethostname(), str(os.getpid()), uuid.uuid4().hex[:12]))
    tmp = str(path.parent / f".{path.name}.{middle}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            if sync:
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


def _as_text(arrow_type: pa.DataType) -> bool:
    """Types CSV has no cell for: nested values, intervals, bytes (written as text)."""
    import pyarrow as pa

    return (pa.types.is_nested(arrow_type) or pa.types.is_interval(arrow_type)
            or pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type)
            or pa.types.is_fixed_size_binary(arrow_type)
            or (pa.types.is_dictionary(arrow_type) and _as_text(arrow_type.value_type)))


def _csv_column(column: pa.Array) -> pa.Array:
    """A column as CSV text: nested values and intervals as the JSON duckmesh writes for
    them (``[1, 2]``, ``{"a": 1}``), bytes as hex, as in JSON output."""
    import pyarrow as pa

    if not _as_text(column.type):
        return column
    return pa.array([None if v is None else v.hex() if isinstance(v, bytes) else dumps(v)
                     for v in column.to_pylist()], pa.string())


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(f.name, pa.string()) if _as_text(f.type) else f
                      for f in schema])


def _write_csv(reader: pa.RecordBatchReader, out: IO[bytes]) -> int:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rows = 0
    schema = _csv_schema(reader.schema)
    with pacsv.CSVWriter(out, schema) as writer:
        for batch in reader:
            if schema != batch.schema:
                batch = pa.RecordBatch.from_arrays([_csv_column(c) for c in batch.columns],
                                                   schema=schema)
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def _write_parquet(reader: pa.RecordBatchReader, out: IO[bytes],
                   metadata: dict[str, str] | None) -> int:
    import pyarrow.parquet as pq

    schema = reader.schema
    if metadata:
        schema = schema.with_metadata({**(schema.metadata or {}), **metadata})
    rows = 0
    with pq.ParquetWriter(out, schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def text_cell(value: Any) -> str:
    """One value as text for people: NULL, ISO dates, nested values as their JSON."""
    if value is None:
        return "NULL"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | dict | tuple):
        return dumps(value)
    return str(value)


def _markdown_cell(value: Any) -> str:
    # A pipe would end the cell and a line break the row: escape both.
    return text_cell(value).replace("\\", "\\\\").replace("|", "\\|") \
        .replace("\r\n", "<br>").replace("\n", "<br>")


def _write_markdown(reader: pa.RecordBatchReader, out: IO[bytes]) -> int:
    """A GitHub-flavoured Markdown table; numbers aligned right."""
    import pyarrow as pa

    names = [_markdown_cell(n) for n in reader.schema.names]
    right = [pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
             or pa.types.is_decimal(f.type) for f in reader.schema]
    out.write(("| " + " | ".join(names) + " |\n").encode())
    out.write(("|" + "|".join("---:" if r else "---" for r in right) + "|\n").encode())
    rows = 0
    for batch in reader:
        columns = [c.to_pylist() for c in batch.columns]
        for row in zip(*columns, strict=True):
            out.write(("| " + " | ".join(_markdown_cell(v) for v in row) + " |\n").encode())
            rows += 1
    return rows


def _excel_value(value: Any) -> Any:
    """A value Excel holds as it is (numbers, text, dates, booleans), else its text."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)  # Excel has no time zones
    if isinstance(value, str):
        # Characters XML 1.0 cannot hold would make openpyxl fail mid-file.
        return _XML_ILLEGAL.sub("\ufffd", value)
    if value is None or isinstance(value, bool | int | float | dt.date | dt.time):
        return value
    return text_cell(value)


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _excel_cell(sheet: Any, value: Any) -> Any:
    """A cell of data: text is always text, so a value starting with ``=`` is never run
    as a formula when the file is opened."""
    from openpyxl.cell import WriteOnlyCell

    value = _excel_value(value)
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@")):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        return cell
    return value


def _write_xlsx(reader: pa.RecordBatchReader, out: IO[bytes]) -> int:
    """One worksheet, written row by row (openpyxl's write-only mode keeps memory flat)."""
    try:
        from openpyxl import Workbook
    except ImportError:
        raise UsageError("xlsx output needs openpyxl",
                         hint="pip install 'duckmesh[reports]'") from None
    book = Workbook(write_only=True)
    sheet = book.create_sheet("result")
    sheet.append(reader.schema.names)
    rows = 0
    for batch in reader:
        columns = [c.to_pylist() for c in batch.columns]
        for row in zip(*columns, strict=True):
            sheet.append([_excel_cell(sheet, v) for v in row])
            rows += 1
    book.save(out)
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
    if fmt == "markdown":
        return _write_markdown(reader, out)
    if fmt == "xlsx":
        return _write_xlsx(reader, out)
    raise UsageError(f"format {fmt!r} cannot be streamed")
