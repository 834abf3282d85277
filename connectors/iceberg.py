"""Iceberg products: pyiceberg plans the scan, DuckDB's Parquet reader reads the files.

The catalog is a pyiceberg SQL catalog on SQLite by default (``catalogUrl:
sqlite:///iceberg/catalog.db``, relative to the mesh) or a REST catalog (``http(s)://``).
Pushable predicates of the governed query prune partitions and files through the
manifests' statistics; the planned file list is what DuckDB reads.

Columns are read by Iceberg field id, never by name: the table's current schema (also
for a pinned or ``--as-of`` snapshot: the columns its contract describes) becomes DuckDB's
``read_parquet(…, schema = MAP {field id: {name, type, default_value}})``, so a column
dropped and added again reads NULL from old files, a renamed one reads its old files, and
promoted types (int → long, float → double, wider decimals) are cast.  What DuckDB cannot
do that way falls back to pyiceberg's own reader: delete files, files without field ids
(a name mapping), identity-partition values kept only in the manifests, and evolved
schemas with nested columns (DuckDB maps nested fields by name).

A mesh-relative ``warehouse`` makes the mesh movable: the table's recorded absolute
locations are read under the mesh's warehouse (:mod:`connectors.iceberg_io`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.errors import ConfigError, StorageError, UsageError
from connectors.filesystems import (
    STORAGE_ERRORS,
    CutShort,
    DeadlineExceeded,
    current_deadline,
    filesystem,
)
from connectors.footers import ColumnFacts, DataFacts, file_footers, table_facts
from connectors.iceberg_io import DEADLINE, TABLE, TARGET, relocate
from connectors.listing import FileInfo
from connectors.storage import resolve_location
from connectors.types import normalize_type

STORAGE_OR_VALUE_ERRORS: tuple[type[BaseException], ...] = (*STORAGE_ERRORS, ValueError)


@dataclass(frozen=True)
class IcebergColumn:
    """A column of the scan's projected schema: what DuckDB reads, by field id."""

    field_id: int
    name: str
    type: str
    """DuckDB spelling."""
    nested: bool = False


@dataclass(frozen=True)
class IcebergPlan:
    """What pyiceberg planned: the files to read (or the fallback table), and the snapshot."""

    files: tuple[FileInfo, ...]
    snapshot_id: int | None
    snapshot_time: dt.datetime | None
    total_files: int
    """Data files in the snapshot before pruning."""
    location: str
    fallback: pa.Table | None
    """Set when DuckDB cannot read the files by field id (see the module docstring)."""
    fallback_reason: str | None = None
    columns: tuple[IcebergColumn, ...] = ()
    """The projected schema, in order: DuckDB reads the files through it, by field id."""
    facts: DataFacts | None = None
    """Rows, types and null counts of the projected columns (footers by field id)."""
    filesystem: Any = None
    """The filesystem of a remote warehouse (None: local disk)."""


_PRIMITIVES = {
    "boolean": "BOOLEAN", "int": "INTEGER", "long": "BIGINT", "float": "FLOAT",
    "double": "DOUBLE", "date": "DATE", "time": "TIME", "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMPTZ", "timestamp_ns": "TIMESTAMP_NS",
    "timestamptz_ns": "TIMESTAMPTZ_NS", "string": "VARCHAR", "uuid": "UUID",
    "binary": "BLOB",
}


def iceberg_type(kind: Any) -> str:
    """The DuckDB type of an Iceberg type (what DuckDB reads its Parquet data as)."""
    from pyiceberg import types as it

    if isinstance(kind, it.StructType):
        fields = ", ".join(f'"{f.name}" {iceberg_type(f.field_type)}' for f in kind.fields)
        return f"STRUCT({fields})"
    if isinstance(kind, it.ListType):
        return iceberg_type(kind.element_type) + "[]"
    if isinstance(kind, it.MapType):
        return f"MAP({iceberg_type(kind.key_type)}, {iceberg_type(kind.value_type)})"
    if isinstance(kind, it.DecimalType):
        return f"DECIMAL({kind.precision}, {kind.scale})"
    if isinstance(kind, it.FixedType):
        return "BLOB"
    return _PRIMITIVES.get(str(kind), str(kind).upper())


def io_properties(storage: Any) -> dict[str, str]:
    """pyiceberg FileIO properties so an S3 warehouse uses the mesh's S3 settings."""
    s3 = getattr(storage, "s3", None)
    props = {"py-io-impl": "pyiceberg.io.fsspec.FsspecFileIO"}
    if s3 is not None and s3.endpoint_url:
        props["s3.endpoint"] = s3.endpoint_url
    if s3 is not None and s3.region:
        props["s3.region"] = s3.region
    if s3 is not None and s3.anonymous:
        props["s3.anonymous"] = "true"
    return props


