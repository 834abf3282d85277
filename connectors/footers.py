"""What a product's files say about its data, from their Parquet footers (never the data).

Footers give the schema, row counts, null counts and compressed column sizes cheaply;
they are cached per file version (path, size, modification time, ETag), so a file that
changes is read again.  Text formats and in-memory tables (the Iceberg fallback) have
facts of their own shape.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.errors import StorageError
from connectors.filesystems import (
    CutShort,
    DeadlineExceeded,
    ObjectChanged,
    current_deadline,
    storage_errors,
)
from connectors.listing import FileInfo, strip_scheme
from connectors.tailcache import read_footer
from connectors.types import duckdb_type, leaf_count, normalize_type


@dataclass(frozen=True)
class ColumnFacts:
    """What the footers say about one column across all files."""

    name: str
    type: str
    """DuckDB spelling, normalized by sqlglot (``INT``, ``BIGINT``, ``DECIMAL(12, 2)``…)."""
    null_count: int | None
    """None when some file has no statistics."""
    partition: bool = False
    compressed_bytes: int = 0
    """Sum of this column's compressed chunk sizes over all files (0: not from footers)."""


@dataclass(frozen=True)
class DataFacts:
    """Schema and size of a product's data, from its files' footers."""

    files: tuple[FileInfo, ...]
    rows: int
    columns: dict[str, ColumnFacts]
    """Keyed by lower-case column name."""
    nulls_known: bool = True
    """False for text formats: their null counts need a scan (a nullValues rule)."""

    @property
    def size(self) -> int:
        """Total bytes."""
        return sum(f.size for f in self.files)

    @property
    def last_modified(self) -> dt.datetime | None:
        """The newest file's modification time."""
        return max((f.modified for f in self.files), default=None)


Footer = tuple[str, str, int | None, int, int | None]
"""(column name, DuckDB type, null count or None, compressed bytes of its chunks, Parquet
field id or None)."""

FileFooter = tuple[int, tuple[Footer, ...], int]
"""(rows, columns, length of the footer in bytes)."""

# Footers by file version: a file that changes (size or time) is read again, and only
# successful reads are kept.
_FOOTERS: dict[tuple[str, tuple[int, int, str]], FileFooter] = {}
_FOOTER_CACHE_SIZE = 8192
_FOOTER_READERS = 16
"""Remote footers read at once: on S3 each is a round trip of tens of milliseconds."""


def _leaf_type(meta: pq.FileMetaData, leaf: int, arrow_type: str) -> str:
    """DuckDB's type of a primitive column where the Parquet logical type says more than
    pyarrow's reading of its footer (a TIME adjusted to UTC, an INTERVAL, a UUID)."""
    column = meta.schema.column(leaf)
    if column.converted_type == "INTERVAL":
        return "INTERVAL"
    if column.logical_type.type in ("UUID", "JSON"):
        return str(column.logical_type.type)
    if column.logical_type.type == "TIME" and '"isAdjustedToUTC":true' in \
            column.logical_type.to_json().replace(" ", ""):
        return "TIMETZ"
    return arrow_type


def _null_count(meta: pq.FileMetaData, leaves: range, nested: bool) -> int | None:
    """Nulls of a top-level column from the statistics of its leaf columns.

    A primitive column has one leaf: its null count.  A nested one (struct, list, map)
    is null only where every leaf is null too, so a leaf without nulls proves the
    column has none; otherwise its own nulls cannot be told apart from its fields' or
    its elements' (and a list's from its empty lists): None, unknown.
    """
    counts: list[int] = []
    for leaf in leaves:
        total = 0
        for rg in range(meta.num_row_groups):
            stats = meta.row_group(rg).column(leaf).statistics
            if stats is None or not stats.has_null_count:
                return None
            total += stats.null_count
        counts.append(total)
    if not nested:
        return counts[0] if counts else None
    return 0 if counts and min(counts) == 0 else None


