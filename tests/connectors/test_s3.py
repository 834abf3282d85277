"""Products on a real S3 endpoint (moto on loopback), the demo on S3, and storage faults.

``ConnectorSuite`` is the abstract suite every storage × layout combination subclasses
(fsspec's tests/abstract is the model): each subclass only says how to publish a product.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner, Result

from connectors import filesystems
from connectors.errors import StorageError
from connectors.footers import clear_caches
from federation import Mesh
from federation.cli import cli
from federation.errors import QueryTimeout
from products.config import S3Settings, StorageSettings
from products.demo import write_demo
from tests.helpers import col, contract, policies, write_yaml
from tests.s3 import FaultProxy

ROWS = 3000


def people_table() -> pa.Table:
    return pa.table({
        "id": pa.array(range(ROWS), pa.int64()),
        "email": [f"person{i}@example.org" for i in range(ROWS)],
        "region": ["EU" if i % 3 else "NA" for i in range(ROWS)],
        "score": pa.array([float(i % 97) for i in range(ROWS)], pa.float64()),
    })


COLUMNS = [col("id", "BIGINT"), col("email", classification="pii"), col("region"),
           col("score", "DOUBLE")]


# Where the crm domain's test products live: a local folder, two buckets, an Iceberg
# warehouse (duckmesh.yaml domains; a product outside its domain's roots is refused).
CRM_ROOTS = {"crm": {"roots": ["data/", "s3://lake/crm/", "s3://lines/",
                               "iceberg/warehouse/crm/"],
                 "iceberg_namespaces": ["crm", "nowhere", "other"]}}


def governance(root: Path, storage: dict[str, Any] | None = None) -> None:
    write_yaml(root / "duckmesh.yaml", {"name": "t", "secret": "s3-test", "domains": CRM_ROOTS,
                                        **({"storage": storage} if storage else {})})
    write_yaml(root / "governance/principals.yaml", {"users": {
        "ana": {"roles": ["analyst"], "attributes": {"region": "EU"}},
        "root": {"roles": ["admin"]}}})
    write_yaml(root / "governance/policies.yaml", policies([
        {"classification": "pii", "action": "mask", "method": "hash", "unless_roles": ["admin"]}]))
    write_yaml(root / "domains/crm/domain.yaml", {"grants": [
        {"products": ["*"], "roles": ["admin"]},
        {"products": ["people"], "roles": ["analyst"], "row_filter": "region = :region"}]})


class ConnectorSuite:
    """What every storage × layout must do.  Subclasses implement ``publish``."""

    hive = False

    def publish(self, root: Path, table: pa.Table, s3: FaultProxy | None) -> dict[str, Any]:
        """Write ``table`` somewhere and return the contract's server entry."""
        raise NotImplementedError

    @pytest.fixture
    def mesh_root(self, tmp_path: Path, request: pytest.FixtureRequest) -> Path:
        s3 = request.getfixturevalue("s3") if self.remote else None
        root = tmp_path / "mesh"
        server = self.publish(root, people_table(), s3)
        storage = {"s3": {"endpoint_url": s3.url, "path_style": True, "max_attempts": 2,
                          "read_timeout": 2, "connect_timeout": 2}} if s3 else None
        governance(root, storage)
        columns = [dict(c, partitioned=True) if self.hive and c["name"] == "region" else c
                   for c in COLUMNS]
        data = contract("crm", "people", columns)
        data["servers"] = [server]
        write_yaml(root / "domains/crm/people.odcs.yaml", data)
        return root

    remote = False

    def test_governed_read(self, mesh_root: Path) -> None:
        mesh = Mesh.open(mesh_root)
        rows = mesh.sql("SELECT region, count(*) AS n, min(email) AS e FROM crm.people "
                        "GROUP BY ALL", user="ana").arrow().to_pylist()
        assert rows == [{"region": "EU", "n": 2000, "e": rows[0]["e"]}]
        assert "@" not in rows[0]["e"]
        admin = mesh.sql("SELECT count(*) AS n, sum(score) AS s FROM crm.people", user="root")
        assert admin.arrow().to_pylist() == [{"n": ROWS, "s": float(sum(i % 97
                                                                        for i in range(ROWS)))}]

    def test_stamp_lists_every_file(self, mesh_root: Path) -> None:
        result = Mesh.open(mesh_root).sql("SELECT id FROM crm.people", user="root")
        files = result.stamp["products"]["crm.people"]["files"]
        assert len(files) == (2 if self.hive else 3)
        assert all(f["size"] > 0 for f in files)
        assert result.arrow().num_rows == ROWS

    def test_partition_filter_reads_only_its_files(self, mesh_root: Path) -> None:
        mesh = Mesh.open(mesh_root)
        result = mesh.sql("SELECT count(*) AS n FROM crm.people WHERE region = 'NA'", user="root")
        assert result.arrow().to_pylist() == [{"n": 1000}]

    def test_check_passes(self, mesh_root: Path) -> None:
        result = CliRunner().invoke(cli, ["--mesh", str(mesh_root), "check"])
        assert result.exit_code == 0, result.stdout


