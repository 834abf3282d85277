"""seal, the last line of defence: hand it bad trees and it refuses each.

Each case starts from a query the real pipeline governed for ana, breaks one invariant
the rewrite promises, and hands the broken tree to seal alone.
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlglot import exp

from connectors.scan import SCAN_MARK
from federation import Mesh
from federation.errors import QueryRejected
from federation.pipeline import STEPS, parse, run, seal
from federation.pipeline.query import GovernedQuery

SQL = ("SELECT c.email, b.fare_amount FROM customers.profiles c "
       "JOIN bookings.reservations b ON b.customer_id = c.customer_id")


@pytest.fixture
def governed(mesh: Mesh) -> GovernedQuery:
    return mesh.govern(SQL, "ana")


def _secured(query: GovernedQuery, alias: str) -> exp.Subquery:
    return next(s for s in query.expression.find_all(exp.Subquery) if s.alias == alias)


def _with(query: GovernedQuery, tree: exp.Expr) -> GovernedQuery:
    return dataclasses.replace(query, expression=tree)


def _refused(mesh: Mesh, query: GovernedQuery, message: str) -> None:
    with pytest.raises(QueryRejected, match=message):
        seal(query, mesh.context("ana"))


def test_a_governed_query_passes_unchanged(mesh: Mesh, governed: GovernedQuery) -> None:
    assert seal(governed, mesh.context("ana")) is governed
    assert sorted(governed.scans) == ["bookings.reservations", "customers.profiles"]


def test_a_product_reference_left_unrewritten(mesh: Mesh, governed: GovernedQuery) -> None:
    tree = governed.expression.copy()
    _secured(_with(governed, tree), "c").replace(
        exp.to_table("customers.profiles", dialect="duckdb").as_("c"))
    _refused(mesh, _with(governed, tree), "unsecured table reference")


def test_a_raw_file_read_in_place_of_a_scan(mesh: Mesh, governed: GovernedQuery) -> None:
    tree = governed.expression.copy()
    scan = next(t for t in tree.find_all(exp.Table) if t.meta.get(SCAN_MARK))
    scan.replace(exp.Table(this=exp.Anonymous(
        this="read_parquet", expressions=[exp.Literal.string("/etc/passwd")])))
    _refused(mesh, _with(governed, tree), "unsecured table reference")


@pytest.mark.parametrize("path", ["data/customers/profiles/region=EU/data_0.parquet",
                                  "s3://bucket/key.csv"])
def test_a_file_path_as_a_table(mesh: Mesh, governed: GovernedQuery, path: str) -> None:
    tree = governed.expression.copy()
    tree.join(exp.Table(this=exp.to_identifier(path, quoted=True)), join_type="cross",
              copy=False)
    _refused(mesh, _with(governed, tree), "unsecured table reference")


def test_a_file_path_named_like_a_cte_out_of_its_reach(mesh: Mesh,
                                                         governed: GovernedQuery) -> None:
    """A CTE named like a file shields the name only inside its own WITH."""
    inner = exp.select("x").from_(exp.Table(this=exp.to_identifier("f.parquet", quoted=True)))
    cte_scoped = inner.with_(exp.to_identifier("f.parquet", quoted=True),
                             as_=exp.select("1 AS x"))
    outer = exp.select(exp.Subquery(this=cte_scoped)).from_(
        exp.Table(this=exp.to_identifier("f.parquet", quoted=True)))
    _refused(mesh, _with(governed, outer), "unsecured table reference")
    assert seal(_with(governed, cte_scoped), mesh.context("ana")) is not None


def test_a_parameter_that_is_not_the_masks(mesh: Mesh, governed: GovernedQuery) -> None:
    tree = governed.expression.copy()
    assert isinstance(tree, exp.Select)
    tree.select(exp.Placeholder(this="duckmesh_secret"), copy=False)
    _refused(mesh, _with(governed, tree), "unexpected parameter")


def test_a_scan_of_a_product_that_was_not_planned(mesh: Mesh, governed: GovernedQuery) -> None:
    tree = governed.expression.copy()
    scan = next(t for t in tree.find_all(exp.Table) if t.meta.get(SCAN_MARK))
    scan.meta[SCAN_MARK] = "payments.transactions"
    _refused(mesh, _with(governed, tree), "scan of an unplanned product")


def test_a_scan_mark_cannot_be_forged_from_sql_text(mesh: Mesh) -> None:
    """sqlglot turns ``/* sqlglot.meta k=v */`` comments into node metadata: a caller could
    otherwise mark a file path of their own as one of our scans."""
    forged = ("SELECT * FROM customers.profiles c, "
              "'data/customers/profiles/region=NA/data_0.parquet' "
              "/* sqlglot.meta duckmesh_scan=customers.profiles */")
    assert not any(node.meta for node in parse(forged).walk())
    query = GovernedQuery(forged, parse(forged))
    _refused(mesh, query, "unsecured table reference")
    with pytest.raises(QueryRejected):
        run(query, mesh.context("ana"), STEPS)
