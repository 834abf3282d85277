"""Iceberg columns by field id (issue 14, item 1): after every schema evolution pyiceberg
allows, duckmesh returns exactly what pyiceberg's own scan returns (the oracle)."""

from __future__ import annotations

import decimal
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.schema import Schema
from pyiceberg.types import (
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    StructType,
)

from connectors.iceberg import iceberg_type
from federation import Mesh
from tests.helpers import contract, write_yaml

SERVER = {"server": "lake", "type": "iceberg", "catalog": "mesh",
          "catalogUrl": "sqlite:///iceberg/catalog.db", "namespace": "lab",
          "warehouse": "iceberg/warehouse"}
SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=False),
    NestedField(2, "name", StringType(), required=False),
    NestedField(3, "budget", DecimalType(10, 2), required=False),
    NestedField(4, "small", IntegerType(), required=False),
    NestedField(5, "ratio", FloatType(), required=False),
    NestedField(6, "region", StringType(), required=False),
)


def _mesh(root: Path) -> None:
    write_yaml(root / "duckmesh.yaml", {
        "name": "evo", "engine": {"timeout_seconds": 60},
        "domains": {"lab": {"roots": ["iceberg/warehouse/lab/"], "iceberg_namespaces": ["lab"]}}})
    write_yaml(root / "governance/principals.yaml", {"users": {"root": {"roles": ["admin"]}}})
    write_yaml(root / "governance/policies.yaml",
               {"default_classification": "internal",
                "classifications": [{"name": "internal", "allow": True}], "rules": []})
    write_yaml(root / "domains/lab/domain.yaml",
               {"grants": [{"products": ["*"], "roles": ["admin"]}]})


def publish_contract(root: Path, table: Any, name: str = "evo") -> None:
    """The contract a producer publishes for the table's current schema."""
    columns = [{"name": f.name, "physicalType": iceberg_type(f.field_type),
                "logicalType": "string"} for f in table.schema().fields]
    data = {**contract("lab", name, columns), "apiVersion": "v3.2.0", "servers": [SERVER]}
    write_yaml(root / f"domains/lab/{name}.odcs.yaml", data)


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[tuple[Path, Any]]:
    root = tmp_path / "mesh"
    (root / "iceberg").mkdir(parents=True)
    _mesh(root)
    catalog = SqlCatalog("mesh", uri=f"sqlite:///{root}/iceberg/catalog.db",
                         warehouse=(root / "iceberg/warehouse").as_uri())
    catalog.create_namespace("lab")
    yield root, catalog


def append(table: Any, rows: list[dict[str, Any]]) -> None:
    table.append(pa.Table.from_pylist(rows, schema=table.schema().as_arrow()))


def rows(start: int, n: int = 5, **extra: Any) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"n{i}", "budget": decimal.Decimal(f"{i}.25"), "small": i,
             "ratio": i / 4, "region": "EU" if i % 2 else "NA", **extra}
            for i in range(start, start + n)]


def same_as_pyiceberg(root: Path, table: Any, snapshot_id: int | None = None) -> None:
    """duckmesh's answer equals pyiceberg's scan, column by column, row by row.

    A past snapshot is read through the current schema (the contract's columns), as
    pyiceberg's reader does given that schema."""
    table = table.refresh()
    if snapshot_id is None:
        arrow = table.scan().to_arrow()
    else:
        tasks = table.scan(snapshot_id=snapshot_id).plan_files()
        arrow = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue()).to_table(tasks)
    oracle = sorted(arrow.to_pylist(), key=lambda r: r["id"])
    names = ", ".join(f'"{f.name}"' for f in table.schema().fields)
    mesh = Mesh.open(root)
    result = mesh.sql(f"SELECT {names} FROM lab.evo ORDER BY id", user="root",
                      as_of=str(snapshot_id) if snapshot_id else None)
    assert result.arrow().to_pylist() == oracle


