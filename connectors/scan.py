"""Scan plans: what files a product query reads, and the DuckDB scan that reads them.

A plan is made before any byte is read (pyiceberg's ``plan_files`` is the model): it
lists the files with their sizes and modification times, and the executor reads exactly
that list.  So the stamp a result carries names what was really read, and a file written
after planning is not half-read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from connectors.errors import StorageError
from connectors.files import DataFacts, FileInfo, list_local, read_facts
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

    @property
    def allowed_directories(self) -> tuple[str, ...]:
        """Directories the sandbox must open for this scan (with a trailing slash)."""
        return (self.location.directory,)

    def facts(self) -> DataFacts:
        """Schema, rows and null counts from the planned files' footers."""
        return read_facts(self.product, self.files, self.location.directory, self.hive_partitioning)

    def to_expression(self) -> exp.Table:
        """``read_parquet([...files], hive_partitioning = ...)`` as a FROM item."""
        files = exp.Array(expressions=[exp.Literal.string(f.path) for f in self.files])
        hive = exp.EQ(this=exp.column("hive_partitioning"),
                      expression=exp.Boolean(this=self.hive_partitioning))
        table = exp.Table(this=exp.Anonymous(this="read_parquet", expressions=[files, hive]))
        table.meta[SCAN_MARK] = self.product
        return table


def plan_scan(product: str, location_text: str, fmt: str, *, root: Path,
              partitioned: bool) -> ScanPlan:
    """Plan the scan of a product stored at ``location_text`` (relative to ``root``)."""
    location = resolve_location(location_text, root)
    if fmt != "parquet":
        raise StorageError(f"format {fmt!r} cannot be read yet", product=product)
    if not location.is_local:
        raise StorageError(f"reading {location.scheme}:// locations is not supported yet",
                           product=product, hint="keep the data on local disk for now")
    path = Path(location.path)
    if location.is_glob:
        base = Path(location.directory)
        files = list_local(base, str(Path(location.path).relative_to(base)))
    elif path.is_file():
        files = list_local(path.parent, path.name)
    elif path.is_dir():
        files = list_local(path, "**/*.parquet")
    else:
        raise StorageError(f"data not found at {location_text!r}", product=product)
    if not files:
        raise StorageError(f"no data files found at {location_text!r}", product=product)
    return ScanPlan(product=product, location=location, files=files, format=fmt,
                    hive_partitioning=partitioned)
