"""Iceberg products with a real pyiceberg SQL catalog on SQLite inside the mesh."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner, Result
from pyiceberg.catalog.sql import SqlCatalog

from connectors.errors import StorageError
from federation import Mesh
from federation.cli import cli
from tests.connectors.test_s3 import COLUMNS, governance
from tests.helpers import col, contract, write_yaml

SERVER = {"server": "lake", "type": "iceberg", "catalog": "mesh",
          "catalogUrl": "sqlite:///iceberg/catalog.db", "namespace": "crm",
          "warehouse": "iceberg/warehouse"}


def ice_contract(domain: str, name: str, columns: list[dict[str, Any]]) -> dict[str, Any]:
    """A contract for an Iceberg server: ODCS v3.2.0, the first version with that type."""
    return {**contract(domain, name, columns), "apiVersion": "v3.2.0"}


def batch(start: int, region: str, n: int = 50) -> pa.Table:
    return pa.table({
        "id": pa.array(range(start, start + n), pa.int64()),
        "email": [f"p{i}@example.org" for i in range(start, start + n)],
        "region": [region] * n,
        "score": pa.array([float(i % 7) for i in range(start, start + n)], pa.float64()),
    })


@pytest.fixture
def ice(tmp_path: Path) -> tuple[Path, Any]:
    root = tmp_path / "mesh"
    (root / "iceberg").mkdir(parents=True)
    catalog = SqlCatalog("mesh", uri=f"sqlite:///{root}/iceberg/catalog.db",
                         warehouse=(root / "iceberg/warehouse").as_uri())
    catalog.create_namespace("crm")
    table = catalog.create_table("crm.people", schema=batch(0, "EU").schema)
    with table.update_spec() as spec:
        spec.add_identity("region")
    for i, region in enumerate(["EU", "NA", "EU", "NA"]):
        table.append(batch(i * 50, region))
        time.sleep(0.01)
    governance(root)
    data = ice_contract("crm", "people", COLUMNS)
    data["servers"] = [SERVER]
    write_yaml(root / "domains/crm/people.odcs.yaml", data)
    return root, table


def dm(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--mesh", str(root), *args])


def test_partition_pruning_plans_only_matching_files(ice: tuple[Path, Any]) -> None:
    root, _ = ice
    explained = json.loads(dm(root, "explain", "-u", "root", "--format", "json",
                              "SELECT count(*) FROM crm.people WHERE region = 'NA'").stdout)
    scan = next(d for d in explained["decisions"] if d["action"] == "scan")
    assert scan["detail"] == "2 of 4 files planned"
    text = dm(root, "explain", "-u", "root", "SELECT id FROM crm.people WHERE region = 'NA'")
    assert "2 of 4 files planned" in text.stdout
    rows = json.loads(dm(root, "query", "-u", "root", "--format", "json",
                         "SELECT count(*) AS n FROM crm.people WHERE region = 'NA'").stdout)
    assert rows == [{"n": 100}]


def test_row_filter_prunes_too(ice: tuple[Path, Any]) -> None:
    root, _ = ice
    mesh = Mesh.open(root)
    query = mesh.govern("SELECT id FROM crm.people", "ana")
    assert len(query.scans["crm.people"].files) == 2
    rows = mesh.sql("SELECT region, count(*) AS n FROM crm.people GROUP BY ALL", user="ana")
    assert rows.arrow().to_pylist() == [{"region": "EU", "n": 100}]


def test_masked_and_outer_join_predicates_are_not_pushed(ice: tuple[Path, Any]) -> None:
    root, _ = ice
    mesh = Mesh.open(root)
    masked = mesh.govern("SELECT id FROM crm.people WHERE email = 'p1@example.org'", "ana")
    assert len(masked.scans["crm.people"].files) == 2  # only the row filter pruned
    assert mesh.sql("SELECT id FROM crm.people WHERE email = 'p1@example.org'",
                    user="ana").arrow().num_rows == 0  # masked values never equal raw ones
    outer = ("SELECT count(*) AS n FROM (SELECT 1 AS k) t LEFT JOIN crm.people p "
             "ON p.id = 0 WHERE p.region IS NULL")
    assert len(mesh.govern(outer, "root").scans["crm.people"].files) == 4
    assert mesh.sql(outer, user="root").arrow().to_pylist() == [{"n": 0}]


def test_range_and_in_predicates(ice: tuple[Path, Any]) -> None:
    root, _ = ice
    mesh = Mesh.open(root)
    sql = "SELECT count(*) AS n FROM crm.people WHERE region IN ('NA') AND id BETWEEN 60 AND 70"
    assert mesh.sql(sql, user="root").arrow().to_pylist() == [{"n": 11}]
    assert len(mesh.govern(sql, "root").scans["crm.people"].files) == 1  # stats prune too


def test_snapshot_pinning_and_as_of(ice: tuple[Path, Any]) -> None:
    root, table = ice
    snapshots = [s.snapshot_id for s in table.snapshots()]
    first = str(snapshots[0])
    rows = dm(root, "query", "-u", "root", "--format", "json", "--as-of", first,
              "SELECT count(*) AS n FROM crm.people")
    assert json.loads(rows.stdout) == [{"n": 50}]
    when = dt.datetime.fromtimestamp(table.snapshots()[1].timestamp_ms / 1000, dt.UTC)
    mesh = Mesh.open(root)
    at_time = mesh.sql("SELECT count(*) AS n FROM crm.people", user="root",
                       as_of=when.isoformat())
    assert at_time.arrow().to_pylist() == [{"n": 100}]
    assert at_time.stamp["products"]["crm.people"]["snapshot_id"] == snapshots[1]
    # still governed at an old snapshot
    assert dm(root, "query", "-u", "ana", "--as-of", first,
              "SELECT passport FROM crm.people").exit_code == 1
    pinned = dict(SERVER, customProperties=[{"property": "snapshotId", "value": snapshots[2]}])
    data = ice_contract("crm", "people", COLUMNS)
    data["servers"] = [pinned]
    write_yaml(root / "domains/crm/people.odcs.yaml", data)
    assert Mesh.open(root).sql("SELECT count(*) AS n FROM crm.people", user="root"
                               ).arrow().to_pylist() == [{"n": 150}]
    bad = dm(root, "query", "-u", "root", "--as-of", "1999-01-01T00:00:00",
             "SELECT count(*) FROM crm.people")
    assert bad.exit_code == 1 and "no snapshot at or before" in bad.stderr
    unknown = dm(root, "query", "-u", "root", "--as-of", "12345", "SELECT count(*) FROM crm.people")
    assert unknown.exit_code == 1
    assert unknown.stderr == "duckmesh: error: crm.people has no snapshot 12345\n"


def test_as_of_on_files_that_keep_no_history_is_refused(ice: tuple[Path, Any]) -> None:
    """A past-time query must not silently read today's data from plain files."""
    root, _ = ice
    (root / "data/crm/visits").mkdir(parents=True)
    pq.write_table(pa.table({"id": pa.array([1, 2], pa.int64())}),
                   root / "data/crm/visits/part-0.parquet")
    write_yaml(root / "domains/crm/visits.odcs.yaml",
               contract("crm", "visits", [col("id", "BIGINT")]))
    domain = yaml.safe_load((root / "domains/crm/domain.yaml").read_text())
    domain["grants"][0]["products"] = ["*"]
    write_yaml(root / "domains/crm/domain.yaml", domain)
    now = dt.datetime.now(dt.UTC).isoformat()
    for sql in ("SELECT count(*) FROM crm.visits",
                "SELECT count(*) FROM crm.people p JOIN crm.visits v ON p.id = v.id"):
        result = dm(root, "query", "-u", "root", "--as-of", now, sql)
        assert result.exit_code == 1 and result.stdout == ""
        assert result.stderr == ("duckmesh: error: --as-of reads Iceberg products at a "
                                 "snapshot; crm.visits is parquet files, which keep no "
                                 "history (leave it out of an --as-of query)\n")
    assert dm(root, "query", "-u", "root", "SELECT count(*) FROM crm.visits").exit_code == 0