def _write_files(table: pa.Table, fs: Any, base: str, hive: bool) -> None:
    if hive:
        for region in ("EU", "NA"):
            part = table.filter(pa.compute.equal(table["region"], region)).drop_columns(["region"])
            with fs.open(f"{base}/region={region}/data.parquet", "wb") as f:
                pq.write_table(part, f)
        return
    for i in range(3):
        with fs.open(f"{base}/part-{i}.parquet", "wb") as f:
            pq.write_table(table.slice(i * 1000, 1000), f)


class _Local(ConnectorSuite):
    def publish(self, root: Path, table: pa.Table, s3: FaultProxy | None) -> dict[str, Any]:
        import fsspec

        base = root / "data" / "people"
        base.mkdir(parents=True)
        _write_files(table, fsspec.filesystem("file", auto_mkdir=True), str(base), self.hive)
        return {"server": "local", "type": "local", "format": "parquet", "path": "data/people"}


class _S3(ConnectorSuite):
    remote = True

    def publish(self, root: Path, table: pa.Table, s3: FaultProxy | None) -> dict[str, Any]:
        assert s3 is not None
        fs = filesystems.filesystem("s3", StorageSettings(s3=S3Settings(
            endpoint_url=s3.url, path_style=True)))
        fs.mkdir("lake")
        _write_files(table, fs, "lake/crm/people", self.hive)
        return {"server": "s3", "type": "s3", "format": "parquet",
                "location": "s3://lake/crm/people/"}


class TestLocalParquet(_Local):
    pass


class TestLocalHiveParquet(_Local):
    hive = True


class TestS3Parquet(_S3):
    pass


class TestS3HiveParquet(_S3):
    hive = True


# -- the demo on S3 -------------------------------------------------------------------

DEMO_QUERIES = [
    ("ana", "SELECT c.country, p.card_brand, count(*) AS bookings, sum(p.amount) AS revenue, "
            "min(c.email) AS sample_email FROM bookings.reservations b JOIN customers.profiles c "
            "ON c.customer_id = b.customer_id JOIN payments.transactions p "
            "ON p.booking_id = b.booking_id GROUP BY ALL ORDER BY revenue DESC, 1, 2"),
    ("adam", "SELECT booking_year, channel, count(*) AS n, sum(fare_amount) AS fares FROM "
             "bookings.reservations GROUP BY ALL ORDER BY ALL"),
    ("dana", "SELECT region, count(DISTINCT email) AS e FROM customers.profiles GROUP BY ALL "
             "ORDER BY ALL"),
    ("fiona", "SELECT card_number FROM payments.transactions ORDER BY payment_id LIMIT 20"),
    ("ana", "SELECT name, budget FROM marketing.campaigns WHERE channel = 'tv' ORDER BY 1"),
]


