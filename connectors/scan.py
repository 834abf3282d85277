"""Scan plans: what files a product query reads, and the DuckDB scan that reads them.

A plan is made before any byte is read (pyiceberg's ``plan_files`` is the model): it
names the paths, the format and the directories the sandbox must allow.  The executor
turns it into a ``read_parquet(...)`` node.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from connectors.errors import StorageError
from connectors.storage import Location, resolve_location

SCAN_MARK = "duckmesh_scan"
"""Key set in ``Expression.meta`` on every scan duckmesh generates, so the final
safety check can tell our own table functions from anything else."""


@dataclass(frozen=True)
class ScanPlan:
    """Everything needed to read one product: globs, format, hive partitioning."""

    product: str
    location: Location
    patterns: tuple[str, ...]
    format: str
    hive_partitioning: bool

    @property
    def allowed_directories(self) -> tuple[str, ...]:
        """Directories the sandbox must open for this scan (with a trailing slash)."""
        return (self.location.directory,)

    def to_expression(self) -> exp.Table:
        """``read_parquet([...], hive_partitioning = true)`` as a FROM item."""
        files = exp.Array(expressions=[exp.Literal.string(p) for p in self.patterns])
        args: list[exp.Expr] = [files]
        args.append(exp.EQ(this=exp.column("hive_partitioning"),
                           expression=exp.Boolean(this=self.hive_partitioning)))
        func = exp.Anonymous(this="read_parquet", expressions=args)
        table = exp.Table(this=func)
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
    if location.is_local:
        path = Path(location.path)
        if not path.exists() and not location.is_glob:
            raise StorageError(f"data not found at {location_text!r}", product=product)
    if location.is_glob or location.path.endswith(".parquet"):
        patterns: tuple[str, ...] = (location.uri,)
    else:
        patterns = (location.uri.rstrip("/") + "/**/*.parquet",)
    return ScanPlan(product=product, location=location, patterns=patterns, format=fmt,
                    hive_partitioning=partitioned)