def test_schema_evolution_maps_by_field_id(ice: tuple[Path, Any]) -> None:
    root, table = ice
    with table.update_schema() as update:
        update.rename_column("score", "rating")
    table.append(batch(200, "EU").rename_columns(["id", "email", "region", "rating"]))
    data = ice_contract("crm", "people", [c if c["name"] != "score" else dict(c, name="rating")
                                      for c in COLUMNS])
    data["servers"] = [SERVER]
    write_yaml(root / "domains/crm/people.odcs.yaml", data)
    mesh = Mesh.open(root)
    result = mesh.sql("SELECT count(*) AS n, sum(rating) AS s FROM crm.people", user="root")
    expected = sum(float(i % 7) for i in range(250))
    assert result.arrow().to_pylist() == [{"n": 250, "s": expected}]
    decisions = [d for d in result.decisions if d.action == "scan"]
    assert "pyiceberg" not in decisions[0].reason  # DuckDB reads the files by field id


def test_check_and_show_on_iceberg(ice: tuple[Path, Any]) -> None:
    root, _ = ice
    assert dm(root, "check").exit_code == 0
    info = json.loads(dm(root, "products", "show", "crm.people", "--format", "json").stdout)
    assert info["facts"]["rows"] == 200 and info["facts"]["files"] == 4