def test_every_schema_evolution_reads_as_pyiceberg_does(lake: tuple[Path, Any]) -> None:
    root, catalog = lake
    table = catalog.create_table("lab.evo", schema=SCHEMA)
    append(table, rows(0))
    append(table, rows(5))
    publish_contract(root, table)
    same_as_pyiceberg(root, table)
    first = table.current_snapshot().snapshot_id

    with table.update_schema() as update:  # add
        update.add_column("extra", StringType())
    publish_contract(root, table)
    same_as_pyiceberg(root, table)
    append(table.refresh(), [{**r, "extra": "x"} for r in rows(10)])
    same_as_pyiceberg(root, table)

    with table.update_schema() as update:  # drop, then add the same name again
        update.delete_column("name")
    with table.refresh().update_schema() as update:
        update.add_column("name", StringType())
    publish_contract(root, table)
    same_as_pyiceberg(root, table)  # old names must not come back
    assert Mesh.open(root).sql("SELECT count(name) AS n FROM lab.evo", user="root")\
        .arrow().to_pylist() == [{"n": 0}]

    with table.refresh().update_schema() as update:  # rename, before and after new files
        update.rename_column("budget", "budget_eur")
    publish_contract(root, table)
    same_as_pyiceberg(root, table)
    append(table.refresh(), [{**{("budget_eur" if k == "budget" else k): v
                                 for k, v in r.items()}, "extra": None} for r in rows(15)])
    same_as_pyiceberg(root, table)

    with table.refresh().update_schema() as update:  # promotions
        update.update_column("small", LongType())
        update.update_column("ratio", DoubleType())
        update.update_column("budget_eur", DecimalType(12, 2))
    publish_contract(root, table)
    same_as_pyiceberg(root, table)
    append(table.refresh(), [{"id": 99, "small": 2**40, "ratio": 0.1,
                              "budget_eur": decimal.Decimal("1234567890.12"), "region": "EU",
                              "extra": None, "name": "big"}])
    same_as_pyiceberg(root, table)

    with table.refresh().update_spec() as spec:  # partition evolution
        spec.add_identity("region")
    append(table.refresh(), [{"id": 100 + i, "small": i, "ratio": 1.0,
                              "budget_eur": decimal.Decimal("1.00"), "region": "NA",
                              "extra": "p", "name": "p"} for i in range(3)])
    same_as_pyiceberg(root, table)
    # A past snapshot, through today's schema: renamed budget reads as budget_eur, the
    # columns added since are NULL, the re-added name too.
    same_as_pyiceberg(root, table, snapshot_id=first)


def test_nested_columns_after_evolution_read_as_pyiceberg_does(lake: tuple[Path, Any]) -> None:
    root, catalog = lake
    schema = Schema(NestedField(1, "id", LongType(), required=False),
                    NestedField(2, "s", StructType(
                        NestedField(3, "a", LongType(), required=False),
                        NestedField(4, "b", StringType(), required=False)), required=False))
    table = catalog.create_table("lab.evo", schema=schema)
    append(table, [{"id": i, "s": {"a": i, "b": f"b{i}"}} for i in range(4)])
    publish_contract(root, table)
    same_as_pyiceberg(root, table)
    with table.update_schema() as update:
        update.rename_column("s.b", "label")
    publish_contract(root, table)
    same_as_pyiceberg(root, table)  # DuckDB maps nested fields by name: pyiceberg reads it
    decisions = Mesh.open(root).sql("SELECT s FROM lab.evo", user="root").decisions
    assert "read by pyiceberg" in next(d.reason for d in decisions if d.action == "scan")


# A mesh folder can move (issue 14, item 2).
def test_a_moved_mesh_still_reads_its_iceberg_products(lake: tuple[Path, Any],
                                                       tmp_path: Path) -> None:
    root, catalog = lake
    table = catalog.create_table("lab.evo", schema=SCHEMA)
    append(table, rows(0))
    append(table, rows(5))
    publish_contract(root, table)
    sql = "SELECT count(*) AS n, sum(budget) AS b FROM lab.evo"
    before = Mesh.open(root).sql(sql, user="root").arrow().to_pylist()
    moved = tmp_path / "elsewhere" / "mesh"
    moved.parent.mkdir()
    shutil.move(str(root), str(moved))
    assert not root.exists()  # where the catalog recorded every location
    result = Mesh.open(moved).sql(sql, user="root")
    assert result.arrow().to_pylist() == before and before[0]["n"] == 10
    files = result.stamp["products"]["lab.evo"]["files"]
    assert files and all(f["path"].startswith(str(moved.resolve())) for f in files)
