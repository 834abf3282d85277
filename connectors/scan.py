"""Scan plans: what files a product query reads, and the DuckDB scan that reads them.

A plan is made before any data is read (pyiceberg's ``plan_files`` is the model): it
lists the files with their sizes and modification times and reads their footers, and the
executor reads exactly that list.  So the stamp a result carries names what was really
read, and a file written after planning is not half-read.  A plan is plain data: no
property of it does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from connectors.errors import StorageError
from connectors.filesystems import DeadlineExceeded, filesystem, storage_errors
from connectors.footers import DataFacts, read_facts, table_facts, text_facts
from connectors.listing import FileInfo, list_local, list_remote
from connectors.storage import Location, resolve_location

SCAN_MARK = "duckmesh_scan"
"""Key set in ``Expression.meta`` on every scan duckmesh generates, so the final
safety check can tell our own table functions from anything else."""


@dataclass(frozen=True)
class ScanPlan:
    """Everything needed to read one product: files, format, hive partitioning."""

    product: str
    location: Location
    files: tuple[FileInfo, ...]
    format: str
    hive_partitioning: bool
    facts: DataFacts
    """Schema, rows, null counts and column sizes from the planned files' footers, read
    once at planning: contract enforcement and the cost estimate both use them."""
    filesystem: Any = field(default=None, compare=False, repr=False)
    """The fsspec filesystem DuckDB reads remote files through (None: local disk)."""
    snapshot_id: int | None = None
    """Iceberg: the snapshot read."""
    total_files: int | None = None
    """Iceberg: data files in the snapshot before pruning."""
    fallback: Any = field(default=None, compare=False, repr=False)
    """A pyarrow Table to read instead of the files (Iceberg delete files, evolved schema)."""
    fallback_reason: str | None = None
    columns: tuple[tuple[str, str], ...] = ()
    """Declared (name, DuckDB type): text formats are read with exactly these."""
    field_ids: tuple[tuple[int, str, str], ...] = ()
    """Iceberg: (field id, name, DuckDB type) of the projected schema; the files are read
    by field id through these (renames, drops and re-adds, promoted types)."""

    @property
    def fallback_name(self) -> str:
        """The name the fallback table is registered under in the query's connection."""
        return "duckmesh_scan_" + self.product.replace(".", "__")

    @property
    def allowed_directories(self) -> tuple[str, ...]:
        """Directories the sandbox must open for this scan (with a trailing slash)."""
        return (self.location.directory,)

    def to_expression(self) -> exp.Table:
        """``read_parquet([...files], hive_partitioning = ...)`` as a FROM item."""
        if self.fallback is not None:
            table = exp.Table(this=exp.to_identifier(self.fallback_name))
            table.meta[SCAN_MARK] = self.product
            return table
        files = exp.Array(expressions=[exp.Literal.string(f.path) for f in self.files])
        if self.format in TEXT_READERS:
            return self._text_scan(files)
        hive = exp.EQ(this=exp.column("hive_partitioning"),
                      expression=exp.Boolean(this=self.hive_partitioning))
        args: list[exp.Expr] = [files, hive]
        if self.field_ids:
            args.append(exp.EQ(this=exp.column("schema"), expression=self._by_field_id()))
        table = exp.Table(this=exp.Anonymous(this="read_parquet", expressions=args))
        table.meta[SCAN_MARK] = self.product
        return table

    def _by_field_id(self) -> exp.Expr:
        """``MAP {id: {name: …, type: …, default_value: NULL}, …}``: DuckDB's mapping of
        Parquet field ids to the columns it returns (a missing id reads NULL)."""
        def spec(name: str, type_: str) -> exp.Struct:
            return exp.Struct(expressions=[
                exp.PropertyEQ(this=exp.to_identifier("name"),
                               expression=exp.Literal.string(name)),
                exp.PropertyEQ(this=exp.to_identifier("type"),
                               expression=exp.Literal.string(type_)),
                exp.PropertyEQ(this=exp.to_identifier("default_value"), expression=exp.Null()),
            ])

        return exp.ToMap(this=exp.Struct(expressions=[
            exp.PropertyEQ(this=exp.Literal.number(field_id), expression=spec(name, type_))
            for field_id, name, type_ in self.field_ids]))


    def _text_scan(self, files: exp.Array) -> exp.Table:
        declared = exp.Struct(expressions=[
            exp.PropertyEQ(this=exp.Literal.string(name), expression=exp.Literal.string(type_))
            for name, type_ in self.columns])
        reader, options = TEXT_READERS[self.format]
        args: list[exp.Expr] = [files, exp.EQ(this=exp.column("columns"), expression=declared)]
        args += [exp.EQ(this=exp.column(key), expression=exp.convert(value))
                 for key, value in options.items()]
        args.append(exp.EQ(this=exp.column("hive_partitioning"),
                           expression=exp.Boolean(this=self.hive_partitioning)))
        table = exp.Table(this=exp.Anonymous(this=reader, expressions=args))
        table.meta[SCAN_MARK] = self.product
        return table


