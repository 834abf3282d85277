"""Iceberg products: pyiceberg plans the scan, DuckDB's Parquet reader reads the files.

The catalog is a pyiceberg SQL catalog on SQLite by default (``catalogUrl:
sqlite:///iceberg/catalog.db``, relative to the mesh) or a REST catalog (``http(s)://``).
Pushable predicates of the governed query prune partitions and files through the
manifests' statistics; the planned file list is what DuckDB reads.  Two cases DuckDB's
reader cannot do by name alone — delete files, and files written under an older schema
(columns renamed or added, mapped by field id) — fall back to pyiceberg's own reader.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.errors import ConfigError, StorageError, UsageError
from connectors.filesystems import STORAGE_ERRORS
from connectors.listing import FileInfo

STORAGE_OR_VALUE_ERRORS: tuple[type[BaseException], ...] = (*STORAGE_ERRORS, ValueError)


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
    """Set when DuckDB cannot read the files directly (delete files, evolved schema)."""
    fallback_reason: str | None = None


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


def _catalog(server: dict[str, Any], root: Path, storage: Any = None) -> Any:
    url = str(server.get("catalogUrl") or "")
    name = str(server.get("catalog") or "duckmesh")
    warehouse = server.get("warehouse")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = "sqlite:///" + str((root / url.removeprefix("sqlite:///")).resolve())
    if isinstance(warehouse, str) and "://" not in warehouse and not warehouse.startswith("/"):
        warehouse = (root / warehouse).resolve().as_uri()
    try:
        if url.startswith("sqlite:") or url.startswith(("postgresql:", "mysql:")):
            from pyiceberg.catalog.sql import SqlCatalog

            options = {"uri": url, **({"warehouse": warehouse} if warehouse else {}),
                       **io_properties(storage)}
            return SqlCatalog(name, **options)
        if url.startswith(("http://", "https://")):
            from pyiceberg.catalog.rest import RestCatalog

            return RestCatalog(name, uri=url, **({"warehouse": warehouse} if warehouse else {}),
                               **io_properties(storage))
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
        return _catalog(server, root, storage).load_table(identifier)
    except (NoSuchTableError, NoSuchNamespaceError):
        raise StorageError(f"Iceberg table {identifier} not found in the catalog",
                           product=product) from None
    except STORAGE_OR_VALUE_ERRORS as exc:
        raise StorageError(f"could not load Iceberg table {identifier} "
                           f"({type(exc).__name__})", product=product) from None


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


def plan_iceberg(product: str, server: dict[str, Any], root: Path, *, storage: Any = None,
                 predicate: Any = None, as_of: str | int | None = None) -> IcebergPlan:
    """Plan an Iceberg scan: pruned files of one snapshot (or the fallback table)."""
    from pyiceberg.expressions import AlwaysTrue

    table = load_table(product, server, root, storage)
    snapshot = _snapshot(table, product, as_of)
    location = _local(table.location()).rstrip("/") + "/"
    if snapshot is None:
        return IcebergPlan((), None, None, 0, location, None)
    when = dt.datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=dt.UTC)
    try:
        everything = list(table.scan(snapshot_id=snapshot.snapshot_id).plan_files())
        try:
            scan = table.scan(row_filter=predicate or AlwaysTrue(),
                              snapshot_id=snapshot.snapshot_id)
            tasks = list(scan.plan_files())
        except (ValueError, TypeError):
            # A literal that does not bind to the column's type: plan without pruning.
            scan = table.scan(snapshot_id=snapshot.snapshot_id)
            tasks = everything
        reason = None
        if not tasks:
            reason = "no data files match"  # an empty table still has its columns
        elif any(task.delete_files for task in tasks):
            reason = "delete files"
        elif snapshot.schema_id is not None and len(table.schemas()) > 1:
            reason = "schema evolved (columns mapped by field id)"
        fallback = scan.to_arrow() if reason else None
    except STORAGE_OR_VALUE_ERRORS as exc:
        raise StorageError(f"could not plan the Iceberg scan ({type(exc).__name__})",
                           product=product) from None
    nanos = int(when.timestamp() * 1e9)
    files = tuple(FileInfo(_local(t.file.file_path), int(t.file.file_size_in_bytes), nanos)
                  for t in tasks)
    return IcebergPlan(files, snapshot.snapshot_id, when, len(everything), location, fallback,
                       reason)