def test_demo_on_s3_gives_the_same_results_as_local(s3: FaultProxy, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUCKMESH_SECRET", "same-secret-for-both")
    local = write_demo(tmp_path / "local", scale=0.005)
    runner = CliRunner()
    made = runner.invoke(cli, ["demo", str(tmp_path / "remote"), "--scale", "0.005",
                               "--storage", "s3://demo-bucket/mesh", "--s3-endpoint-url", s3.url])
    assert made.exit_code == 0, made.stderr
    remote = tmp_path / "remote"
    assert not (remote / "data").exists()
    server = yaml.safe_load((remote / "domains/customers/profiles.odcs.yaml").read_text())
    assert server["servers"][0]["location"] == "s3://demo-bucket/mesh/customers/profiles/"
    for user, sql in DEMO_QUERIES:
        outs = [runner.invoke(cli, ["--mesh", str(m), "query", "-u", user, "--format", "json",
                                    sql]) for m in (local, remote)]
        assert outs[0].exit_code == outs[1].exit_code == 0, outs[1].stderr
        assert json.loads(outs[0].stdout) == json.loads(outs[1].stdout)
        assert json.loads(outs[1].stdout)
    assert runner.invoke(cli, ["--mesh", str(remote), "check"]).exit_code == 0
    iceberg = Mesh.open(remote).sql("SELECT count(*) FROM marketing.campaigns WHERE "
                                    "channel = 'tv'", user="ana")
    files = iceberg.stamp["products"]["marketing.campaigns"]["files"]
    assert len(files) == 1 and files[0]["path"].startswith("s3://demo-bucket/mesh/iceberg/")


# -- faults ---------------------------------------------------------------------------


@pytest.fixture
def s3_mesh(tmp_path: Path, s3: FaultProxy) -> Path:
    suite = TestS3Parquet()
    root = tmp_path / "mesh"
    server = suite.publish(root, people_table(), s3)
    governance(root, {"s3": {"endpoint_url": s3.url, "path_style": True, "max_attempts": 3,
                             "read_timeout": 1, "connect_timeout": 1}})
    data = contract("crm", "people", COLUMNS)
    data["servers"] = [server]
    write_yaml(root / "domains/crm/people.odcs.yaml", data)
    return root


def query(root: Path, sql: str = "SELECT count(*) AS n FROM crm.people") -> Result:
    return CliRunner().invoke(cli, ["--mesh", str(root), "query", "-u", "root", "--format",
                                    "json", sql])


def test_throttling_is_retried(s3_mesh: Path, s3: FaultProxy) -> None:
    s3.faults.throttle = 2  # fewer than max_attempts
    result = query(s3_mesh)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [{"n": ROWS}]
    assert s3.faults.throttle == 0


def test_throttling_that_never_stops_is_a_clear_error(s3_mesh: Path, s3: FaultProxy) -> None:
    s3.faults.throttle = 10_000
    result = query(s3_mesh)
    assert result.exit_code == 1
    assert result.stderr.startswith("duckmesh: error: crm.people")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_access_denied(s3_mesh: Path, s3: FaultProxy) -> None:
    s3.faults.deny = True
    result = query(s3_mesh)
    assert result.exit_code == 1
    assert "crm.people" in result.stderr and "access denied" in result.stderr


def test_missing_objects(s3_mesh: Path, s3: FaultProxy) -> None:
    fs = filesystems.filesystem("s3", StorageSettings(s3=S3Settings(endpoint_url=s3.url,
                                                                    path_style=True)))
    fs.rm("lake/crm/people", recursive=True)
    result = query(s3_mesh)
    assert result.exit_code == 1
    assert "crm.people" in result.stderr and "no data files" in result.stderr


def test_truncated_object_then_recovery(s3_mesh: Path, s3: FaultProxy) -> None:
    s3.faults.truncate_gets = 10_000
    result = query(s3_mesh, "SELECT sum(score) AS s FROM crm.people")
    assert result.exit_code == 1 and "crm.people" in result.stderr
    assert result.stdout == ""
    s3.reset()  # nothing wrong may have been cached: the next query reads good data
    again = query(s3_mesh, "SELECT sum(score) AS s FROM crm.people")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout) == [{"s": float(sum(i % 97 for i in range(ROWS)))}]


