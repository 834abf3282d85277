"""Long AND/OR chains (nested balanced trees after parsing) sit out column resolution
but for one term per column (federation/pipeline/chains.py): the governed query, its
decisions and its answer are exactly those of resolving every term, and a denied or
unknown column anywhere in a chain is refused as before.

The oracle is the same pipeline with thinning switched off (``CHAIN_FROM`` out of reach).
"""

from __future__ import annotations

import pytest
import sqlglot

from federation import Mesh
from federation.errors import AccessDenied, DuckmeshError, QueryRejected
from federation.pipeline import chains
from federation.pipeline.parse import parse

N = 100  # terms: past CHAIN_FROM (64)


def _terms(template: str, n: int = N) -> list[str]:
    return [template.format(i=i) for i in range(n)]


SHAPES = {
    "one column": "SELECT count(*) AS n FROM customers.profiles WHERE "
                  + " AND ".join(_terms("customer_id <> {i}")),
    "mixed columns and a subquery term": (
        "SELECT count(*) AS n FROM customers.profiles AS p WHERE "
        + " AND ".join([f"p.customer_id <> {i}" if i % 3 else f"country <> 'X{i}'"
                        for i in range(N)]
                       + ["(email LIKE '%a%' OR customer_id IN (SELECT 1))"])),
    "OR of long IN lists": (
        "SELECT customer_id FROM customers.profiles WHERE "
        + " OR ".join(f"customer_id IN ({', '.join(str(j) for j in range(i, i + 70))})"
                      for i in range(0, 7000, 70)) + " ORDER BY 1"),
    "a select alias in WHERE": "SELECT customer_id AS c FROM customers.profiles WHERE "
                               + " AND ".join(_terms("c <> {i}")) + " ORDER BY 1",
    "correlated, in a subquery": (
        "SELECT count(*) AS n FROM customers.profiles AS o WHERE EXISTS (SELECT 1 FROM "
        "customers.profiles AS i WHERE "
        + " AND ".join(_terms("i.customer_id <> o.customer_id + {i} AND o.customer_id <> {i}"))
        + ")"),
    "masked column in CASE": "SELECT CASE WHEN " + " OR ".join(_terms("email = 'e{i}'"))
                             + " THEN 1 ELSE 0 END AS x FROM customers.profiles ORDER BY 1",
    "BETWEEN and IS NULL": "SELECT count(*) AS n FROM customers.profiles WHERE "
                           + " OR ".join(_terms("customer_id BETWEEN {i} AND {i} + 1 OR "
                                                "signup_date IS NULL")),
    "a repeated column with the literal on either side": (
        "SELECT count(*) AS n FROM customers.profiles WHERE "
        + " AND ".join([*_terms("customer_id <> {i}"), "-5 <> customer_id",
                        "7 > customer_id", "customer_id <> -6"])),
    "the same column in other cases, quoted and qualified": (
        "SELECT count(*) AS n FROM customers.profiles AS p WHERE "
        + " AND ".join(_terms("CUSTOMER_ID <> {i}") + _terms("\"customer_id\" <> -{i}")
                       + _terms("p.customer_id <> 1{i}000") + _terms("Customer_Id <> 0"))),
    "beside a sample": "SELECT count(*) AS n FROM customers.profiles TABLESAMPLE 100% WHERE "
                       + " AND ".join(_terms("customer_id <> {i}")),
    "beside COLUMNS()": "SELECT COLUMNS('^c.*') FROM customers.profiles WHERE "
                        + " AND ".join(_terms("customer_id <> {i}")) + " ORDER BY ALL LIMIT 5",
    "beside a table function": (
        "SELECT count(*) AS n FROM customers.profiles AS p, range(3) AS r WHERE "
        + " AND ".join(_terms("p.customer_id <> {i}"))),
    "literal on the left, NOT and nested OR": (
        "SELECT count(*) AS n FROM customers.profiles WHERE "
        + " AND ".join(_terms("({i} <> customer_id OR NOT country = 'Q{i}')"))),
}


def _planned(mesh: Mesh, sql: str, user: str) -> tuple[str, object]:
    try:
        result = mesh.sql(sql, user)
    except DuckmeshError as exc:
        return f"{type(exc).__name__}: {exc}", None
    return result.explain(), result.arrow().to_pylist()


@pytest.mark.parametrize("user", ["adam", "ana"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_thinned_chains_plan_and_answer_as_resolving_every_term(
        mesh: Mesh, shape: str, user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    thinned = _planned(mesh, SHAPES[shape], user)
    monkeypatch.setattr(chains, "CHAIN_FROM", 10**9)
    assert thinned == _planned(mesh, SHAPES[shape], user)


def test_a_denied_column_anywhere_in_a_chain_is_refused(mesh: Mesh) -> None:
    for where in (0, N // 2, N):
        terms = _terms("customer_id <> {i}")
        terms.insert(where, "passport_number <> 'x'")
        sql = "SELECT count(*) FROM customers.profiles WHERE " + " AND ".join(terms)
        with pytest.raises(AccessDenied, match="passport_number"):
            mesh.sql(sql, "ana")


def test_an_unknown_column_anywhere_in_a_chain_is_refused(mesh: Mesh) -> None:
    terms = [*_terms("customer_id <> {i}"), "nosuch <> 1", "nosuch <> 2"]
    with pytest.raises(QueryRejected, match="nosuch"):
        mesh.sql("SELECT count(*) FROM customers.profiles WHERE " + " OR ".join(terms),
                 "adam")


def test_thinning_keeps_one_simple_term_per_column_and_restores_the_order() -> None:
    sql = ("SELECT 1 FROM t WHERE " + " AND ".join(
        [f"a <> {i}" for i in range(40)] + [f"b.c = {i}" for i in range(40)]
        + ["f(a) = 1", "a IN (SELECT 1)", "\"A\" <> 1", "a IS NULL"]))
    tree = parse(sql)
    expected = tree.sql(dialect="duckdb")
    thinned = chains.thin_chains(tree)
    where = tree.args["where"].this
    assert isinstance(where, sqlglot.exp.Paren)
    assert where.this.sql(dialect="duckdb") == (
        "a <> 0 AND b.c = 0 AND F(a) = 1 AND a IN (SELECT 1) AND \"A\" <> 1")
    chains.restore_chains(tree, thinned)
    assert tree.sql(dialect="duckdb") == expected


def test_short_chains_are_left_alone() -> None:
    tree = parse("SELECT 1 FROM t WHERE " + " AND ".join(f"a <> {i}" for i in range(63)))
    assert chains.thin_chains(tree) == []