def _field_id(field: pa.Field) -> int | None:
    raw = (field.metadata or {}).get(b"PARQUET:field_id")
    return int(raw) if raw is not None and raw.lstrip(b"-").isdigit() else None


def _footer(info: FileInfo, fs: Any, guess: int | None = None,
            deadline: float | None = None) -> FileFooter:
    key = (info.path, info.version)
    if key in _FOOTERS:
        return _FOOTERS[key]
    if fs is None:
        meta = pq.read_metadata(info.path)
    else:
        # Read exactly once, kept for DuckDB to reuse (connectors.tailcache).
        tail = read_footer(fs, strip_scheme(info.path), info.version, guess, deadline)
        meta = pq.read_metadata(io.BytesIO(tail))
    schema = meta.schema.to_arrow_schema()
    columns = []
    first = 0
    for field in schema:
        # Statistics are per Parquet leaf column: a struct of two fields is two leaves,
        # so the columns after it are not at their Arrow position.
        leaves = range(first, min(first + leaf_count(field.type), meta.num_columns))
        first += leaf_count(field.type)
        type_ = duckdb_type(field.type)
        if len(leaves) == 1:
            type_ = _leaf_type(meta, leaves[0], type_)
        chunks = sum(meta.row_group(rg).column(leaf).total_compressed_size
                     for rg in range(meta.num_row_groups) for leaf in leaves)
        nested = pa.types.is_nested(field.type)
        columns.append((field.name, type_, _null_count(meta, leaves, nested), chunks,
                        _field_id(field)))
    if len(_FOOTERS) >= _FOOTER_CACHE_SIZE:
        _FOOTERS.clear()
    _FOOTERS[key] = (meta.num_rows, tuple(columns), meta.serialized_size)
    return _FOOTERS[key]


def _footers(product: str, files: tuple[FileInfo, ...], root: str,
             fs: Any) -> list[FileFooter]:
    """Every file's footer, in order; remote ones read in parallel after the first.

    The first remote footer is read exactly (trailer, then footer); its length, with a
    margin, is the guess for the others, which are then one request each when it holds.
    """

    deadline = current_deadline()  # read here: the pool's threads have no context

    def one(info: FileInfo, guess: int | None = None) -> FileFooter:
        try:
            return _footer(info, fs, guess, deadline)
        except DeadlineExceeded:
            raise StorageError("the query's time limit ran out while reading the data's "
                               "footers from storage", product=product,
                               hint="raise engine.timeout_seconds") from None
        except CutShort:
            raise StorageError(f"storage kept cutting its answers short reading data file "
                               f"{_rel(info, root)!r}", product=product,
                               hint="run the query again") from None
        except PermissionError:
            raise StorageError("access denied reading the data", product=product) from None
        except FileNotFoundError:
            raise StorageError(f"data file {_rel(info, root)!r} disappeared while planning",
                               product=product, hint="run the query again") from None
        except ObjectChanged:
            raise StorageError(f"data file {_rel(info, root)!r} changed while planning",
                               product=product, hint="run the query again") from None
        except (pa.ArrowException, ValueError):
            raise StorageError(f"data file {_rel(info, root)!r} is not valid Parquet",
                               product=product) from None
        except storage_errors() as exc:
            raise StorageError(f"could not read data file {_rel(info, root)!r} "
                               f"({type(exc).__name__})", product=product) from None

    if fs is None or len(files) < 2:
        return [one(info) for info in files]
    first = one(files[0])
    guess = first[2] + first[2] // 8 + 256 + 8
    with ThreadPoolExecutor(min(_FOOTER_READERS, len(files) - 1)) as pool:
        rest = list(pool.map(lambda info: one(info, guess), files[1:]))
    return [first, *rest]


def file_footers(product: str, files: tuple[FileInfo, ...], root: str,
                 fs: Any = None) -> list[FileFooter]:
    """Every file's footer facts (rows, columns with their field ids), in order."""
    return _footers(product, files, root, fs)