def test_corrupt_parquet_on_s3(s3_mesh: Path, s3: FaultProxy) -> None:
    fs = filesystems.filesystem("s3", StorageSettings(s3=S3Settings(endpoint_url=s3.url,
                                                                    path_style=True)))
    with fs.open("lake/crm/people/part-1.parquet", "wb") as f:
        f.write(b"PAR1 this is not parquet")
    result = query(s3_mesh)
    assert result.exit_code == 1
    assert "crm.people" in result.stderr and "not valid Parquet" in result.stderr


@pytest.mark.slow  # ~16 s: waits out the storage time limit
def test_stalled_endpoint_times_out(s3_mesh: Path, s3: FaultProxy) -> None:
    s3.faults.stall_seconds = 2.5  # past read_timeout = 1 s, on every attempt
    result = query(s3_mesh)
    assert result.exit_code == 1 and "crm.people" in result.stderr


def test_sandbox_allows_only_the_products_prefix(s3_mesh: Path, s3: FaultProxy) -> None:
    from federation.engines.duckdb import connect

    fs = filesystems.filesystem("s3", StorageSettings(s3=S3Settings(endpoint_url=s3.url,
                                                                    path_style=True)))
    with fs.open("lake/secret/keys.parquet", "wb") as f:
        pq.write_table(pa.table({"k": ["hunter2"]}), f)
    mesh = Mesh.open(s3_mesh)
    governed = mesh.govern("SELECT id FROM crm.people", "root")
    con = connect(governed, mesh.settings.engine, mesh.root)
    try:
        with pytest.raises(duckdb.PermissionException):
            con.execute("SELECT * FROM read_parquet('s3://lake/secret/keys.parquet')")
    finally:
        con.close()


def test_unknown_scheme_and_missing_optional_backend(tmp_path: Path) -> None:
    with pytest.raises(StorageError if False else Exception, match="unsupported storage scheme"):
        from connectors.storage import resolve_location

        resolve_location("ftp://host/x", tmp_path)
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        from connectors.errors import ConfigError

        with pytest.raises(ConfigError, match=r"pip install 'duckmesh\[gcsfs\]'"):
            filesystems.filesystem("gs")


def test_each_footer_is_fetched_once_per_query(s3_mesh: Path, s3: FaultProxy) -> None:
    clear_caches()
    s3.faults.requests.clear()
    assert query(s3_mesh, "SELECT sum(score) AS s FROM crm.people").exit_code == 0
    fs = filesystems.filesystem("s3", StorageSettings(s3=S3Settings(endpoint_url=s3.url,
                                                                    path_style=True)))
    for i in range(3):
        size = fs.size(f"lake/crm/people/part-{i}.parquet")
        tails = [r for r in s3.faults.requests if f"part-{i}.parquet" in r and
                 r.startswith("GET") and r.endswith(f"-{size - 1}")]
        assert len(tails) == 1, s3.faults.requests
    assert not [r for r in s3.faults.requests if r.startswith("PUT")]