def test_missing_table_and_missing_metadata(ice: tuple[Path, Any]) -> None:
    root, table = ice
    metadata = Path(table.metadata_location.removeprefix("file://"))
    metadata.unlink()
    result = dm(root, "query", "-u", "root", "SELECT count(*) FROM crm.people")
    assert result.exit_code == 1
    assert "crm.people" in result.stderr and "Traceback" not in result.stderr
    data = ice_contract("crm", "people", COLUMNS)
    data["servers"] = [dict(SERVER, namespace="nowhere")]
    write_yaml(root / "domains/crm/people.odcs.yaml", data)
    with pytest.raises(StorageError, match="not found in the catalog"):
        Mesh.open(root).sql("SELECT id FROM crm.people", user="root")


def add_position_deletes(table: Any, positions: dict[str, list[int]]) -> None:
    """Commit a merge-on-read snapshot: one positional delete file per data file named.

    pyiceberg (0.12) only writes copy-on-write deletes, so this builds what Spark or
    Trino would write, with pyiceberg's own writers: a Parquet delete file
    (file_path, pos) and a manifest of content DELETES.
    """
    import pyarrow.parquet as pq
    from pyiceberg.manifest import (
        DataFile,
        DataFileContent,
        FileFormat,
        ManifestContent,
        ManifestWriterV2,
    )
    from pyiceberg.table.update.snapshot import _FastAppendFiles

    class DeleteManifestWriter(ManifestWriterV2):
        def content(self) -> ManifestContent:
            return ManifestContent.DELETES

        @property
        def _meta(self) -> dict[str, str]:
            return {**super()._meta, "content": "deletes"}

    class AppendDeletes(_FastAppendFiles):
        def new_manifest_writer(self, spec: Any) -> Any:
            return DeleteManifestWriter(spec, self.schema(), self.new_manifest_output(),
                                        self._snapshot_id, self._compression)

    tasks = {t.file.file_path: t.file for t in table.scan().plan_files()}
    with table.transaction() as tx:
        append = AppendDeletes(operation=tx.update_snapshot().fast_append()._operation,
                               transaction=tx, io=table.io, branch="main")
        for path, rows in positions.items():
            data_file = tasks[path]
            delete_path = path.replace(".parquet", "-deletes.parquet")
            schema = pa.schema([
                pa.field("file_path", pa.string(), False, {"PARQUET:field_id": "2147483546"}),
                pa.field("pos", pa.int64(), False, {"PARQUET:field_id": "2147483545"})])
            local = delete_path.removeprefix("file://")
            pq.write_table(pa.table({"file_path": [path] * len(rows), "pos": rows},
                                    schema=schema), local)
            append.append_data_file(DataFile.from_args(
                content=DataFileContent.POSITION_DELETES, file_path=delete_path,
                file_format=FileFormat.PARQUET, partition=data_file.partition,
                record_count=len(rows), file_size_in_bytes=Path(local).stat().st_size,
                spec_id=data_file.spec_id))
        append.commit()


