"""Step 7: seal.  A last check of the invariant the rewrite promises.

After the rewrite, the only things that can read data are the scans duckmesh made; every
other table reference names a CTE defined around it (so DuckDB cannot take it for a file
path or a catalog table).  Any parameter is one of the mask's own.  If a future change to
an earlier step broke that, this stops the query instead of running it.

And nothing is written into the governed SQL as raw text but plain words: sqlglot prints
some nodes as they are — a keyword (``Var``: an interval unit, an EXTRACT part, a
DATE_ADD unit taken from a string the caller wrote), a user-defined type name, an
unquoted identifier, a number — so a caller's text that reached one of them unchecked
(``date_add(d, 1, 'DAY AS v, (SELECT …) --')``, ``CAST(x AS "…")``) would be SQL.
"""

from __future__ import annotations

from sqlglot import exp

from connectors.scan import SCAN_MARK
from federation.errors import QueryRejected
from federation.governance.calls import verbatim_text
from federation.governance.masks import IPAD_PARAM, OPAD_PARAM
from federation.pipeline import statements
from federation.pipeline.allowlist import check_table_function
from federation.pipeline.query import Context, GovernedQuery


def _ctes_in_reach(table: exp.Table) -> set[str]:
    """Names of the CTEs a table reference can see: those of every WITH around it."""
    names: set[str] = set()
    node: exp.Expr | None = table.parent
    while node is not None:
        with_ = node.args.get("with_") or node.args.get("with")
        if isinstance(with_, exp.With):
            names.update(cte.alias.lower() for cte in with_.expressions)
        node = node.parent
    return names


def _is_cte_reference(table: exp.Table) -> bool:
    if not isinstance(table.this, exp.Identifier) or table.args.get("db") is not None \
            or table.args.get("catalog") is not None:
        return False
    return table.name.lower() in _ctes_in_reach(table)


_SEALED = (exp.Table, exp.Placeholder, exp.Var, exp.Identifier, exp.Literal, exp.DataType)


def seal(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    """Raise unless every table is our scan or a CTE reference, every parameter ours and
    nothing printed as raw text more than a plain word."""
    del ctx
    if query.params and statements.dynamic_pivot(query.expression):
        raise QueryRejected("a PIVOT over masked columns needs its values listed: "
                            "PIVOT … ON column IN ('a', 'b') USING …, or GROUP BY the "
                            "columns it keeps")
    # walk() rather than find_all(): one generator fewer for every node of the tree.
    for node in query.expression.walk():
        if not isinstance(node, _SEALED):
            continue
        kind = type(node)
        if kind is exp.Identifier:
            # Most of the nodes met here: the common cases in C string methods, before
            # any Python call (an identifier is quoted, or a plain ASCII word).
            name = node.this
            if node.args.get("quoted") or (isinstance(name, str) and name.isascii()
                                           and name.isidentifier()):
                continue
        elif kind is exp.Literal and (node.args.get("is_string") or str(node.this).isdigit()):
            continue
        if not isinstance(node, exp.Table | exp.Placeholder):
            text = verbatim_text(node)
            if text is not None:
                raise QueryRejected(f"{text[:40]!r} is not a keyword, type or number "
                                    "duckmesh can write into a query",
                                    hint="write units, parts and type names as plain words")
            continue
        if isinstance(node, exp.Placeholder):
            if node.name not in (IPAD_PARAM, OPAD_PARAM):
                raise QueryRejected("internal: an unexpected parameter survived the rewrite")
            continue
        if node.meta.get(SCAN_MARK):
            if node.meta[SCAN_MARK] not in query.scans:
                raise QueryRejected("internal: a scan of an unplanned product")
            continue
        if isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier):
            try:  # range/generate_series over values: reads nothing
                check_table_function(node)
            except QueryRejected:
                raise QueryRejected("internal: an unsecured table reference survived the "
                                    "rewrite") from None
            continue
        if not isinstance(node, exp.Table) or not _is_cte_reference(node):
            raise QueryRejected("internal: an unsecured table reference survived the rewrite")
    return query