def test_a_repeated_query_reuses_the_bytes_it_read(s3_mesh: Path, s3: FaultProxy) -> None:
    sql = "SELECT region, avg(score) AS s FROM crm.people GROUP BY ALL ORDER BY region"
    clear_caches()  # earlier tests may have read identical objects (same version) already
    mesh = Mesh.open(s3_mesh)
    first_result = mesh.sql(sql, user="root").arrow()
    first = s3.faults.served_bytes
    s3.faults.served_bytes = 0
    s3.faults.requests.clear()
    assert mesh.sql(sql, user="root").arrow() == first_result
    # Only the listing goes to the store again: footers and column chunks come from the
    # process's cache, keyed by each planned file's size and modification time.
    assert all("list-type" in r for r in s3.faults.requests), s3.faults.requests
    assert first > s3.faults.served_bytes > 0  # the listing, and nothing else


def test_a_changed_object_is_read_anew(s3_mesh: Path, s3: FaultProxy) -> None:
    mesh = Mesh.open(s3_mesh)
    sql = "SELECT count(*) AS n, max(id) AS top FROM crm.people"
    assert mesh.sql(sql, user="root").arrow().to_pylist() == [{"n": ROWS, "top": ROWS - 1}]
    fs = filesystems.filesystem("s3", mesh.settings.storage)
    last = sorted(fs.glob("lake/crm/people/*.parquet"))[-1]
    with fs.open(last, "wb") as handle:  # the producer rewrites a file: a new version
        pq.write_table(people_table().slice(2000, 10), handle)
    assert mesh.sql(sql, user="root").arrow().to_pylist() == [{"n": 2010, "top": 2009}]


def test_a_same_size_rewrite_within_a_second_is_read_anew(s3_mesh: Path, s3: FaultProxy) -> None:
    """Real S3 lists modification times to the second, so the cache key holds the ETag too
    (moto's times are finer, so here the time alone would also tell them apart)."""
    mesh = Mesh.open(s3_mesh)
    fs = filesystems.filesystem("s3", mesh.settings.storage)
    last = sorted(fs.glob("lake/crm/people/*.parquet"))[-1]
    table = people_table().slice(2000, 1000)

    def publish(first_email: str) -> dict[str, Any]:
        emails = [first_email, *table["email"].to_pylist()[1:]]
        with fs.open(last, "wb") as handle:  # fixed-width layout: same length, same size
            pq.write_table(table.set_column(1, "email", pa.array(emails)), handle,
                           compression="none", use_dictionary=False, write_statistics=False)
        fs.invalidate_cache()
        return dict(fs.info(last))

    sql = "SELECT email FROM crm.people WHERE id = 2000"
    first = publish("AAAAAAAAAA@example.org")
    assert mesh.sql(sql, user="root").arrow().to_pylist() == [{"email": "AAAAAAAAAA@example.org"}]
    second = publish("BBBBBBBBBB@example.org")
    assert second["size"] == first["size"] and second["ETag"] != first["ETag"]
    assert mesh.sql(sql, user="root").arrow().to_pylist() == [{"email": "BBBBBBBBBB@example.org"}]


