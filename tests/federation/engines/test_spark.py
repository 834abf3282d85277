"""The Spark engine in the default suite: the acceptance query through the CLI, a parity
subset, masks byte for byte, refusals, sanitized errors, the key kept out of Spark's
plans, the audit, and the engine choice.  Spark starts once per session (the ``spark``
fixture); the whole parity suite is in test_spark_parity.py (slow)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from federation import Mesh
from federation.cli import cli
from federation.engines.choose import choose
from federation.engines.spark import (
    SPARK_BATCH_ROWS,
    SparkExecution,
    display_views,
    shapes,
    spark_sql,
)
from federation.errors import QueryFailed, QueryRejected, QueryTimeout, UsageError
from federation.governance.masks import hmac_params, reference_hash
from products.config import EngineSettings, SparkSettings, mask_secret
from tests.conftest import leaked
from tests.federation.engines.spark_parity import difference, needs_spark
from tests.federation.engines.spark_queries import DEMO_SQL, QUERIES, REFUSED

# The parity subset of the default suite (the slow suite runs every query as both users).
SUBSET = ("demo", "masked columns", "avg of a decimal is a double",
          "division as double, by zero as inf", "qualify with order by and limit",
          "qualify on an aggregate alias", "windows", "dates and intervals", "casts",
          "iceberg product", "hive partition column")


def _cli(root: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--mesh", str(root), *args])


# -- no Spark needed ----------------------------------------------------------------------

def test_importing_duckmesh_does_not_import_pyspark() -> None:
    code = "import sys, federation, federation.cli; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("sql", "word"), REFUSED, ids=[w for _, w in REFUSED])
def test_constructs_spark_would_compute_differently_are_refused(mesh: Mesh, sql: str,
                                                                word: str) -> None:
    governed = mesh.govern(sql, "adam")
    types = shapes(governed, mesh.settings.engine, mesh.root).types
    with pytest.raises(QueryRejected, match="not supported on the spark engine") as caught:
        spark_sql(governed, display_views(governed), types)
    assert word.lower() in str(caught.value).lower()
    assert "--engine duckdb" in (caught.value.hint or "")


def test_engine_choice() -> None:
    settings = EngineSettings.model_validate({"default": "auto",
                                              "spark": {"auto_threshold": "1GB"}})
    assert choose(None, EngineSettings(), 10**15) == "duckdb"
    assert choose("duckdb", settings, 10**12) == "duckdb"
    assert choose(None, settings, 10**8) == "duckdb"
    pytest.importorskip("pyspark")
    assert choose(None, settings, 2 * 10**9) == "spark"
    assert choose("spark", EngineSettings(), 0) == "spark"
    with pytest.raises(UsageError):
        choose("oracle", settings, 0)


def test_spark_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="sc://"):
        SparkSettings(remote="http://host:15002")
    with pytest.raises(ValueError, match="size"):
        SparkSettings(auto_threshold="lots")


def test_explain_shows_the_engine_and_the_spark_sql(demo_root: Path) -> None:
    result = _cli(demo_root, "explain", "--engine", "spark", "--user", "ana", DEMO_SQL)
    assert result.exit_code == 0, result.output
    assert "-- engine: spark" in result.stdout
    assert "-- Spark SQL" in result.stdout
    spark_text = result.stdout.split("-- Spark SQL", 1)[1]
    assert "SHA2(CONCAT(:duckmesh_mask_opad" in spark_text
    assert "READ_PARQUET" not in spark_text and "duckmesh_view_customers__profiles" in spark_text
    key = mask_secret(demo_root, Mesh.open(demo_root).settings)
    assert key is not None and key.decode() not in result.stdout
    data = json.loads(_cli(demo_root, "explain", "--engine", "spark", "--user", "ana",
                           "--format", "json", DEMO_SQL).stdout)
    assert data["engine"] == "spark" and "spark_sql" in data
    assert json.loads(_cli(demo_root, "explain", "--user", "ana", "--format", "json",
                           DEMO_SQL).stdout)["engine"] == "duckdb"


# -- on Spark (local mode, started once) ----------------------------------------------------

@needs_spark
def test_acceptance_the_demo_query_prints_the_same_on_both_engines(demo_root: Path,
                                                                   spark: Any) -> None:
    duck = _cli(demo_root, "query", "--user", "ana", DEMO_SQL)
    on_spark = _cli(demo_root, "query", "--engine", "spark", "--user", "ana", DEMO_SQL)
    assert duck.exit_code == 0 and on_spark.exit_code == 0, on_spark.output
    assert on_spark.stdout == duck.stdout
    assert on_spark.stderr == duck.stderr == "(10 rows)\n"


@needs_spark
@pytest.mark.parametrize("user", ["ana", "adam"])
def test_parity_subset(mesh: Mesh, spark: Any, user: str) -> None:
    for name, sql, ordered in QUERIES:
        if name not in SUBSET:
            continue
        duck = mesh.sql(sql, user=user).arrow()
        on_spark = mesh.sql(sql, user=user, engine="spark").arrow()
        assert difference(duck, on_spark, ordered=ordered) is None, name


@needs_spark
def test_masks_are_identical_byte_for_byte_and_join_across_engines(mesh: Mesh,
                                                                   demo_root: Path,
                                                                   spark: Any) -> None:
    sql = "SELECT customer_id, email FROM customers.profiles"
    duck = {r["customer_id"]: r["email"] for r in mesh.sql(sql, user="ana").arrow().to_pylist()}
    on_spark = mesh.sql(sql, user="ana", engine="spark").arrow().to_pylist()
    assert {r["customer_id"]: r["email"] for r in on_spark} == duck
    key = mask_secret(demo_root, mesh.settings)
    assert key is not None
    raw = mesh.sql("SELECT customer_id, email FROM customers.profiles WHERE region = 'EU'",
                   user="adam").arrow().to_pylist()
    assert {r["customer_id"]: reference_hash(key, r["email"]) for r in raw} == duck


@needs_spark
def test_the_mask_key_never_reaches_spark_sql_or_plans(mesh: Mesh, demo_root: Path,
                                                       spark: Any) -> None:
    governed = mesh.sql(DEMO_SQL, user="ana").query
    key = mask_secret(demo_root, mesh.settings)
    assert key is not None
    pads = [p.hex() for p in hmac_params(key).values()]
    execution = SparkExecution(governed, mesh.settings.engine, mesh.root)
    try:
        frame = execution.dataframe()
        plans = frame._jdf.queryExecution().toString()  # what EXPLAIN and the UI show
    finally:
        execution.close()
    assert "redacted" in plans
    for pad in pads:
        assert pad.lower() not in plans.lower()
    assert key.decode() not in plans


@needs_spark
def test_errors_are_one_clean_line(demo_root: Path, raw_secrets: frozenset[str],
                                   spark: Any) -> None:
    for sql in ("SELECT 1 % (customer_id - customer_id) AS x FROM customers.profiles",
                "SELECT customer_id * 9223372036854775807 AS x FROM customers.profiles"):
        result = _cli(demo_root, "query", "--engine", "spark", "--user", "adam", sql)
        assert result.exit_code == 1
        assert result.stderr.startswith("duckmesh: error: ")
        assert result.stderr.count("\n") == 1, result.stderr
        assert not leaked(result.stderr, raw_secrets)
        assert "spark" not in result.stderr.lower() or "engine" in result.stderr
        assert "Traceback" not in result.stderr and "SELECT" not in result.stderr


@needs_spark
def test_a_spark_query_is_audited_with_its_engine(demo_copy: Path, spark: Any) -> None:
    mesh = Mesh.open(demo_copy)
    mesh.sql("SELECT count(*) AS n FROM flights.schedule", user="adam", engine="spark").arrow()
    records = list(mesh.audit.records())
    assert records[-1]["engine"] == "spark" and records[-1]["outcome"] == "ok"
    assert records[-1]["rows"] == 1
    with pytest.raises(QueryFailed):
        mesh.sql("SELECT 1 % (seats - seats) AS x FROM flights.schedule", user="adam",
                 engine="spark").arrow()
    last = list(mesh.audit.records())[-1]
    assert last["engine"] == "spark" and last["outcome"] != "ok"


@needs_spark
def test_the_time_limit_stops_a_spark_query(demo_copy: Path, spark: Any) -> None:
    mesh = Mesh.open(demo_copy)
    # 10^8 pairs: seconds of work, in a few tasks that end soon after the job is cancelled
    # (Spark stops a job between tasks; a running task finishes its partition).
    slow = ("SELECT count(*) AS n FROM bookings.reservations a, bookings.reservations b "
            "WHERE a.fare_amount + b.fare_amount > 1000 + a.passengers")
    governed = mesh.sql(slow, user="adam").query
    settings = mesh.settings.engine.model_copy(update={"timeout_seconds": 0.5})
    with pytest.raises(QueryTimeout):
        SparkExecution(governed, settings, mesh.root).reader().read_all()
    tracker = spark.sparkContext.statusTracker()
    deadline = time.monotonic() + 60
    while tracker.getActiveJobsIds() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not tracker.getActiveJobsIds()


@needs_spark
def test_denials_and_budgets_apply_before_spark_starts(demo_root: Path, spark: Any) -> None:
    result = _cli(demo_root, "query", "--engine", "spark", "--user", "ana",
                  "SELECT card_number FROM payments.transactions")
    assert result.exit_code == 3
    result = _cli(demo_root, "query", "--engine", "spark", "--user", "ana",
                  "SELECT * FROM read_parquet('data/payments/transactions/*.parquet')")
    assert result.exit_code == 1


@needs_spark
def test_cli_formats_on_spark(demo_root: Path, tmp_path: Path, spark: Any) -> None:
    sql = "SELECT country, count(*) AS n FROM customers.profiles GROUP BY ALL ORDER BY country"
    for fmt in ("json", "csv"):
        duck = _cli(demo_root, "query", "--user", "ana", "--format", fmt, sql)
        on_spark = _cli(demo_root, "query", "--engine", "spark", "--user", "ana", "--format",
                        fmt, sql)
        assert on_spark.stdout == duck.stdout
    import pyarrow.parquet as pq

    # --output of a result of several partitions (one per product), streamed: the same
    # rows, in the same order, as DuckDB's file; the stamp in the file's metadata.
    big = ("SELECT booking_id AS id, 'b' AS k FROM bookings.reservations UNION ALL SELECT "
           "customer_id, 'c' FROM customers.profiles ORDER BY id, k")
    files = {engine: tmp_path / f"{engine}.parquet" for engine in ("duckdb", "spark")}
    for engine, out in files.items():
        result = _cli(demo_root, "query", "--engine", engine, "--user", "ana", "-o", str(out),
                      big)
        assert result.exit_code == 0, result.output
    assert b"duckmesh.stamp" in pq.read_metadata(files["spark"]).metadata
    assert pq.read_table(files["spark"]).equals(pq.read_table(files["duckdb"]))


@needs_spark
def test_a_large_result_streams_one_partition_at_a_time(mesh: Mesh, spark: Any) -> None:
    """Python holds one Arrow batch of the result, the driver one partition (and the
    next, prefetched): after the first batch not every partition has been computed."""
    # UNION ALL: at least one partition per product, whatever their sizes.
    sql = ("SELECT booking_id AS id FROM bookings.reservations UNION ALL SELECT customer_id "
           "FROM customers.profiles UNION ALL SELECT flight_id FROM flights.schedule")
    governed = mesh.sql(sql, user="adam").query
    outcomes: list[tuple[int | None, BaseException | None]] = []
    execution = SparkExecution(governed, mesh.settings.engine, mesh.root,
                               on_done=lambda rows, error: outcomes.append((rows, error)))
    tracker = spark.sparkContext.statusTracker()
    reader = execution.reader()
    first = reader.read_next_batch()
    jobs_at_first_batch = len(tracker.getJobIdsForGroup(execution._tag))
    sizes = [first.num_rows, *(batch.num_rows for batch in reader)]
    jobs = len(tracker.getJobIdsForGroup(execution._tag))
    assert jobs >= 3 and jobs_at_first_batch < jobs  # one job per partition of the result
    assert len(sizes) > 1 and max(sizes) <= SPARK_BATCH_ROWS
    assert outcomes == [(sum(sizes), None)]
    assert sum(sizes) == mesh.sql(sql, user="adam").arrow().num_rows


@needs_spark
def test_a_stream_given_up_is_audited_and_released(mesh: Mesh, spark: Any) -> None:
    governed = mesh.sql("SELECT booking_id FROM bookings.reservations", user="adam").query
    outcomes: list[tuple[int | None, BaseException | None]] = []
    execution = SparkExecution(governed, mesh.settings.engine, mesh.root,
                               on_done=lambda rows, error: outcomes.append((rows, error)))
    reader = execution.reader()
    reader.read_next_batch()
    del reader  # the only reference: the engine's stream is closed now (as the server does)
    gc.collect()
    assert len(outcomes) == 1 and isinstance(outcomes[0][1], QueryFailed)
    assert execution._session is None and execution._views == []
    deadline = time.monotonic() + 60
    tracker = spark.sparkContext.statusTracker()
    while tracker.getActiveJobsIds() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not tracker.getActiveJobsIds()


def test_benchmarks_do_not_import_tests() -> None:
    import ast

    root = Path(__file__).parents[3] / "benchmarks" / "tpch"
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "tests" or n.startswith("tests.") for n in names), path


def test_a_report_names_its_engine() -> None:
    from federation.reports.spec import ReportSpec

    base = {"sql": "SELECT 1", "run_as": "ana", "schedule": "0 6 * * *",
            "destination": "out/x.parquet"}
    assert ReportSpec.model_validate({**base, "engine": "spark"}).engine == "spark"
    assert ReportSpec.model_validate(base).engine is None
    with pytest.raises(ValueError):
        ReportSpec.model_validate({**base, "engine": "oracle"})
