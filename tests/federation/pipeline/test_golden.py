"""Golden SQL fixtures: one file per pipeline step, input → expected output.

Format (tests/fixtures/golden/<step>.sql), blocks separated by a line of ``====``::

    -- title: what the case shows
    -- user: ana
    -- rows: 3            (optional: also run it and check the row count)
    SELECT ...
    =>
    <expected SQL, or ERROR ClassName: message>

``pytest --update-golden`` rewrites the expected side; review the diff before committing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from federation import Mesh
from federation.errors import DuckmeshError
from federation.pipeline import DECIDE, STEPS, allowlist, bound, run, scans, seal
from federation.pipeline.allowlist import check
from federation.pipeline.authorize import authorize
from federation.pipeline.params import bind
from federation.pipeline.parse import parse
from federation.pipeline.query import GovernedQuery
from federation.pipeline.resolve import resolve

GOLDEN = Path(__file__).parents[2] / "fixtures" / "golden"
SEPARATOR = "\n====\n"


@dataclass
class Case:
    file: Path
    index: int
    directives: dict[str, str]
    sql: str
    expected: str


def load_cases(path: Path) -> list[Case]:
    cases = []
    for i, block in enumerate(path.read_text().strip().split(SEPARATOR)):
        head, _, expected = block.partition("\n=>\n")
        directives, sql_lines = {}, []
        for line in head.strip().splitlines():
            m = re.match(r"^-- (\w+): (.*)$", line)
            if m and not sql_lines:
                directives[m.group(1)] = m.group(2).strip()
            else:
                sql_lines.append(line)
        cases.append(Case(path, i, directives, "\n".join(sql_lines).strip(), expected.strip()))
    return cases


def save_cases(path: Path, cases: list[Case]) -> None:
    blocks = []
    for case in cases:
        head = "".join(f"-- {k}: {v}\n" for k, v in case.directives.items())
        blocks.append(f"{head}{case.sql}\n=>\n{case.expected}")
    path.write_text(SEPARATOR.join(blocks) + "\n")


def check_rewrite_case(path: Path, index: int, mesh: Mesh,
                       request: pytest.FixtureRequest) -> None:
    """Case ``index`` of ``path`` through every step, as ``ana`` unless it names a user:
    the secured SQL (the mesh's folder as ``<mesh>``) or the error equals the expected
    side (``--update-golden`` rewrites it instead)."""
    case = load_cases(path)[index]
    try:
        query = run(GovernedQuery(case.sql, parse(case.sql)),
                    mesh.context(case.directives.get("user", "ana")), STEPS)
        actual = query.expression.sql(dialect="duckdb", pretty=True).replace(
            str(mesh.root), "<mesh>")
    except DuckmeshError as exc:
        actual = f"ERROR {type(exc).__name__}: {exc}"
    if request.config.getoption("--update-golden"):
        cases = load_cases(path)
        cases[index].expected = actual
        save_cases(path, cases)
        return
    assert actual == case.expected


def _bound(mesh: Mesh, case: Case) -> str:
    query = GovernedQuery(case.sql, parse(case.sql))
    bound(query, mesh.context(case.directives.get("user", "adam")))
    return "OK"


def _allowlist(mesh: Mesh, case: Case) -> str:
    check(parse(case.sql))
    return "OK"


def _authorize(mesh: Mesh, case: Case) -> str:
    ctx = mesh.context(case.directives.get("user", "adam"))
    query = GovernedQuery(case.sql, parse(case.sql))
    for step in (allowlist, resolve, authorize):
        query = step(query, ctx)
    return query.expression.sql(dialect="duckdb", pretty=True)


def _rewrite(mesh: Mesh, case: Case) -> str:
    ctx = mesh.context(case.directives.get("user", "adam"))
    query = GovernedQuery(case.sql, parse(case.sql))
    for step in STEPS:
        query = step(query, ctx)
    return query.expression.sql(dialect="duckdb", pretty=True).replace(str(mesh.root), "<mesh>")


def _parse(mesh: Mesh, case: Case) -> str:
    return parse(case.sql).sql(dialect="duckdb", pretty=True)


def _params(mesh: Mesh, case: Case) -> str:
    """``-- params:`` is JSON (an object binds $name, a list binds ? and $1); ISO strings
    under a key ending in _at are timestamps."""
    import datetime as dt
    import json

    values = json.loads(case.directives.get("params", "null"))
    if isinstance(values, dict):
        values = {k: dt.datetime.fromisoformat(v) if k.endswith("_at") else v
                  for k, v in values.items()}
    return bind(case.sql, values).expression.sql(dialect="duckdb", pretty=True)


def _resolve(mesh: Mesh, case: Case) -> str:
    ctx = mesh.context(case.directives.get("user", "adam"))
    query = run(GovernedQuery(case.sql, parse(case.sql)), ctx, (allowlist, resolve))
    return "products: " + (", ".join(query.products) or "(none)")


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _scans(mesh: Mesh, case: Case) -> str:
    """Each product's plan: format, files (relative to the mesh), rows; Iceberg file names
    and snapshot ids are random per demo, so they are replaced by placeholders."""
    ctx = mesh.context(case.directives.get("user", "adam"), case.directives.get("as_of"))
    query = run(GovernedQuery(case.sql, parse(case.sql)), ctx, (*DECIDE, scans))
    lines = []
    for fqn, plan in query.scans.items():
        head = f"{fqn}: {plan.format}, hive_partitioning={plan.hive_partitioning}"
        if plan.snapshot_id is not None:
            head += f", iceberg snapshot <id>, {len(plan.files)} of {plan.total_files} files"
        lines.append(f"{head}, {plan.facts.rows} rows")
        for info in plan.files:
            lines.append("  " + _UUID.sub("<uuid>", info.path.replace(str(mesh.root), "<mesh>")))
    return "\n".join(lines) or "(no scans)"


def _seal(mesh: Mesh, case: Case) -> str:
    """``-- input: raw``: the parsed query is handed to seal as it is (nothing rewritten);
    otherwise the query goes through every step and seal's verdict is the output."""
    ctx = mesh.context(case.directives.get("user", "adam"))
    query = GovernedQuery(case.sql, parse(case.sql))
    if case.directives.get("input") == "raw":
        seal(query, ctx)
    else:
        query = run(query, ctx, STEPS)
    return f"OK: {len(query.scans)} planned scan(s)"


RUNNERS: dict[str, Callable[[Mesh, Case], str]] = {
    "parse": _parse, "params": _params, "bound": _bound, "allowlist": _allowlist,
    "resolve": _resolve,
    "authorize": _authorize, "scans": _scans, "rewrite": _rewrite, "seal": _seal,
}
CASES = [case for step in RUNNERS for case in load_cases(GOLDEN / f"{step}.sql")]


def _actual(mesh: Mesh, case: Case) -> str:
    try:
        return RUNNERS[case.file.stem](mesh, case)
    except DuckmeshError as exc:
        return f"ERROR {type(exc).__name__}: {exc}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.file.stem}-{c.index}-"
                         f"{c.directives.get('title', '')[:40].replace(' ', '_')}")