def _rel(info: FileInfo, root: str) -> str:
    return info.path[len(root):].lstrip("/") if info.path.startswith(root) else "a file"


def clear_caches() -> None:
    """Forget cached footers and tails (benchmarks measuring a cold process use this)."""
    from connectors import tailcache

    _FOOTERS.clear()
    tailcache.clear()


def _partition_values(path: str, root: str) -> dict[str, str]:
    rel = path[len(root):] if path.startswith(root) else path
    values = {}
    for part in rel.strip("/").split("/")[:-1]:
        key, sep, value = part.partition("=")
        if sep:
            values[key.lower()] = unquote(value)
    return values


def _partition_type(values: list[str]) -> str:
    for kind, check in (("BIGINT", int), ("DOUBLE", float)):
        try:
            for value in values:
                check(value)
        except ValueError:
            continue
        return normalize_type(kind)
    try:
        for value in values:
            dt.date.fromisoformat(value)
        return "DATE"
    except ValueError:
        return "VARCHAR"


def text_facts(files: tuple[FileInfo, ...], fmt: str, declared: tuple[tuple[str, str], ...],
               fs: Any = None) -> DataFacts:
    """Facts of CSV / JSON-lines files: which declared columns the first file has.

    Types are the declared ones, enforced when DuckDB reads the files; row and null
    counts would need a full scan, so they are left unknown.
    """
    names: set[str] = set()
    if files:
        opener = fs.open if fs is not None else open
        path = strip_scheme(files[0].path) if fs is not None else files[0].path
        with opener(path, "rb") as handle:
            first = handle.readline().decode("utf-8", errors="replace").strip()
        if fmt == "csv":
            names = {n.strip().strip('"').lower() for n in first.split(",")}
        else:
            try:
                names = {str(k).lower() for k in json.loads(first or "{}")}
            except (ValueError, AttributeError):
                names = set()
    columns = {name.lower(): ColumnFacts(name, normalize_type(type_), None)
               for name, type_ in declared if name.lower() in names}
    return DataFacts(files, -1, columns, nulls_known=False)


def table_facts(table: pa.Table, files: tuple[FileInfo, ...]) -> DataFacts:
    """Facts of an in-memory Arrow table (the Iceberg fallback)."""
    columns = {f.name.lower(): ColumnFacts(f.name, duckdb_type(f.type), table[f.name].null_count)
               for f in table.schema}
    return DataFacts(files, table.num_rows, columns)


def read_facts(product: str, files: tuple[FileInfo, ...], root: str,
               hive: bool, fs: Any = None) -> DataFacts:
    """Schema, rows and null counts of ``files`` from their footers (and hive paths)."""
    rows = 0
    columns: dict[str, ColumnFacts] = {}
    partitions: dict[str, list[str]] = {}
    for info, (count, schema, _) in zip(files, _footers(product, files, root, fs),
                                        strict=True):
        rows += count
        for name, type_, nulls, chunks, _ in schema:
            key = name.lower()
            seen = columns.get(key)
            if seen is None:
                columns[key] = ColumnFacts(name, type_, nulls, compressed_bytes=chunks)
                continue
            # Files that disagree on a type make the column's type "A | B": it then
            # matches no declared type and conformance reports it.
            types = seen.type.split(" | ")
            merged = seen.type if type_ in types else f"{seen.type} | {type_}"
            total = None if nulls is None or seen.null_count is None else seen.null_count + nulls
            columns[key] = ColumnFacts(seen.name, merged, total,
                                       compressed_bytes=seen.compressed_bytes + chunks)
        if hive:
            for key, value in _partition_values(info.path, root).items():
                partitions.setdefault(key, []).append(value)
    for key, values in partitions.items():
        if key not in columns:
            # Null counts of partition columns are per file, not per row: unknown if any.
            nulls = None if "__HIVE_DEFAULT_PARTITION__" in values else 0
            columns[key] = ColumnFacts(key, _partition_type(values), nulls, partition=True)
    return DataFacts(files, rows, columns)