def _catalog(server: dict[str, Any], root: Path, storage: Any = None,
             identifier: str | None = None) -> Any:
    url = str(server.get("catalogUrl") or "")
    name = str(server.get("catalog") or "duckmesh")
    warehouse = server.get("warehouse")
    relocation: dict[str, str] = {}
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = "sqlite:///" + str((root / url.removeprefix("sqlite:///")).resolve())
    if isinstance(warehouse, str) and "://" not in warehouse and not warehouse.startswith("/"):
        warehouse = (root / warehouse).resolve().as_uri()
        if identifier is not None:
            # The mesh may have moved since the table was written (copied, cloned).
            namespace, table = identifier.rsplit(".", 1)
            relocation = {TABLE: f"{namespace}/{table}", TARGET: warehouse}
    # Reads relocate (when the warehouse is the mesh's own) and end by the query's deadline.
    relocation["py-io-impl"] = "connectors.iceberg_io.RelocatingFileIO"
    deadline = current_deadline()
    if deadline is not None:
        relocation[DEADLINE] = repr(deadline)
    try:
        if url.startswith("sqlite:") or url.startswith(("postgresql:", "mysql:")):
            from pyiceberg.catalog.sql import SqlCatalog

            options = {"uri": url, **({"warehouse": warehouse} if warehouse else {}),
                       **io_properties(storage), **relocation}
            return SqlCatalog(name, **options)
        if url.startswith(("http://", "https://")):
            from connectors.iceberg_io import BoundedRestCatalog

            return BoundedRestCatalog(name, uri=url,
                                      **({"warehouse": warehouse} if warehouse else {}),
                                      **{**io_properties(storage), **relocation})
    except ImportError:
        raise ConfigError("Iceberg products need pyiceberg",
                          hint="pip install 'pyiceberg[sql-sqlite,pyarrow]'") from None
    raise ConfigError(f"unsupported Iceberg catalogUrl {url!r} (use sqlite:///… or http(s)://…)")


def load_table(product: str, server: dict[str, Any], root: Path, storage: Any = None) -> Any:
    """The pyiceberg table behind ``product`` (table name = product name)."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    namespace = server.get("namespace") or product.split(".")[0]
    identifier = f"{namespace}.{product.split('.')[1]}"
    try:
        return _catalog(server, root, storage, identifier).load_table(identifier)
    except (NoSuchTableError, NoSuchNamespaceError):
        raise StorageError(f"Iceberg table {identifier} not found in the catalog",
                           product=product) from None
    except (DeadlineExceeded, CutShort) as exc:
        raise _storage_fault(exc, product, f"Iceberg table {identifier}'s metadata") from None
    except STORAGE_OR_VALUE_ERRORS as exc:
        raise StorageError(f"could not load Iceberg table {identifier} "
                           f"({type(exc).__name__})", product=product) from None


def _storage_fault(exc: OSError, product: str, what: str) -> StorageError:
    """One line for a read that ran past the query's deadline or kept being cut short."""
    if isinstance(exc, DeadlineExceeded):
        return StorageError(f"the query's time limit ran out while reading {what} from "
                            "storage", product=product, hint="raise engine.timeout_seconds")
    return StorageError(f"storage kept cutting its answers short reading {what}",
                        product=product, hint="run the query again")


def _snapshot(table: Any, product: str, as_of: str | int | None) -> Any:
    if as_of is None:
        return table.current_snapshot()
    text = str(as_of)
    if text.isdigit():  # a snapshot id
        snapshot = table.snapshot_by_id(int(text))
        if snapshot is None:
            raise UsageError(f"{product} has no snapshot {text}", product=product)
        return snapshot
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of takes a snapshot id or an ISO timestamp, not {text!r}") \
            from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    millis = int(when.timestamp() * 1000)
    chosen = None
    for entry in table.metadata.snapshot_log:
        if entry.timestamp_ms <= millis:
            chosen = entry.snapshot_id
    if chosen is None:
        raise UsageError(f"{product} has no snapshot at or before {text}", product=product)
    return table.snapshot_by_id(chosen)


def _local(path: str) -> str:
    return path.removeprefix("file://")


def to_iceberg(predicates: list[tuple[str, str, Any]]) -> Any:
    """(column, op, value) triples as one pyiceberg expression (None if there are none)."""
    from pyiceberg import expressions

    # pyiceberg's expression classes are pydantic models whose generated signatures
    # mypy cannot read; they take (term, value) positionally at run time.
    ix: Any = expressions

    ops = {"eq": ix.EqualTo, "ne": ix.NotEqualTo, "lt": ix.LessThan, "le": ix.LessThanOrEqual,
           "gt": ix.GreaterThan, "ge": ix.GreaterThanOrEqual}
    parts: list[Any] = []
    for column, op, value in predicates:
        if op in ops:
            parts.append(ops[op](column, value))
        elif op == "in":
            parts.append(ix.In(column, set(value)))
        elif op == "between":
            parts.append(ix.And(ix.GreaterThanOrEqual(column, value[0]),
                                ix.LessThanOrEqual(column, value[1])))
        elif op == "is_null":
            parts.append(ix.IsNull(column))
        elif op == "not_null":
            parts.append(ix.NotNull(column))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else ix.And(*parts)


