"""Run the 22 TPC-H queries raw, as the admin and as the analyst; time, compare, report.

Each query runs once per variant as a warm-up (the admin result is then checked against
raw DuckDB's), then ``runs`` rounds alternate raw, admin, analyst (and DataFusion when it
is installed) so drift in the machine hits every variant alike.  Every run opens a fresh
DuckDB connection, as duckmesh does per query.  Planning (parse → governed SQL, listing
files included) is timed on its own, without executing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import math
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from benchmarks.tpch.mesh import ADMIN, ANALYST, raw_views
from federation import Mesh
from federation.errors import AccessDenied

QUERIES = Path(__file__).parent / "queries"
FLOAT_TOLERANCE = 1e-9


def load_queries(selected: list[int] | None = None) -> dict[int, str]:
    """Query number → SQL text, from ``queries/qNN.sql``."""
    out = {int(p.stem[1:]): p.read_text() for p in sorted(QUERIES.glob("q*.sql"))}
    return {n: sql for n, sql in out.items() if not selected or n in selected}


def view_statements(views: list[tuple[str, str, list[str]]]) -> list[str]:
    """CREATE SCHEMA/VIEW statements (built as sqlglot expressions) for the raw side."""
    out = []
    for schema in dict.fromkeys(s for s, _, _ in views):
        out.append(exp.Create(this=exp.Table(db=exp.to_identifier(schema, quoted=True)),
                              kind="SCHEMA", exists=True).sql("duckdb"))
    for schema, table, files in views:
        scan = exp.func("read_parquet", exp.Array(expressions=[exp.Literal.string(f)
                                                               for f in files]))
        out.append(exp.Create(
            this=exp.to_table(f'"{schema}"."{table}"'), kind="VIEW",
            expression=exp.select("*").from_(scan)).sql("duckdb"))
    return out


def raw_runner(root: Path) -> Callable[[str], pa.Table]:
    """Plain DuckDB on the same files: ``domain.product`` is a view over read_parquet."""
    statements = view_statements(raw_views(root))

    def run(sql: str) -> pa.Table:
        con = duckdb.connect()
        try:
            for statement in statements:
                con.execute(statement)
            return con.sql(sql).to_arrow_table()
        finally:
            con.close()

    return run


def datafusion_runner(root: Path) -> Callable[[str], pa.Table] | None:
    """DataFusion on the same files, as a reference column; None when not installed."""
    try:
        import datafusion
    except ImportError:
        return None
    views = raw_views(root)

    def run(sql: str) -> pa.Table:
        ctx = datafusion.SessionContext()
        for schema in {s for s, _, _ in views}:
            ctx.sql(f"CREATE SCHEMA {schema}")
        for schema, table, files in views:
            ctx.register_parquet(f"{schema}.{table}", str(Path(files[0]).parent))
        return ctx.sql(sql).to_arrow_table()

    return run


def governed_runner(mesh: Mesh, user: str) -> Callable[[str], pa.Table]:
    def run(sql: str) -> pa.Table:
        return mesh.sql(sql, user=user).arrow()

    return run


def _canonical(table: pa.Table) -> list[tuple[Any, ...]]:
    """Rows as tuples, floats rounded, sorted: results equal up to row order and float noise."""
    def norm(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, 6) if math.isfinite(value) else str(value)
        return value

    rows = [tuple(norm(v) for v in row.values()) for row in table.to_pylist()]
    return sorted(rows, key=repr)


def same_result(left: pa.Table, right: pa.Table) -> str | None:
    """None when both tables hold the same rows (names and types included), else why not."""
    if left.column_names != right.column_names:
        return f"columns differ: {left.column_names} vs {right.column_names}"
    if left.schema.types != right.schema.types:
        return f"types differ: {left.schema.types} vs {right.schema.types}"
    if left.num_rows != right.num_rows:
        return f"row counts differ: {left.num_rows} vs {right.num_rows}"
    if _canonical(left) != _canonical(right):
        return "values differ"
    return None


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def geomean(values: list[float]) -> float | None:
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else None


@dataclass
class QueryResult:
    """One query's figures; times in milliseconds."""

    query: int
    rows: int
    raw_ms: float
    admin_ms: float
    analyst_ms: float | None
    analyst_denied: str | None
    datafusion_ms: float | None
    admin_ratio: float
    analyst_ratio: float | None
    pair_ratios_admin: list[float]
    pair_ratios_analyst: list[float]
    correct: bool
    mismatch: str | None
    plan_p50_ms: float
    plan_p99_ms: float


@dataclass
class Report:
    """A whole run: machine, versions, per-query figures, summary."""

    started: str
    scale_factor: float
    runs: int
    plan_iterations: int
    machine: dict[str, Any]
    versions: dict[str, str]
    queries: list[QueryResult] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        first = meminfo.read_text().splitlines()[0].split()
        memory = f"{int(first[1]) / 1024 / 1024:.1f} GiB"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": memory,
            "os": platform.platform(), "python": platform.python_version()}