def test_golden(case: Case, mesh: Mesh, request: pytest.FixtureRequest) -> None:
    actual = _actual(mesh, case)
    if request.config.getoption("--update-golden"):
        cases = load_cases(case.file)
        cases[case.index].expected = actual
        save_cases(case.file, cases)
        return
    assert actual == case.expected
    if "rows" in case.directives:
        result = mesh.sql(case.sql, user=case.directives.get("user", "adam"))
        assert result.arrow().num_rows == int(case.directives["rows"])


def test_pushdown_predicates(mesh: Mesh) -> None:
    """Pure analysis: what may prune files, and what must not."""
    from sqlglot import exp

    from federation.pipeline.pushdown import pushable

    def preds(sql: str, user: str) -> list[tuple[str, str, object]]:
        query = GovernedQuery(sql, parse(sql))
        ctx = mesh.context(user)
        for step in (allowlist, resolve, authorize):
            query = step(query, ctx)
        table = next(t for t in query.expression.find_all(exp.Table) if t.db)
        return pushable(table, query.access["customers.profiles"])

    assert preds("SELECT 1 FROM customers.profiles WHERE country = 'ES' AND customer_id > 5 "
                 "AND customer_id IN (1, 2) AND signup_date IS NULL", "adam") == [
        ("country", "eq", "ES"), ("customer_id", "gt", 5), ("customer_id", "in", [1, 2]),
        ("signup_date", "is_null", None)]
    # ana: the row filter is pushed; masked email and year-masked signup_date are not.
    assert preds("SELECT 1 FROM customers.profiles WHERE email = 'x' AND signup_date IS NULL "
                 "AND 3 < customer_id", "ana") == [("region", "eq", "EU"), ("customer_id", "gt", 3)]
    assert preds("SELECT 1 FROM customers.profiles WHERE country = 'ES' OR country = 'FR'",
                 "adam") == []
    assert preds("SELECT 1 FROM (SELECT 1 AS k) t LEFT JOIN customers.profiles c ON true "
                 "WHERE c.country = 'ES'", "adam") == []
