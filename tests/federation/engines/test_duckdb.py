"""The sandboxed executor: what the connection can reach, time limits, storage faults."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import yaml

from federation import Mesh
from federation.engines.duckdb import connect
from federation.errors import QueryFailed, QueryTimeout, StorageError
from products.config import EngineSettings


def test_connection_reaches_only_the_queried_products(mesh: Mesh) -> None:
    query = mesh.govern("SELECT origin FROM flights.schedule", "ana")
    con = connect(query, EngineSettings(threads=1, memory_limit="256MB"), mesh.root)
    try:
        assert con.execute("SELECT count(*) FROM read_parquet($p)", {
            "p": str(mesh.root / "data/flights/schedule/*.parquet")}).fetchone() == (20000,)
        with pytest.raises(duckdb.PermissionException):
            con.execute("SELECT * FROM read_parquet($p)",
                        {"p": str(mesh.root / "data/payments/transactions/*.parquet")})
        with pytest.raises(duckdb.PermissionException):
            con.execute("SELECT * FROM read_text($p)", {"p": str(mesh.root / ".duckmesh/secret")})
        with pytest.raises(duckdb.Error):
            con.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error):
            con.execute("INSTALL httpfs")
        assert con.execute("SELECT current_setting('threads')").fetchone() == (1,)
        secret_table = pa.table({"x": [1]})  # noqa: F841 - must not be visible as a table
        with pytest.raises(duckdb.CatalogException):
            con.execute("SELECT * FROM secret_table")
    finally:
        con.close()


def _set_engine(root: Path, **engine: object) -> None:
    path = root / "duckmesh.yaml"
    data = yaml.safe_load(path.read_text())
    data["engine"] = {**data.get("engine", {}), **engine}
    path.write_text(yaml.safe_dump(data))


def test_time_limit_interrupts_the_query(demo_copy: Path) -> None:
    _set_engine(demo_copy, timeout_seconds=0.5)
    mesh = Mesh.open(demo_copy)
    slow = ("SELECT count(*) FROM bookings.reservations a, bookings.reservations b, "
            "flights.schedule f WHERE a.booking_id + b.booking_id + f.flight_id < 0")
    with pytest.raises(QueryTimeout, match="limit of 0.5 s"):
        mesh.sql(slow, user="adam").arrow()


def test_missing_product_data_names_the_product(demo_copy: Path) -> None:
    shutil.rmtree(demo_copy / "data/flights/schedule")
    mesh = Mesh.open(demo_copy)
    with pytest.raises(StorageError, match="flights.schedule") as info:
        mesh.sql("SELECT * FROM flights.schedule", user="ana").arrow()
    assert str(demo_copy) not in str(info.value)


def test_empty_product_folder_is_a_storage_error(demo_copy: Path) -> None:
    folder = demo_copy / "data/flights/schedule"
    for f in folder.iterdir():
        f.unlink()
    with pytest.raises(StorageError, match="flights.schedule"):
        Mesh.open(demo_copy).sql("SELECT * FROM flights.schedule", user="ana").arrow()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_parquet_is_a_clear_storage_error(demo_copy: Path, damage: str) -> None:
    target = next((demo_copy / "data/payments/transactions").glob("*.parquet"))
    data = target.read_bytes()
    target.write_bytes(b"not parquet at all" if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(StorageError) as info:
        Mesh.open(demo_copy).sql("SELECT sum(amount) FROM payments.transactions",
                                 user="ana").arrow()
    message = str(info.value)
    assert "payments.transactions" in message and str(demo_copy) not in message


def test_engine_errors_are_sanitized(mesh: Mesh) -> None:
    with pytest.raises(QueryFailed) as info:
        mesh.sql("SELECT strptime(email, '%d/%m/%Y') FROM customers.profiles", user="adam").arrow()
    message = str(info.value)
    assert "@" not in message and "duckmesh_src" not in message and "LINE" not in message


def test_batches_stream_and_the_connection_closes(mesh: Mesh) -> None:
    result = mesh.sql("SELECT booking_id FROM bookings.reservations", user="ana")
    batches = list(result.batches(rows_per_batch=1000))
    assert sum(b.num_rows for b in batches) == 10000
    assert len(batches) > 1  # streamed, not one table
    reader = result.reader()
    assert reader.schema.names == ["booking_id"]
    reader.close()


def test_dataframes(mesh: Mesh) -> None:
    result = mesh.sql("SELECT region, count(*) AS n FROM customers.profiles GROUP BY 1",
                      user="dana")
    assert sorted(result.df()["region"]) == ["APAC", "EU", "LATAM", "NA"]
    assert result.pl().height == 4
    assert "governed" not in repr(result) and result.products == ("customers.profiles",)


def test_progress_callback_receives_percentages(mesh: Mesh) -> None:
    """A query long enough to be polled (progress is read every 0.2 s; this self-join of
    10,000 bookings runs about a second here) reports percentages while it runs."""
    seen: list[float] = []
    mesh.sql("SELECT count(*) FROM bookings.reservations a, bookings.reservations b "
             "WHERE (a.booking_id * 31 + b.booking_id * 17) % 7 = (a.passengers + "
             "b.passengers) % 7 AND a.fare_amount * b.passengers < b.fare_amount * "
             "a.passengers", user="ana", progress=seen.append).arrow()
    assert seen, "the progress callback was never called"
    assert all(0 <= p <= 100 for p in seen)



SCRIPT = """
import sys
from federation import Mesh
reader = Mesh.open(sys.argv[1]).sql("SELECT booking_id FROM bookings.reservations",
                                    user="ana").reader()
print(reader.read_next_batch().num_rows)
"""


def test_a_program_leaving_a_result_unread_exits_cleanly(demo_copy: Path,
                                                          tmp_path: Path) -> None:
    """A script that stops reading a result and ends: no report from DuckDB's bindings of
    objects alive at exit, and the audit record says the result was not read to the end."""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(demo_copy)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and int(proc.stdout) > 0
    assert proc.stderr == ""
    records = sorted((demo_copy / ".duckmesh/audit/records").glob("*.json"))
    last = json.loads(records[-1].read_text())
    assert last["sql"].startswith("SELECT booking_id") and last["outcome"] == "failed"
    assert last["error"] == "the result was not read to the end: its reader stopped"
