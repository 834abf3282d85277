"""The governed profile of a product: per visible column its type, nulls and approximate
distinct count; min, max and top values only where the caller sees clear values.

Every number comes from governed queries run as the caller through the ``run`` function
the interface passes (``Mesh.sql`` for the CLI, the service for the web catalog), so a
profile is audited like any query and shows nothing the caller could not query: hidden
columns are absent, masked columns give counts only (of their masked values), rows are
filtered.  The queries are built as sqlglot expressions, never as text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlglot import exp

if TYPE_CHECKING:
    from federation.governance.access import ColumnAccess, ProductAccess
    from federation.mesh import Mesh
    from products.contract import Product

TOP_VALUES = 5
MAX_DISTINCT_FOR_TOP = 50
ORDERABLE = ("INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "DOUBLE", "FLOAT",
             "REAL", "DECIMAL", "NUMERIC", "DATE", "TIMESTAMP", "TIMESTAMPTZ", "VARCHAR",
             "TEXT", "STRING", "TIME", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT",
             "BOOLEAN")

Runner = Callable[[str], tuple[Sequence[str], Sequence[Sequence[Any]]]]
"""Runs one governed query as the caller: its column names and rows (or raises)."""

PROFILE_COLUMNS = ("name", "type", "clear", "method", "nulls", "distinct", "min", "max",
                   "top")
"""The keys of each column's profile."""


def orderable(type_name: str) -> bool:
    """Whether min/max and top values make sense for a column of ``type_name``."""
    return type_name.upper().split("(")[0].strip() in ORDERABLE


def _stats_query(product: Product, visible: list[ColumnAccess]) -> str:
    select: list[exp.Expr] = [exp.alias_(exp.Count(this=exp.Star()), "n_rows")]
    for i, col in enumerate(visible):
        ref = exp.column(col.column.name, quoted=True)
        select += [exp.alias_(exp.Count(this=ref.copy()), f"c{i}_n"),
                   exp.alias_(exp.ApproxDistinct(this=ref.copy()), f"c{i}_d")]
        if col.action == "allow" and orderable(col.column.type):
            select += [exp.alias_(exp.Min(this=ref.copy()), f"c{i}_lo"),
                       exp.alias_(exp.Max(this=ref.copy()), f"c{i}_hi")]
    table = exp.table_(product.name, db=product.domain)
    return exp.select(*select).from_(table).sql(dialect="duckdb")


def _top_query(product: Product, names: list[str]) -> str:
    tops = [exp.alias_(exp.Anonymous(this="histogram", expressions=[
        exp.column(name, quoted=True)]), f"h{i}") for i, name in enumerate(names)]
    table = exp.table_(product.name, db=product.domain)
    return exp.select(*tops).from_(table).sql(dialect="duckdb")


def profile(product: Product, access: ProductAccess, run: Runner) -> dict[str, Any]:
    """``{"rows": [one dict per visible column], "total": row count}``, from at most two
    governed queries run with ``run``; a refused or failed query raises its error."""
    visible = [c for c in access.columns if c.visible]
    if not visible:
        return {"rows": [], "total": 0}
    names, answer = run(_stats_query(product, visible))
    if not answer:
        return {"rows": [], "total": 0}
    values = dict(zip(names, answer[0], strict=True))
    total = int(values["n_rows"] or 0)
    rows: list[dict[str, Any]] = []
    low_cardinality: list[int] = []
    for i, col in enumerate(visible):
        nonnull = int(values[f"c{i}_n"] or 0)
        distinct = int(values[f"c{i}_d"] or 0)
        clear = col.action == "allow"
        rows.append({"name": col.column.name, "type": col.column.type, "clear": clear,
                     "method": col.method, "nulls": total - nonnull, "distinct": distinct,
                     "min": values.get(f"c{i}_lo"), "max": values.get(f"c{i}_hi"),
                     "top": []})
        if clear and 0 < distinct <= MAX_DISTINCT_FOR_TOP and orderable(col.column.type):
            low_cardinality.append(i)
    if low_cardinality:
        _, histogram = run(_top_query(product, [visible[i].column.name
                                                for i in low_cardinality]))
        for i, counts in zip(low_cardinality, histogram[0] if histogram else [], strict=False):
            pairs = counts.items() if isinstance(counts, dict) else counts or []
            ranked = sorted(pairs, key=lambda kv: (-kv[1], str(kv[0])))[:TOP_VALUES]
            rows[i]["top"] = [(k, v) for k, v in ranked]
    return {"rows": rows, "total": total}


def mesh_runner(mesh: Mesh, user: str, purpose: str | None = None) -> Runner:
    """A :data:`Runner` on ``Mesh.sql`` as ``user``: governed and audited like a query
    they type."""

    def run(sql: str) -> tuple[Sequence[str], Sequence[Sequence[Any]]]:
        table = mesh.sql(sql, user=user, purpose=purpose, label="profile").arrow()
        columns = [column.to_pylist() for column in table.columns]
        return table.schema.names, [list(row) for row in zip(*columns, strict=True)]

    return run


def profile_of(mesh: Mesh, user: str, name: str, purpose: str | None = None
               ) -> dict[str, Any]:
    """The governed profile of product ``name`` for ``user`` (AccessDenied without a
    grant), with the product's name and who it was profiled for."""
    from federation.governance.access import evaluate

    product = mesh.catalog.get(name)
    mesh.check_purpose(purpose)
    access = evaluate(mesh.governance, mesh.governance.principal(user), product, purpose)
    found = profile(product, access, mesh_runner(mesh, user, purpose))
    return {"product": product.fqn, "user": user, **found}
