"""The analyst corpus (corpus/analyst.sql): the SQL analysts write, over the demo mesh.

As admin (adam, who sees every column the corpus reads in clear), at least 95% of the
queries run and give what raw DuckDB gives over the demo's Parquet files (the oracle);
every refused query is refused with the reason written next to it in the corpus.  As an
analyst (ana), every query either runs or fails with one clean DuckmeshError, and
nothing raw (pii, pci) comes out either way.
"""

from __future__ import annotations

import decimal
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from federation import Mesh
from federation.errors import DuckmeshError
from tests.conftest import leaked

CORPUS = Path(__file__).parent / "corpus" / "analyst.sql"
# Products of the demo as raw DuckDB reads them: (files under the mesh, hive partitions).
RAW = {
    "bookings.reservations": ("data/bookings/reservations/**/*.parquet", True),
    "customers.profiles": ("data/customers/profiles/**/*.parquet", True),
    "flights.schedule": ("data/flights/schedule/*.parquet", False),
    "marketing.campaigns": ("iceberg/warehouse/marketing/campaigns/data/*/*.parquet", False),
    "marketing.touchpoints": ("data/marketing/touchpoints/*.parquet", False),
    "payments.transactions": ("data/payments/transactions/*.parquet", False),
}


@dataclass(frozen=True)
class Entry:
    sql: str
    line: int
    refused: str | None = None
    check: str = "equal"


def load() -> list[Entry]:
    """The corpus: one entry per statement, with the annotations in the comments before."""
    entries: list[Entry] = []
    notes: dict[str, str] = {}
    lines: list[str] = []
    start = 0
    for number, raw in enumerate(CORPUS.read_text().splitlines(), 1):
        text = raw.strip()
        if not lines and text.startswith("--"):
            for key in ("refused", "check"):
                if text.startswith(f"-- {key}:"):
                    notes[key] = text.split(":", 1)[1].strip()
            continue
        if not text:
            continue
        if not lines:
            start = number
        lines.append(raw)
        if text.endswith(";"):
            sql = "\n".join(lines).strip().removesuffix(";")
            entries.append(Entry(sql, start, notes.get("refused"), notes.get("check", "equal")))
            lines, notes = [], {}
    return entries


ENTRIES = load()
SAMPLE = ENTRIES[::5]
"""What the default suite runs (every fifth query, ~8 s); ``make test-slow`` runs all."""


def _value(v: Any) -> Any:
    if isinstance(v, float):
        return None if math.isnan(v) else float(f"{v:.9g}")
    if isinstance(v, decimal.Decimal):
        return float(f"{float(v):.9g}")
    if isinstance(v, dict):
        return {k: _value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_value(x) for x in v]
    return v


def _rows(table: pa.Table) -> list[str]:
    # Order-insensitive (GROUP BY, PIVOT); floats to 9 digits (sums in another order).
    return sorted(json.dumps(_value(r), default=str, sort_keys=True)
                  for r in table.to_pylist())


@pytest.fixture(scope="module")
def oracle(demo_root: Path, mesh: Mesh) -> Any:
    con = duckdb.connect()
    for fqn, (pattern, hive) in RAW.items():
        domain = fqn.split(".")[0]
        columns = ", ".join(f'"{c.name}"' for c in mesh.catalog.get(fqn).columns)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {domain}")
        con.execute(f"CREATE VIEW {fqn} AS SELECT {columns} FROM read_parquet("
                    f"'{demo_root / pattern}', hive_partitioning = {str(hive).lower()})")
    yield con
    con.close()


def test_corpus_is_large_and_refusals_are_few() -> None:
    assert len(ENTRIES) >= 300
    assert len({e.sql for e in ENTRIES}) == len(ENTRIES)
    assert sum(1 for e in ENTRIES if e.refused) <= 0.05 * len(ENTRIES)


def _compare(entry: Entry, mesh: Mesh, oracle: Any) -> str | None:
    """None if ``entry`` behaves as the corpus says as admin, else what went wrong."""
    try:
        governed = mesh.sql(entry.sql, user="adam").arrow()
    except DuckmeshError as exc:
        if entry.refused and entry.refused in str(exc):
            return None
        return f"refused: {exc}"
    if entry.refused:
        return f"ran, but the corpus says refused ({entry.refused})"
    raw = oracle.sql(entry.sql).arrow()
    raw = raw.read_all() if isinstance(raw, pa.RecordBatchReader) else raw
    if entry.check == "runs":
        return None
    if entry.check == "rows":
        same = governed.num_rows == raw.num_rows
    elif entry.check == "summarize":
        exact = ["column_name", "column_type", "min", "max", "count", "null_percentage"]
        same = _rows(governed.select(exact)) == _rows(raw.select(exact))
    else:
        same = governed.column_names == raw.column_names and _rows(governed) == _rows(raw)
    return None if same else (f"differs: {governed.column_names} vs {raw.column_names}, "
                              f"{governed.num_rows} vs {raw.num_rows} rows")


@pytest.mark.parametrize("entries", [
    pytest.param(SAMPLE, id="sample"),
    pytest.param(ENTRIES, id="all", marks=pytest.mark.slow)])
def test_as_admin_the_corpus_runs_and_equals_raw_duckdb(mesh: Mesh, oracle: Any,
                                                        entries: list[Entry]) -> None:
    failures = {}
    for entry in entries:
        problem = _compare(entry, mesh, oracle)
        if problem is not None:
            failures[f"line {entry.line}: {entry.sql[:80]}"] = problem
    ran = len(entries) - sum(1 for e in entries if e.refused)
    # Every refusal is one the corpus lists; of the rest, at least 95% equal raw DuckDB.
    assert len(failures) <= 0.05 * ran, json.dumps(failures, indent=1)
    assert not any(p.startswith("ran, but") for p in failures.values()), failures


@pytest.mark.parametrize("entries", [
    pytest.param(SAMPLE, id="sample"),
    pytest.param(ENTRIES, id="all", marks=pytest.mark.slow)])
def test_as_an_analyst_the_corpus_is_governed(mesh: Mesh, raw_secrets: frozenset[str],
                                             demo_root: Path, entries: list[Entry]) -> None:
    unclean = {}
    for entry in entries:
        try:
            table = mesh.sql(entry.sql, user="ana").arrow()
        except DuckmeshError as exc:
            text = str(exc)
            internal = "duckmesh_src" in text or (
                "read_parquet" in text.lower() and "read_parquet" not in entry.sql)
            if leaked(text, raw_secrets) or internal or str(demo_root) in text:
                unclean[entry.line] = text
            continue
        except Exception as exc:  # noqa: BLE001 - the point: nothing else may escape
            unclean[entry.line] = f"{type(exc).__name__}: {exc}"
            continue
        if leaked(json.dumps(table.to_pylist(), default=str), raw_secrets):
            unclean[entry.line] = "raw pii in the result"
    assert unclean == {}