def versions() -> dict[str, str]:
    out = {}
    for dist in ("duckdb", "sqlglot", "pyarrow", "duckmesh", "datafusion", "tpchgen-cli"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
            check=True, cwd=Path(__file__).parent).stdout.strip()
    return out


def plan_times(mesh: Mesh, sql: str, iterations: int) -> list[float]:
    """Milliseconds to govern ``sql`` (admin and analyst alternately), without executing."""
    samples = []
    for i in range(iterations):
        user = ADMIN if i % 2 == 0 else ANALYST
        start = time.perf_counter()
        with contextlib.suppress(AccessDenied):  # a denial is a planning outcome too
            mesh.govern(sql, user)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def run_benchmark(root: Path, scale_factor: float, *, runs: int = 5,
                  plan_iterations: int = 200, selected: list[int] | None = None,
                  log: Callable[[str], None] = print) -> Report:
    """Time every selected query on every variant; check admin results against raw."""
    mesh = Mesh.open(root)
    raw = raw_runner(mesh.root)
    admin = governed_runner(mesh, ADMIN)
    analyst = governed_runner(mesh, ANALYST)
    reference = datafusion_runner(mesh.root)
    report = Report(dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), scale_factor,
                    runs, plan_iterations, machine(), versions())
    all_plans: list[float] = []
    for number, sql in load_queries(selected).items():
        expected = raw(sql)
        mismatch = same_result(admin(sql), expected)
        denied = None
        try:
            analyst(sql)
        except AccessDenied as exc:
            denied = exc.message
        variants: dict[str, Callable[[], object]] = {
            "raw": partial(raw, sql), "admin": partial(admin, sql)}
        if denied is None:
            variants["analyst"] = partial(analyst, sql)
        if reference is not None:
            try:
                reference(sql)
                variants["datafusion"] = partial(reference, sql)
            except Exception as exc:  # noqa: BLE001 - a reference engine may not run a query
                log(f"q{number:02}: datafusion cannot run it: {str(exc).splitlines()[0]}")
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(runs):
            for name, fn in variants.items():
                times[name].append(timed(fn) * 1000)
        plans = plan_times(mesh, sql, plan_iterations)
        all_plans += plans
        med = {name: statistics.median(values) for name, values in times.items()}
        pairs_admin = [a / r for a, r in zip(times["admin"], times["raw"], strict=True)]
        pairs_analyst = [a / r for a, r in zip(times.get("analyst", []), times["raw"],
                                               strict=False)]
        result = QueryResult(
            query=number, rows=expected.num_rows, raw_ms=med["raw"], admin_ms=med["admin"],
            analyst_ms=med.get("analyst"), analyst_denied=denied,
            datafusion_ms=med.get("datafusion"),
            admin_ratio=med["admin"] / med["raw"],
            analyst_ratio=med["analyst"] / med["raw"] if "analyst" in med else None,
            pair_ratios_admin=pairs_admin, pair_ratios_analyst=pairs_analyst,
            correct=mismatch is None, mismatch=mismatch,
            plan_p50_ms=percentile(plans, 0.5), plan_p99_ms=percentile(plans, 0.99))
        report.queries.append(result)
        log(row_line(result))
    report.summary = summarize(report.queries, all_plans)
    return report


def summarize(queries: list[QueryResult], plans: list[float]) -> dict[str, Any]:
    """Geometric means of the per-query median-of-pair ratios, planning percentiles."""
    admin = [statistics.median(q.pair_ratios_admin) for q in queries]
    analyst = [statistics.median(q.pair_ratios_analyst) for q in queries
               if q.pair_ratios_analyst]
    return {
        "admin_geomean": geomean(admin),
        "analyst_geomean": geomean(analyst),
        "analyst_queries": len(analyst),
        "analyst_denied": [q.query for q in queries if q.analyst_denied],
        "plan_p50_ms": percentile(plans, 0.5) if plans else None,
        "plan_p99_ms": percentile(plans, 0.99) if plans else None,
        "incorrect": [q.query for q in queries if not q.correct],
        "raw_total_ms": sum(q.raw_ms for q in queries),
        "admin_total_ms": sum(q.admin_ms for q in queries),
    }


def row_line(q: QueryResult) -> str:
    analyst = (f"{q.analyst_ms:8.1f} ms ({q.analyst_ratio:4.2f}x)"
               if q.analyst_ms is not None and q.analyst_ratio is not None else "  denied")
    return (f"q{q.query:02} raw {q.raw_ms:8.1f} ms  admin {q.admin_ms:8.1f} ms "
            f"({q.admin_ratio:4.2f}x)  analyst {analyst}  plan p50 {q.plan_p50_ms:.2f} ms"
            f"{'' if q.correct else '  WRONG: ' + str(q.mismatch)}")