# DuckDB reader and fixed options per text format; the columns come from the contract.
TEXT_READERS: dict[str, tuple[str, dict[str, object]]] = {
    "csv": ("read_csv", {"header": True}),
    "json": ("read_json", {"format": "newline_delimited"}),
}
EXTENSIONS = {"parquet": ("parquet",), "csv": ("csv",), "json": ("json", "jsonl", "ndjson")}


def plan_scan(product: str, location_text: str, fmt: str, *, root: Path,
              partitioned: bool, storage: Any = None,
              columns: tuple[tuple[str, str], ...] = ()) -> ScanPlan:
    """Plan the scan of a product stored at ``location_text`` (relative to ``root``).

    Lists the files now: the plan is what will be read, and what the stamp reports.
    """
    location = resolve_location(location_text, root)
    if fmt not in EXTENSIONS:
        raise StorageError(f"format {fmt!r} cannot be read", product=product)
    fs = None
    if location.is_local:
        files = _list_local(product, location, location_text, EXTENSIONS[fmt])
    else:
        fs = filesystem(location.scheme, storage)
        try:
            files = list_remote(fs, location.scheme, location.path, glob=location.is_glob,
                                extensions=EXTENSIONS[fmt])
        except PermissionError:
            raise StorageError(f"access denied listing {location_text!r}",
                               product=product) from None
        except DeadlineExceeded:
            raise StorageError(f"the query's time limit ran out while listing "
                               f"{location_text!r}", product=product,
                               hint="raise engine.timeout_seconds") from None
        except FileNotFoundError:
            files = ()
        except storage_errors() as exc:
            raise StorageError(f"could not list {location_text!r} "
                               f"({type(exc).__name__})", product=product) from None
    if not files:
        raise StorageError(f"no data files found at {location_text!r}", product=product)
    facts = scan_facts(product, files, fmt, location.directory, partitioned, fs, columns)
    return ScanPlan(product=product, location=location, files=files, format=fmt,
                    hive_partitioning=partitioned, facts=facts, filesystem=fs, columns=columns)


def scan_facts(product: str, files: tuple[FileInfo, ...], fmt: str, directory: str,
               hive: bool, fs: Any = None, columns: tuple[tuple[str, str], ...] = (),
               fallback: Any = None) -> DataFacts:
    """What the planned ``files`` say about their data (footers; for text formats, the
    header of the first file; for a pyiceberg fallback, the table in memory)."""
    if fallback is not None:
        return table_facts(fallback, files)
    if fmt in TEXT_READERS:
        return text_facts(files, fmt, columns, fs)
    return read_facts(product, files, directory, hive, fs)


def _list_local(product: str, location: Location, text: str,
                extensions: tuple[str, ...]) -> tuple[FileInfo, ...]:
    path = Path(location.path)
    if location.is_glob:
        base = Path(location.directory)
        return list_local(base, str(path.relative_to(base)))
    if path.is_file():
        return list_local(path.parent, path.name)
    if path.is_dir():
        found = {f for ext in extensions for f in list_local(path, f"**/*.{ext}")}
        return tuple(sorted(found, key=lambda f: f.path))
    raise StorageError(f"data not found at {text!r}", product=product)
