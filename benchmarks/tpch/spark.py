"""``make bench ENGINE=spark``: governed Spark vs raw Spark on the same files, and DuckDB
(governed) in the same run.

Raw Spark is what a user without duckmesh would run: a session with a temporary view
per table over the same Parquet files, and the TPC-H query transpiled to Spark SQL by
sqlglot.  Governed Spark is ``Mesh.sql(..., engine="spark")`` as the admin: planning,
binding the result types in DuckDB, a session of its own with its views, the governed
SQL, the result conformed to DuckDB's types.  Both run in the same SparkContext
(local[*]); each query runs once to warm up, then ``runs`` rounds alternate the variants.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlglot

from benchmarks.tpch.compare import difference
from benchmarks.tpch.harness import geomean, load_queries, machine, versions
from benchmarks.tpch.mesh import ADMIN, raw_views
from connectors.writers import atomic_file
from federation import Mesh
from federation.engines.spark_session import query_session, root_session


def raw_spark_runner(mesh: Mesh) -> Callable[[str], pa.Table]:
    """Plain Spark on the same files, a new session and views per query."""
    views = raw_views(mesh.root)
    settings = mesh.settings.engine

    def run(sql: str) -> pa.Table:
        session = query_session(settings.spark, settings.timezone)
        for schema, table, files in views:
            session.read.parquet(*files).createOrReplaceTempView(f"{schema}_{table}")
        tree = sqlglot.parse_one(sql, read="duckdb")
        for node in tree.find_all(sqlglot.exp.Table):
            if node.db:
                node.set("this", sqlglot.exp.to_identifier(f"{node.db}_{node.name}"))
                node.set("db", None)
        return session.sql(tree.sql("spark")).toArrow()

    return run


def run(root: Path, scale_factor: float, *, runs: int = 3, selected: list[int] | None = None,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Time every selected query raw on Spark, governed on Spark and governed on DuckDB."""
    mesh = Mesh.open(root)
    started = time.perf_counter()
    root_session(mesh.settings.engine.spark)
    startup = time.perf_counter() - started
    raw = raw_spark_runner(mesh)
    variants: dict[str, Callable[[str], pa.Table]] = {
        "raw_spark": raw,
        "governed_spark": lambda sql: mesh.sql(sql, user=ADMIN, engine="spark").arrow(),
        "governed_duckdb": lambda sql: mesh.sql(sql, user=ADMIN).arrow(),
    }
    rows = []
    for number, sql in load_queries(selected).items():
        answers = {name: fn(sql) for name, fn in variants.items()}  # warm-up
        mismatch = difference(answers["governed_duckdb"], answers["governed_spark"])
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(runs):
            for name, fn in variants.items():
                start = time.perf_counter()
                fn(sql)
                times[name].append((time.perf_counter() - start) * 1000)
        med = {name: statistics.median(v) for name, v in times.items()}
        pairs = [g / r for g, r in zip(times["governed_spark"], times["raw_spark"],
                                       strict=True)]
        row = {"query": number, "rows": answers["governed_duckdb"].num_rows,
               **{f"{k}_ms": v for k, v in med.items()},
               "governed_over_raw": statistics.median(pairs),
               "spark_over_duckdb": med["governed_spark"] / med["governed_duckdb"],
               "spark_equals_duckdb": mismatch is None, "mismatch": mismatch}
        rows.append(row)
        log(f"q{number:02} raw spark {med['raw_spark']:8.1f} ms  governed spark "
            f"{med['governed_spark']:8.1f} ms ({row['governed_over_raw']:.2f}x)  duckdb "
            f"{med['governed_duckdb']:7.1f} ms  {'' if mismatch is None else 'DIFFERS'}")
    return {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scale_factor": scale_factor, "runs": runs, "machine": machine(),
        "versions": {**versions(), "pyspark": _pyspark_version()},
        "spark_startup_s": startup, "queries": rows,
        "summary": {
            "governed_over_raw_geomean": geomean([r["governed_over_raw"] for r in rows]),
            "spark_over_duckdb_geomean": geomean([r["spark_over_duckdb"] for r in rows]),
            "different": [r["query"] for r in rows if not r["spark_equals_duckdb"]],
        },
    }


def _pyspark_version() -> str:
    import pyspark

    return str(pyspark.__version__)


def markdown(report: dict[str, Any]) -> str:
    """The run as a markdown table."""
    s = report["summary"]
    m = report["machine"]
    lines = [
        f"### TPC-H SF{report['scale_factor']:g} on Spark, {report['started']}",
        "",
        f"- governed Spark / raw Spark, geometric mean of per-query median pair ratios: "
        f"**{s['governed_over_raw_geomean']:.2f}×**",
        f"- governed Spark / governed DuckDB, geometric mean: "
        f"**{s['spark_over_duckdb_geomean']:.1f}×**",
        "- Spark's answers equal DuckDB's (floats to 1e-9): " + (
            "all" if not s["different"] else
            "NOT for " + ", ".join(f"q{n:02}" for n in s["different"])),
        f"- Spark start-up (once per process): {report['spark_startup_s']:.1f} s; "
        f"{report['runs']} alternating runs per variant after a warm-up, medians",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory']}; Spark local[*]",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        "",
        "| query | rows | raw Spark ms | governed Spark ms | governed / raw | "
        "DuckDB ms | Spark / DuckDB | same answer |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["queries"]:
        lines.append(
            f"| q{r['query']:02} | {r['rows']} | {r['raw_spark_ms']:,.0f} | "
            f"{r['governed_spark_ms']:,.0f} | {r['governed_over_raw']:.2f}× | "
            f"{r['governed_duckdb_ms']:,.0f} | {r['spark_over_duckdb']:.1f}× | "
            f"{'yes' if r['spark_equals_duckdb'] else '**no**'} |")
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """``<date>-sf<N>-spark.json`` and ``.md`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{report['started'][:10]}-sf{report['scale_factor']:g}-spark"
    json_path, md_path = folder / f"{stem}.json", folder / f"{stem}.md"
    with atomic_file(json_path) as handle:
        handle.write((json.dumps(report, indent=2, default=_jsonable) + "\n").encode())
    with atomic_file(md_path) as handle:
        handle.write(markdown(report).encode())
    return json_path, md_path


def _jsonable(value: object) -> object:
    return None if isinstance(value, float) and not math.isfinite(value) else str(value)