@pytest.mark.parametrize("same_layout", [False, True])
def test_an_object_rewritten_while_a_query_runs_is_an_error_not_a_mix(
        tmp_path: Path, s3: FaultProxy, same_layout: bool) -> None:
    """Planning read the footer of one version; DuckDB must not decode another's bytes.

    With ``same_layout`` the new file has the same size and offsets (fixed-width, no
    compression): without a conditional read DuckDB returns the new values silently,
    under a stamp and contract check made for the old ones.
    """
    clear_caches()
    suite = TestS3Parquet()
    root = tmp_path / "mesh"
    server = suite.publish(root, people_table().drop_columns(["email"]), s3)
    governance(root, {"s3": {"endpoint_url": s3.url, "path_style": True}})
    data = contract("crm", "people", [c for c in COLUMNS if c["name"] != "email"])
    data["servers"] = [server]
    write_yaml(root / "domains/crm/people.odcs.yaml", data)
    fs = filesystems.filesystem("s3", StorageSettings(s3=S3Settings(endpoint_url=s3.url,
                                                                    path_style=True)))
    files = sorted(fs.glob("lake/crm/people/*.parquet"))
    options: dict[str, Any] = {"compression": "none", "use_dictionary": False,
                               "write_statistics": False}
    for name in files:  # a fixed-width layout both times
        table = pq.read_table(fs.open(name, "rb"))
        with fs.open(name, "wb") as handle:
            pq.write_table(table, handle, **options)
    mesh = Mesh.open(root)
    sql = "SELECT sum(score) AS s FROM crm.people"
    result = mesh.sql(sql, user="root")  # planned: listed, footers read
    sizes = [fs.size(name) for name in files]
    for name in files:  # the producer republishes every file
        table = pq.read_table(fs.open(name, "rb"))
        if same_layout:
            table = table.set_column(table.column_names.index("score"), "score",
                                     pa.array([1.0] * table.num_rows))
            with fs.open(name, "wb") as handle:
                pq.write_table(table, handle, **options)
        else:
            with fs.open(name, "wb") as handle:
                pq.write_table(table.slice(0, 10), handle)
    assert ([fs.size(name) for name in files] == sizes) is same_layout
    with pytest.raises(StorageError, match=r"^the data of crm\.people changed "
                                           r"while the query ran \(run it again\)"):
        result.arrow()
    again = mesh.sql(sql, user="root").arrow().to_pylist()  # a new plan: the new files
    assert again[0]["s"] == (ROWS * 1.0 if same_layout else
                             sum(float(i % 97) for i in range(ROWS) if i % 1000 < 10))


def test_an_object_rewritten_between_listing_and_footer(s3_mesh: Path, s3: FaultProxy) -> None:
    from connectors.footers import read_facts
    from connectors.listing import list_remote

    clear_caches()
    fs = filesystems.filesystem("s3", StorageSettings(s3=S3Settings(endpoint_url=s3.url,
                                                                    path_style=True)))
    listed = list_remote(fs, "s3", "lake/crm/people", glob=False)
    with fs.open(listed[0].path.removeprefix("s3://"), "wb") as handle:
        pq.write_table(people_table().slice(0, 10), handle)
    with pytest.raises(StorageError, match=r"data file 'part-0\.parquet' changed while "
                                           r"planning \(run the query again\)"):
        read_facts("crm.people", listed, "s3://lake/crm/people", False, fs)


def test_storage_failing_after_planning_names_the_product(s3_mesh: Path, s3: FaultProxy) -> None:
    """Errors raised inside DuckDB's reads (through the registered filesystem) reach the
    user as one line naming the product, never DuckDB's wrapped Python traceback."""
    clear_caches()
    result = Mesh.open(s3_mesh).sql("SELECT sum(score) AS s FROM crm.people", user="root")
    s3.faults.deny = True
    with pytest.raises(StorageError) as caught:
        result.arrow()
    assert str(caught.value) == "could not read the data of crm.people"


def test_storage_cache_zero_reads_ranges_again(s3_mesh: Path, s3: FaultProxy) -> None:
    settings = yaml.safe_load((s3_mesh / "duckmesh.yaml").read_text())
    settings["storage"]["cache"] = 0
    (s3_mesh / "duckmesh.yaml").write_text(yaml.safe_dump(settings))
    sql = "SELECT region, avg(score) AS s FROM crm.people GROUP BY ALL ORDER BY region"
    clear_caches()
    try:
        mesh = Mesh.open(s3_mesh)
        first = mesh.sql(sql, user="root").arrow()
        s3.faults.requests.clear()
        assert mesh.sql(sql, user="root").arrow() == first
        chunk_reads = [r for r in s3.faults.requests if ".parquet" in r and "bytes=" in r]
        assert len(chunk_reads) >= 3, s3.faults.requests  # column chunks fetched again
    finally:
        from connectors.tailcache import RANGES

        RANGES.resize(256 * 2**20)  # the process-wide default, for the tests after this