def test_tables_with_delete_files_are_read_correctly(ice: tuple[Path, Any]) -> None:
    root, table = ice
    first = sorted(t.file.file_path for t in table.scan().plan_files())[0]
    ids = table.scan(selected_fields=("id",)).to_arrow().column("id").to_pylist()
    add_position_deletes(table, {first: [0, 1, 2]})
    table = table.refresh()
    assert any(t.delete_files for t in table.scan().plan_files())  # merge-on-read for real
    expected = table.scan().to_arrow().num_rows
    assert expected == len(ids) - 3
    mesh = Mesh.open(root)
    query = mesh.govern("SELECT id FROM crm.people", "root")
    assert query.scans["crm.people"].fallback is not None  # read through pyiceberg
    explained = dm(root, "explain", "-u", "root", "SELECT id FROM crm.people")
    assert "delete files" in explained.stdout
    rows = mesh.sql("SELECT count(*) AS n, count(DISTINCT id) AS d FROM crm.people",
                    user="root").arrow().to_pylist()
    assert rows == [{"n": expected, "d": expected}]
    # Still governed: the analyst's row filter and masks apply to the fallback table too.
    ana = mesh.sql("SELECT region, email FROM crm.people", user="ana").arrow().to_pylist()
    assert {r["region"] for r in ana} == {"EU"} and all("@" not in r["email"] for r in ana)


@pytest.fixture
def rest(ice: tuple[Path, Any]) -> Any:
    from tests.iceberg_rest import RestCatalogServer

    root, _ = ice
    catalog = SqlCatalog("mesh", uri=f"sqlite:///{root}/iceberg/catalog.db",
                         warehouse=(root / "iceberg/warehouse").as_uri())
    server = RestCatalogServer(catalog)
    data = ice_contract("crm", "people", COLUMNS)
    data["servers"] = [{"server": "lake", "type": "iceberg", "catalog": "rest",
                        "catalogUrl": server.url, "namespace": "crm"}]
    write_yaml(root / "domains/crm/people.odcs.yaml", data)
    yield root, server
    server.stop()


def test_a_rest_catalog_by_configuration(rest: tuple[Path, Any]) -> None:
    root, server = rest
    explained = json.loads(dm(root, "explain", "-u", "root", "--format", "json",
                              "SELECT count(*) FROM crm.people WHERE region = 'NA'").stdout)
    scan = next(d for d in explained["decisions"] if d["action"] == "scan")
    assert scan["detail"] == "2 of 4 files planned"  # pruning through the REST catalog
    rows = json.loads(dm(root, "query", "-u", "ana", "--format", "json",
                         "SELECT region, count(*) AS n FROM crm.people GROUP BY ALL").stdout)
    assert rows == [{"region": "EU", "n": 100}]
    assert "/v1/namespaces/crm/tables/people" in server.requests


def test_a_rest_catalog_without_the_table_or_down(rest: tuple[Path, Any]) -> None:
    root, server = rest
    people = root / "domains/crm/people.odcs.yaml"
    people.write_text(people.read_text().replace("namespace: crm", "namespace: other"))
    missing = dm(root, "query", "-u", "root", "SELECT count(*) FROM crm.people")
    assert missing.exit_code == 1
    assert "Iceberg table other.people not found" in missing.stderr
    server.stop()
    down = dm(root, "query", "-u", "root", "SELECT count(*) FROM crm.people")
    assert down.exit_code == 1 and down.stderr.startswith("duckmesh: error: crm.people")
    assert "Traceback" not in down.stderr
