"""An Iceberg table on S3 whose store stalls: pyiceberg's reads of the table's metadata,
manifest list and manifests (on pyiceberg's own threads), and of the data files its reader
falls back to, end by the query's time limit with one clear line (issue 14, item 10).

A REST catalog that never answers ends the same way.  The store is moto's server behind
the fault proxy, stalled longer than the time limit and
shorter than any client timeout: only the deadline can end those reads.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from click.testing import CliRunner
from pyiceberg.catalog.sql import SqlCatalog

from connectors import filesystems
from connectors.errors import StorageError
from federation import Mesh
from federation.cli import cli
from products.config import S3Settings, StorageSettings
from tests.helpers import col, contract, policies, write_yaml
from tests.s3 import FaultProxy

WAREHOUSE = "s3://ice/wh"
ROWS = 40


def _mesh(root: Path, s3: FaultProxy, timeout: float) -> None:
    write_yaml(root / "duckmesh.yaml", {
        "name": "t", "secret": "s3-test", "engine": {"timeout_seconds": timeout},
        "domains": {"crm": {"roots": [f"{WAREHOUSE}/crm/"], "iceberg_namespaces": ["crm"]}},
        "storage": {"s3": {"endpoint_url": s3.url, "path_style": True, "max_attempts": 2,
                           "read_timeout": 30, "connect_timeout": 5}}})
    write_yaml(root / "governance/principals.yaml", {"users": {"root": {"roles": ["admin"]}}})
    write_yaml(root / "governance/policies.yaml", policies([]))
    write_yaml(root / "domains/crm/domain.yaml",
               {"grants": [{"products": ["*"], "roles": ["admin"]}]})
    spec = {**contract("crm", "people", [col("id", "BIGINT"), col("region")]),
            "apiVersion": "v3.2.0"}
    spec["servers"] = [{"server": "lake", "type": "iceberg", "catalog": "mesh",
                        "catalogUrl": "sqlite:///iceberg/catalog.db", "namespace": "crm",
                        "warehouse": WAREHOUSE}]
    write_yaml(root / "domains/crm/people.odcs.yaml", spec)


@pytest.fixture
def ice_s3(tmp_path: Path, s3: FaultProxy) -> Path:
    root = tmp_path / "mesh"
    (root / "iceberg").mkdir(parents=True)
    filesystems.filesystem("s3", StorageSettings(s3=S3Settings(
        endpoint_url=s3.url, path_style=True))).mkdir("ice")
    catalog = SqlCatalog("mesh", uri=f"sqlite:///{root}/iceberg/catalog.db",
                         warehouse=WAREHOUSE, **{"s3.endpoint": s3.url,
                                                 "s3.region": "us-east-1",
                                                 "py-io-impl": "pyiceberg.io.fsspec.FsspecFileIO"})
    catalog.create_namespace("crm")
    data = pa.table({"id": pa.array(range(ROWS), pa.int64()),
                     "region": ["EU" if i % 2 else "NA" for i in range(ROWS)]})
    table = catalog.create_table("crm.people", schema=data.schema)
    table.append(data)
    _mesh(root, s3, timeout=2.0)
    return root


def test_the_table_reads_when_the_store_answers(ice_s3: Path) -> None:
    rows = Mesh.open(ice_s3).sql("SELECT count(*) AS n FROM crm.people", user="root")
    assert rows.arrow().to_pylist() == [{"n": ROWS}]


@pytest.mark.parametrize(("stalled", "what"), [
    ("metadata.json", "Iceberg table crm.people's metadata"),
    ("snap-", "the Iceberg table's manifests and files"),  # the manifest list
    ("-m0.avro", "the Iceberg table's manifests and files"),  # manifests, on pool threads
])
def test_stalled_iceberg_metadata_ends_at_the_time_limit(ice_s3: Path, s3: FaultProxy,
                                                         stalled: str, what: str) -> None:
    s3.faults.stall_only, s3.faults.stall_seconds = stalled, 6.0
    with pytest.raises(StorageError, match="time limit ran out while reading") as err:
        Mesh.open(ice_s3).sql("SELECT count(*) FROM crm.people", user="root")
    assert what in str(err.value) and err.value.product == "crm.people"


def test_the_cli_says_it_in_one_line(ice_s3: Path, s3: FaultProxy) -> None:
    s3.faults.stall_only, s3.faults.stall_seconds = "metadata.json", 6.0
    out = CliRunner().invoke(cli, ["--mesh", str(ice_s3), "query", "-u", "root",
                                   "SELECT count(*) FROM crm.people"])
    assert out.exit_code == 1 and "internal error" not in out.stderr
    assert out.stderr.count("\n") == 1 and "time limit ran out" in out.stderr


def test_a_cut_metadata_body_is_read_again(ice_s3: Path, s3: FaultProxy) -> None:
    s3.faults.truncate_gets = 1
    rows = Mesh.open(ice_s3).sql("SELECT count(*) AS n FROM crm.people", user="root")
    assert rows.arrow().to_pylist() == [{"n": ROWS}]
    assert s3.faults.truncate_gets == 0


@pytest.fixture
def silent_catalog() -> Iterator[str]:
    """An HTTP endpoint that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_a_silent_rest_catalog_ends_at_the_time_limit(ice_s3: Path,
                                                      silent_catalog: str) -> None:
    path = ice_s3 / "domains/crm/people.odcs.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["servers"][0]["catalogUrl"] = silent_catalog
    write_yaml(path, spec)
    with pytest.raises(StorageError, match="time limit ran out") as err:
        Mesh.open(ice_s3).sql("SELECT count(*) FROM crm.people", user="root")
    assert err.value.product == "crm.people"