def _identity_sources(table: Any, spec_id: int) -> set[int]:
    """Field ids an identity partition of spec ``spec_id`` takes its values from."""
    from pyiceberg.transforms import IdentityTransform

    spec = table.specs().get(spec_id)
    return {f.source_id for f in spec.fields if isinstance(f.transform, IdentityTransform)} \
        if spec is not None else set()


def _mapped_facts(product: str, table: Any, tasks: list[Any], files: tuple[FileInfo, ...],
                  columns: tuple[IcebergColumn, ...], location: str,
                  fs: Any) -> tuple[DataFacts | None, str | None]:
    """Facts of the projected columns from the files' footers, matched by field id; or why
    DuckDB cannot read the files by field id."""
    footers = file_footers(product, files, location, fs)
    nulls: dict[int, int | None] = {c.field_id: 0 for c in columns}
    sizes: dict[int, int] = {c.field_id: 0 for c in columns}
    rows = 0
    for task, (count, schema, _) in zip(tasks, footers, strict=True):
        rows += count
        by_id = {field_id: (n, size) for _, _, n, size, field_id in schema
                 if field_id is not None}
        if not by_id:
            return None, "data files without field ids (read through the name mapping)"
        identity = _identity_sources(table, task.file.spec_id)
        for column in columns:
            if column.field_id not in by_id:
                if column.field_id in identity:
                    return None, "partition values kept only in the manifests"
                # A column added after the file was written: NULL in all its rows.
                seen = nulls[column.field_id]
                nulls[column.field_id] = None if seen is None else seen + count
                continue
            n, size = by_id[column.field_id]
            seen = nulls[column.field_id]
            nulls[column.field_id] = None if seen is None or n is None else seen + n
            sizes[column.field_id] += size
    facts = {c.name.lower(): ColumnFacts(c.name, c.type, nulls[c.field_id],
                                         compressed_bytes=sizes[c.field_id]) for c in columns}
    return DataFacts(files, rows, facts), None


def plan_iceberg(product: str, server: dict[str, Any], root: Path, *, storage: Any = None,
                 predicate: Any = None, as_of: str | int | None = None) -> IcebergPlan:
    """Plan an Iceberg scan: pruned files of one snapshot, read by field id (or the
    fallback table).

    Every snapshot, the current one or a pinned or ``as_of`` one, is read through the
    table's current schema — the one its contract describes and governance classifies —
    by field id: a column renamed since reads under its new name, one added since is NULL.
    """
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan

    table = load_table(product, server, root, storage)
    snapshot = _snapshot(table, product, as_of)
    where = relocate(table.location(), table.io.properties)
    location = _local(where).rstrip("/") + "/"
    resolved = resolve_location(location.rstrip("/"), root)
    fs = None if resolved.is_local else filesystem(resolved.scheme, storage)
    pinned = {"snapshot_id": snapshot.snapshot_id} if snapshot is not None and \
        as_of is not None else {}
    try:
        schema = table.schema()
        columns = tuple(IcebergColumn(f.field_id, f.name,
                                      normalize_type(iceberg_type(f.field_type)),
                                      not f.field_type.is_primitive) for f in schema.fields)
        if snapshot is None:
            return IcebergPlan((), None, None, 0, location, None, columns=columns,
                               filesystem=fs)
        when = dt.datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=dt.UTC)
        everything = list(table.scan(**pinned).plan_files())
        try:
            scan = table.scan(row_filter=predicate or AlwaysTrue(), **pinned)
            tasks = list(scan.plan_files())
        except (ValueError, TypeError):
            # A literal that does not bind to the column's type: plan without pruning.
            scan = table.scan(**pinned)
            tasks = everything
        nanos = int(when.timestamp() * 1e9)
        files = tuple(FileInfo(_local(relocate(t.file.file_path, table.io.properties)),
                               int(t.file.file_size_in_bytes), nanos) for t in tasks)
        facts, reason = None, None
        if not tasks:
            reason = "no data files match"  # an empty table still has its columns
        elif any(task.delete_files for task in tasks):
            reason = "delete files"
        elif len(table.schemas()) > 1 and any(c.nested for c in columns):
            reason = "schema evolved around nested columns (mapped by field id)"
        else:
            facts, reason = _mapped_facts(product, table, tasks, files, columns, location, fs)
        # pyiceberg's own reader, through the same (current) schema.
        fallback = ArrowScan(table.metadata, table.io, schema, AlwaysTrue()).to_table(tasks) \
            if reason else None
    except (DeadlineExceeded, CutShort) as exc:
        raise _storage_fault(exc, product, "the Iceberg table's manifests and files") from None
    except STORAGE_OR_VALUE_ERRORS as exc:
        raise StorageError(f"could not plan the Iceberg scan ({type(exc).__name__})",
                           product=product) from None
    if fallback is not None:
        facts = table_facts(fallback, files)
    return IcebergPlan(files, snapshot.snapshot_id, when, len(everything), location, fallback,
                       reason, columns, facts, fs)


def open_catalog(server: dict[str, Any], root: Path, storage: Any = None) -> Any:
    """The pyiceberg catalog a contract's Iceberg ``server`` names (for writers: derived
    products publish their snapshots through it)."""
    return _catalog(server, root, storage)
