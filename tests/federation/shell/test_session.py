"""The acceptance session of issue 15: ``duckmesh shell < session.sql`` over the demo runs
every statement (DESCRIBE, PIVOT, UNNEST, a recursive CTE, …) and suggests a fix for the
typos; ``query -f`` gives the same results statement by statement; and as admin the
results equal raw DuckDB's over the same files."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from connectors.writers import dumps
from federation import Mesh
from federation.cli import cli
from federation.shell.split import split

SESSION = Path(__file__).with_name("session.sql")
TYPOS = ("fare_amout",)  # statements that must fail, with a suggestion


def _statements() -> list[str]:
    units, rest = split(SESSION.read_text())
    return [u.text for u in units if u.kind == "sql"] + ([rest.strip()] if rest.strip() else [])


def _good() -> list[str]:
    return [s for s in _statements() if not any(t in s for t in TYPOS)]


def _json_documents(text: str) -> list[Any]:
    """The JSON arrays in the shell's output (``.mode json``), in order; other output
    (the ``.schema`` table) is skipped."""
    documents, current = [], None
    for line in text.splitlines():
        if current is None and line == "[]":
            documents.append([])
        elif current is None and line == "[":
            current = [line]
        elif current is not None:
            current.append(line)
            if line == "]":
                documents.append(json.loads("\n".join(current)))
                current = None
    return documents


@pytest.fixture(scope="module")
def shell_run(demo_root: Path) -> subprocess.CompletedProcess[str]:
    with SESSION.open() as stdin:
        return subprocess.run([sys.executable, "-m", "federation.cli", "--mesh", str(demo_root),
                               "shell", "--user", "adam"], stdin=stdin, capture_output=True,
                              text=True, timeout=300, check=False)


def test_the_session_has_twenty_statements_of_every_kind_asked_for() -> None:
    statements = _statements()
    assert len(statements) >= 20
    text = "\n".join(statements).upper()
    for construct in ("DESCRIBE", "PIVOT", "UNPIVOT", "UNNEST", "WITH RECURSIVE", "ROLLUP",
                      "GROUPING SETS", "SUMMARIZE", "SHOW TABLES"):
        assert construct in text, construct


def test_shell_runs_the_script_and_suggests_fixes_for_typos(
        shell_run: subprocess.CompletedProcess[str]) -> None:
    errors = shell_run.stderr.splitlines()
    assert errors == [
        "duckmesh: error: column fare_amout not found in bookings.reservations; did you "
        "mean fare_amount?",
        "duckmesh: error: unknown command .shema; did you mean .schema? (see .help)",
    ]
    assert shell_run.returncode == 1  # the first failure's exit code, after running on
    assert len(_json_documents(shell_run.stdout)) == len(_good())
    assert "flights.schedule as adam sees it" in shell_run.stdout  # .schema


def test_query_f_gives_the_same_results(shell_run: subprocess.CompletedProcess[str],
                                        demo_root: Path, tmp_path: Path) -> None:
    from_shell = _json_documents(shell_run.stdout)
    for i, statement in enumerate(_good()):
        script = tmp_path / f"q{i}.sql"
        script.write_text(statement + ";\n")
        result = CliRunner().invoke(cli, ["--mesh", str(demo_root), "query", "--user", "adam",
                                          "--format", "json", "-f", str(script)])
        assert result.exit_code == 0, (statement, result.stderr)
        # Order-insensitive (as against raw DuckDB below): PIVOT and GROUP BY without
        # ORDER BY may come in any order from one run to the next.
        assert sorted(map(dumps, json.loads(result.stdout))) == \
            sorted(map(dumps, from_shell[i])), statement


@pytest.fixture(scope="module")
def raw(demo_root: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Raw DuckDB over the demo's files: one view per product the session reads."""
    con = duckdb.connect()
    data = demo_root / "data"
    for domain, name, hive in (("flights", "schedule", False), ("bookings", "reservations", True),
                               ("customers", "profiles", True)):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {domain}")
        pattern = str(data / domain / name / ("**/*.parquet" if hive else "*.parquet"))
        con.execute(f"CREATE VIEW {domain}.{name} AS SELECT * FROM read_parquet("
                    f"'{pattern}', hive_partitioning = {str(hive).lower()})")
    yield con
    con.close()


def _rows(table: Any) -> list[str]:
    # Order-insensitive: PIVOT and GROUP BY without ORDER BY may come in any order.
    return sorted(dumps(row) for row in table.to_pylist())


@pytest.mark.parametrize("statement", [s for s in _good() if "SHOW TABLES" not in s.upper()])
def test_as_admin_results_equal_raw_duckdb(statement: str, mesh: Mesh,
                                          raw: duckdb.DuckDBPyConnection) -> None:
    """adam (admin) sees every column the session reads in clear, so governed and raw must
    agree.  (SHOW TABLES lists products, which raw DuckDB has no notion of.)"""
    governed = mesh.sql(statement, user="adam").arrow()
    expected = raw.sql(statement).arrow().read_all()
    assert governed.column_names == expected.column_names
    assert _rows(governed) == _rows(expected)
