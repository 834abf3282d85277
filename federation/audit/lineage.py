"""Column lineage of a governed query, and the classification each output inherits.

sqlglot's lineage walks the qualified tree (through CTEs, subqueries, joins, set
operations, windows) from each output column down to product columns.  An output
computed from a pii column is pii; from pci, pci; from several, the strictest
(restricted > pci > pii > confidential > internal > public).  Masking does not lower the
classification: a hashed email is still personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage as sqlglot_lineage

from federation.pipeline.authorize import outermost_select, schemas
from federation.pipeline.query import GovernedQuery
from federation.pipeline.resolve import product_name
from products.classification import strictest


@dataclass(frozen=True)
class SourceColumn:
    """A product column an output is derived from."""

    product: str
    column: str
    classification: str | None


@dataclass(frozen=True)
class ColumnLineage:
    """Where one output column comes from, how, and what it inherits."""

    output: str
    transformation: str
    sources: tuple[SourceColumn, ...]

    @property
    def classification(self) -> str | None:
        """The strictest classification of the sources (unknown labels count as strict)."""
        return strictest(s.classification for s in self.sources)

    def as_dict(self) -> dict[str, Any]:
        """For JSON output and result metadata."""
        return {"output": self.output, "transformation": self.transformation,
                "classification": self.classification,
                "sources": [{"product": s.product, "column": s.column,
                             "classification": s.classification} for s in self.sources]}


def lineage(query: GovernedQuery) -> list[ColumnLineage]:
    """The lineage of every output column of an authorized (qualified) query.

    Where sqlglot's lineage cannot be trusted (:func:`untraceable`), every output names
    every product column the query read: over-claiming a source is safe, missing one is
    not (lineage gives derived products their labels and OpenLineage its facets).
    """
    qualified = query.qualified if query.qualified is not None else query.expression
    select = outermost_select(qualified)
    if select is None:
        return []
    if untraceable(qualified) is not None:
        every = tuple(SourceColumn(fqn, d.column.name, d.column.classification)
                      for fqn, cols in query.columns_read.items() for c in cols
                      if (d := query.access[fqn].column(c)) is not None)
        return [ColumnLineage(p.alias_or_name, (p.this if isinstance(p, exp.Alias) else p)
                              .sql(dialect="duckdb"), every) for p in select.expressions]
    schema = schemas(query.access)
    out = []
    for projection in select.expressions:
        name = projection.alias_or_name
        try:
            root = sqlglot_lineage(name, qualified, schema=schema, dialect="duckdb",
                                   trim_selects=False)
        except SqlglotError:
            out.append(ColumnLineage(name, projection.sql(dialect="duckdb"), ()))
            continue
        sources: dict[tuple[str, str], SourceColumn] = {}
        for node in root.walk():
            if not isinstance(node.source, exp.Table):
                continue
            fqn = product_name(node.source)
            if fqn is None or fqn not in query.access:
                continue
            column_name = node.name.split(".")[-1]
            decision = query.access[fqn].column(column_name)
            if decision is None:
                continue
            sources[(fqn, decision.column.name)] = SourceColumn(
                fqn, decision.column.name, decision.column.classification)
        transformation = projection.this if isinstance(projection, exp.Alias) else projection
        out.append(ColumnLineage(name, transformation.sql(dialect="duckdb"),
                                 tuple(sources.values())))
    return out


def untraceable(tree: exp.Expr) -> str | None:
    """Why no output of the query ``tree`` can trust sqlglot's column lineage, or None.

    sqlglot follows a correlated LATERAL (or correlated derived table) to the outer
    table's join key instead of the subquery's own columns: ``LATERAL (SELECT c.email
    ... WHERE c.customer_id = b.customer_id)`` came out as ``reservations.customer_id``
    (internal); and a recursive CTE through its first step only.  Such a query is
    classified as untraceable (fail closed).
    """
    from sqlglot.optimizer.scope import ScopeType, traverse_scope

    if any(True for _ in tree.find_all(exp.Lateral)):
        return "the query has a LATERAL subquery, whose lineage cannot be traced"
    # The recursive step of a CTE can move values between its columns (``SELECT b, a
    # FROM r``): sqlglot follows only the first step, so `a` looked like country alone.
    if any(w.args.get("recursive") for w in tree.find_all(exp.With)):
        return "the query has a recursive CTE, whose lineage cannot be traced"
    try:
        scopes = traverse_scope(tree)
    except Exception:  # noqa: BLE001 - scopes not buildable: lineage is not trusted
        return "the query's scopes cannot be followed"
    for scope in scopes:
        if scope.scope_type in (ScopeType.DERIVED_TABLE, ScopeType.UDTF) \
                and not isinstance(scope.expression, exp.Unnest) and scope.external_columns:
            return "the query has a correlated subquery in FROM, whose lineage cannot be traced"
    return None
