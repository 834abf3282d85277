"""Golden fixtures of the Spark translation (tests/fixtures/golden/spark_sql.sql): the
sealed governed query of the demo (or, with ``-- mesh: nested``, the struct mesh of
test_nested_masks.py) as the Spark SQL :mod:`federation.engines.spark_sql` writes, or
its refusal.  Masks, row filters, structs, windows, QUALIFY, DuckDB's division and
averages, casts, and the constructs refused (fail closed).  No Spark needed: the
generated SQL is what runs; tests/federation/engines/test_spark*.py run it.

Same format and ``--update-golden`` as tests/federation/pipeline/test_golden.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from federation import Mesh
from federation.engines.spark import display_views, shapes, spark_sql
from federation.errors import DuckmeshError
from federation.pipeline.query import GovernedQuery
from tests.federation.pipeline.test_golden import GOLDEN, Case, load_cases, save_cases
from tests.federation.pipeline.test_nested_masks import build as build_nested

FILE = GOLDEN / "spark_sql.sql"
CASES = load_cases(FILE)


@pytest.fixture(scope="module")
def nested(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    return Mesh.open(build_nested(tmp_path_factory.mktemp("nested") / "mesh"))


_GOVERNED: dict[tuple[str, str, str], tuple[GovernedQuery, dict[str, dict[str, str]]]] = {}


def _governed(mesh: Mesh, case: Case) -> tuple[GovernedQuery, dict[str, dict[str, str]]]:
    """The case's governed query and its scans' DuckDB types (once per test session)."""
    key = (str(mesh.root), case.directives.get("user", "adam"), case.sql)
    if key not in _GOVERNED:
        governed = mesh.govern(case.sql, key[1])
        _GOVERNED[key] = governed, shapes(governed, mesh.settings.engine, mesh.root).types
    return _GOVERNED[key]


def translate(mesh: Mesh, case: Case) -> str:
    """The Spark SQL of the case's governed query (pretty), or its error."""
    try:
        governed, types = _governed(mesh, case)
        return spark_sql(governed, display_views(governed), types, pretty=True)
    except DuckmeshError as exc:
        return f"ERROR {type(exc).__name__}: {exc}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.index}-"
                         f"{c.directives.get('title', '')[:40].replace(' ', '_')}")
def test_spark_sql_golden(case: Case, mesh: Mesh, request: pytest.FixtureRequest) -> None:
    which = mesh if case.directives.get("mesh", "demo") == "demo" \
        else request.getfixturevalue("nested")
    actual = translate(which, case)
    if request.config.getoption("--update-golden"):
        cases = load_cases(FILE)
        cases[case.index].expected = actual
        save_cases(FILE, cases)
        return
    assert actual == case.expected


def test_pretty_is_the_same_query(mesh: Mesh) -> None:
    """The golden files show the SQL pretty-printed; Spark runs it on one line: the
    same tree, so both parse back to the same statement."""
    from sqlglot import parse_one

    for case in CASES:
        if case.expected.startswith("ERROR") or case.directives.get("mesh", "demo") != "demo":
            continue
        governed, types = _governed(mesh, case)
        one_line = spark_sql(governed, display_views(governed), types)
        assert parse_one(one_line, read="spark") == parse_one(case.expected, read="spark")


def test_every_case_names_a_title() -> None:
    assert all(c.directives.get("title") for c in CASES)
    assert Path(FILE).exists()