def test_conditional_reads_can_be_turned_off(s3_mesh: Path, s3: FaultProxy) -> None:
    """For a store that rejects conditional GETs: storage.s3.conditional_reads: false."""
    sql = "SELECT sum(score) AS s FROM crm.people"
    clear_caches()
    s3.faults.conditional = 0
    Mesh.open(s3_mesh).sql(sql, user="root").arrow()
    assert s3.faults.conditional > 0  # the default: every ranged read is pinned
    settings = yaml.safe_load((s3_mesh / "duckmesh.yaml").read_text())
    settings["storage"]["s3"]["conditional_reads"] = False
    (s3_mesh / "duckmesh.yaml").write_text(yaml.safe_dump(settings))
    clear_caches()
    s3.faults.conditional = 0
    rows = Mesh.open(s3_mesh).sql(sql, user="root").arrow().to_pylist()
    assert rows == [{"s": float(sum(i % 97 for i in range(ROWS)))}]
    assert s3.faults.conditional == 0


# -- storage waits are bounded (issue 14, item 10): the query's time limit covers storage,
# and a body the store cuts short is retried, then one line naming the product


def _limit(root: Path, seconds: float) -> None:
    path = root / "duckmesh.yaml"
    data = yaml.safe_load(path.read_text())
    data["engine"] = {"timeout_seconds": seconds}
    data["storage"]["s3"]["read_timeout"] = 30  # longer than the stall: only the limit ends it
    write_yaml(path, data)


def test_a_cut_body_is_read_again(s3_mesh: Path, s3: FaultProxy) -> None:
    s3.faults.truncate_ranges = 2  # fewer than max_attempts (3)
    result = Mesh.open(s3_mesh).sql("SELECT sum(score) AS s FROM crm.people", user="root")
    assert result.arrow().to_pylist() == [{"s": float(sum(i % 97 for i in range(ROWS)))}]
    assert s3.faults.truncate_ranges == 0


def test_bodies_always_cut_end_in_one_line_naming_the_product(s3_mesh: Path,
                                                              s3: FaultProxy) -> None:
    from connectors.footers import clear_caches

    clear_caches()  # an earlier test may have cached these very objects: fetch them again
    s3.faults.truncate_ranges = 10_000
    with pytest.raises(StorageError, match="crm.people.*cutting its answers short"):
        Mesh.open(s3_mesh).sql("SELECT sum(score) FROM crm.people", user="root").arrow()
    shown = CliRunner().invoke(cli, ["--mesh", str(s3_mesh), "products", "show", "crm.people",
                                     "--format", "json"])
    assert shown.exit_code == 0, shown.stderr
    assert "cutting its answers short" in json.loads(shown.stdout)["facts"]["error"]
    queried = CliRunner().invoke(cli, ["--mesh", str(s3_mesh), "query", "-u", "root",
                                       "SELECT count(*) FROM crm.people"])
    assert queried.exit_code == 1 and "internal error" not in queried.stderr
    assert queried.stderr.count("\n") == 1 and "crm.people" in queried.stderr


def test_a_stalled_store_during_planning_ends_at_the_time_limit(s3_mesh: Path,
                                                                s3: FaultProxy) -> None:
    _limit(s3_mesh, 1.0)
    mesh = Mesh.open(s3_mesh)
    s3.faults.stall_seconds = 3.0
    with pytest.raises(StorageError, match="time limit ran out"):
        mesh.sql("SELECT count(*) FROM crm.people", user="root")


def test_a_stalled_store_during_execution_ends_at_the_time_limit(s3_mesh: Path,
                                                                 s3: FaultProxy) -> None:
    _limit(s3_mesh, 1.5)
    mesh = Mesh.open(s3_mesh)
    result = mesh.sql("SELECT sum(score) FROM crm.people", user="root")  # planned now
    s3.faults.stall_seconds = 3.0  # then every data read stalls
    with pytest.raises(QueryTimeout, match="limit of 1.5 s"):
        result.arrow()
