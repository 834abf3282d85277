"""Statements that wrap a query: ``DESCRIBE``, ``SUMMARIZE``, ``PIVOT``/``UNPIVOT`` and
``SHOW TABLES``.

Each is governed as the query inside it: ``DESCRIBE d.p`` is ``DESCRIBE SELECT * FROM
d.p``, so it lists the columns the caller may see with the types their masks give;
``SUMMARIZE d.p`` summarizes the secured relation (masked values are summarized as
masked, rows a row filter removes are not counted); ``PIVOT d.p ON c USING f(x)`` pivots
``(SELECT * FROM d.p)``, so a pivot column must be a column the caller sees.  ``SHOW
TABLES`` lists the products the caller may read, as values; it reads nothing.
"""

from __future__ import annotations

import re

from sqlglot import exp

from federation.errors import AccessDenied, QueryRejected

SHELLS: frozenset[type[exp.Expr]] = frozenset({exp.Describe, exp.Summarize, exp.Pivot,
                                               exp.Show})
_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$")
_SHELL_ARGS: dict[type[exp.Expr], frozenset[str]] = {
    exp.Describe: frozenset({"this"}),
    exp.Summarize: frozenset({"this"}),
    exp.Show: frozenset({"this", "from_"}),
    exp.Pivot: frozenset({"this", "expressions", "using", "group", "unpivot", "into"}),
}


def _reject(what: str) -> QueryRejected:
    return QueryRejected(f"{what} is not allowed in a governed query")


def check_shell(node: exp.Expr) -> None:
    """QueryRejected unless ``node`` is a wrapping statement in a form duckmesh governs."""
    name = "UNPIVOT" if isinstance(node, exp.Pivot) and node.args.get("unpivot") else \
        node.key.upper()
    if node.parent is not None:
        if isinstance(node, exp.Pivot):
            raise QueryRejected(
                "PIVOT (...) after a table is not supported; write DuckDB's PIVOT "
                "statement instead: PIVOT domain.product ON column USING sum(x)")
        raise _reject(f"{name} inside another query")
    for key, value in node.args.items():
        if value in (None, False, [], "") or key in _SHELL_ARGS[type(node)]:
            continue
        raise _reject(f"{name} with {key.upper()}")
    group = node.args.get("group")
    if isinstance(group, exp.Group) and group.args.get("all"):
        raise QueryRejected("DuckDB's PIVOT takes no GROUP BY ALL; name the columns")
    if isinstance(node, exp.Show):
        if str(node.name).upper() != "TABLES":
            raise _reject(f"SHOW {node.name}")
        source = node.args.get("from_")
        if source is not None and (not isinstance(source, exp.Table) or source.args.get("db")
                                   or not isinstance(source.this, exp.Identifier)):
            raise _reject("SHOW TABLES FROM anything but a domain")
        return
    body = node.this
    if isinstance(node, exp.Pivot):
        if not isinstance(body, exp.Subquery) or not isinstance(body.this, exp.Query):
            raise _reject(f"{name} of anything but a product or a query")
        for key in ("expressions", "using", "group", "into"):
            value = node.args.get(key)
            for part in value if isinstance(value, list) else [value] if value else []:
                if part.find(exp.Query, exp.Table) is not None:
                    # Only the pivoted query is resolved and secured: nothing else reads.
                    raise _reject(f"a subquery in {name} … {key.upper()}")
    elif not isinstance(body, exp.Query):
        raise _reject(f"{name} of anything but a product or a query")


def _standard_pivot(expression: exp.Expr) -> exp.Expr:
    """``SELECT * FROM t PIVOT (agg FOR c IN (…) GROUP BY g)`` → ``PIVOT t ON c IN (…) USING
    agg GROUP BY g``, and ``SELECT * FROM t UNPIVOT (v FOR n IN (a, b))`` → ``UNPIVOT t ON
    a, b INTO NAME n VALUE v``: the same query in DuckDB's statement form, which duckmesh
    governs.  Only that exact shape is rewritten; anything around it stays refused."""
    if not isinstance(expression, exp.Select):
        return expression
    from_ = expression.args.get("from_") or expression.args.get("from")
    table = from_.this if isinstance(from_, exp.From) else None
    pivots = table.args.get("pivots") if isinstance(table, exp.Table | exp.Subquery) \
        else None
    extra = {k for k, v in expression.args.items() if v not in (None, False, [], "")}
    if not pivots or len(pivots) != 1 or extra != {"expressions", "from_"} or \
            [type(e) for e in expression.expressions] != [exp.Star] or \
            expression.expressions[0].args.get("except") or \
            (isinstance(table, exp.Table) and table.alias):
        return expression
    pivot = pivots[0]
    assert table is not None  # pivots were found on it
    source = table.copy()
    source.set("pivots", None)
    source.set("alias", None)
    fields = pivot.args.get("fields") or []
    if pivot.args.get("unpivot"):
        known_unpivot = {"expressions", "fields", "unpivot", "default_on_null",
                         "value_columns_first"}
        if any(v not in (None, False, [], "") and k not in known_unpivot
               for k, v in pivot.args.items()):
            return expression  # INCLUDE NULLS and the like: not rewritten, so refused
        if len(fields) != 1 or len(pivot.expressions) != 1 or \
                not isinstance(fields[0], exp.In):
            return expression
        return exp.Pivot(this=source, expressions=[e.copy() for e in fields[0].expressions],
                         unpivot=True, into=exp.UnpivotColumns(
                             this=exp.column(fields[0].this.name),
                             expressions=[exp.column(pivot.expressions[0].name)]))
    known = {"expressions", "fields", "group", "unpivot", "columns", "default_on_null",
             "identify_pivot_strings", "prefixed_pivot_columns", "pivot_column_naming"}
    if any(v not in (None, False, [], "") and k not in known for k, v in pivot.args.items()):
        return expression
    group = pivot.args.get("group")
    return exp.Pivot(this=source, expressions=[f.copy() for f in fields],
                     using=[e.copy() for e in pivot.expressions],
                     group=group.copy() if group else None)


def desugar(expression: exp.Expr) -> exp.Expr:
    """``DESCRIBE t`` → ``DESCRIBE SELECT * FROM t`` (and the same for ``SUMMARIZE`` and
    ``PIVOT``/``UNPIVOT``): the product is then read by a query like any other."""
    expression = _standard_pivot(expression)
    if isinstance(expression, exp.Command) and str(expression.name).upper() == "SHOW":
        # ``SHOW d.p`` is DuckDB's DESCRIBE; sqlglot leaves it as text, so only a plain
        # two-part name is understood (and built as a table, never re-parsed).
        found = _NAME.match(str(expression.expression or "").strip())
        if found is None:
            return expression
        expression = exp.Describe(this=exp.table_(found.group(2), db=found.group(1)))
    if isinstance(expression, exp.Describe) and \
            str(expression.args.get("kind") or "").upper() == "TABLE":
        expression.set("kind", None)
    if isinstance(expression, exp.Summarize) and expression.args.get("table"):
        expression.set("table", None)
    if isinstance(expression, exp.Describe):
        expression.set("as_json", None)
    if not isinstance(expression, exp.Describe | exp.Summarize | exp.Pivot):
        return expression
    body = expression.this
    if isinstance(body, exp.Table) and isinstance(body.this, exp.Identifier):
        select = exp.select("*").from_(body.copy())
        expression.set("this", exp.Subquery(this=select)
                       if isinstance(expression, exp.Pivot) else select)
    elif isinstance(body, exp.Subquery) and not isinstance(expression, exp.Pivot):
        expression.set("this", body.this)
    return expression


def narrowed(expression: exp.Expr, query: exp.Expr) -> exp.Expr:
    """``query`` (a copy) reading only the columns a PIVOT with GROUP BY names, when it is
    ``SELECT *``: DuckDB's PIVOT ignores the others then, and a masked column it does not
    need stays out (a PIVOT whose values come from the data cannot take the mask's
    parameters)."""
    if not isinstance(expression, exp.Pivot) or expression.args.get("unpivot") or \
            not expression.args.get("group") or not isinstance(query, exp.Select) or \
            [type(p) for p in query.expressions] != [exp.Star]:
        return query
    names: dict[str, None] = {}
    for column in pivot_columns(expression):
        names.setdefault(column.name, None)
    if not names:
        return query
    copy = query.copy()
    copy.set("expressions", [exp.column(n) for n in names])
    return copy


def dynamic_pivot(expression: exp.Expr) -> bool:
    """True for a PIVOT whose column values come from the data (no ``IN`` list)."""
    return isinstance(expression, exp.Pivot) and not expression.args.get("unpivot") and \
        any(not isinstance(e, exp.In) for e in expression.expressions)


def body(expression: exp.Expr) -> exp.Expr | None:
    """The query a wrapping statement governs (``expression`` itself for a query), or
    None for ``SHOW TABLES``, which reads nothing."""
    if isinstance(expression, exp.Show):
        return None
    if isinstance(expression, exp.Pivot):
        return expression.this.this  # type: ignore[no-any-return]
    if isinstance(expression, exp.Describe | exp.Summarize):
        return expression.this  # type: ignore[no-any-return]
    return expression


def with_body(expression: exp.Expr, new_body: exp.Expr) -> exp.Expr:
    """``expression`` (a copy) with its governed query replaced by ``new_body``."""
    if expression is body(expression):
        return new_body
    shell = expression.copy()
    if isinstance(shell, exp.Pivot):
        shell.this.set("this", new_body)
    else:
        shell.set("this", new_body)
    return shell


def pivot_columns(expression: exp.Expr) -> list[exp.Column]:
    """The columns a PIVOT/UNPIVOT names outside its query (ON, USING, GROUP BY)."""
    if not isinstance(expression, exp.Pivot):
        return []
    out: list[exp.Column] = []
    for key in ("expressions", "using", "group"):
        value = expression.args.get(key)
        for part in value if isinstance(value, list) else [value] if value else []:
            out.extend(part.find_all(exp.Column))
    return out


def check_pivot(expression: exp.Expr, visible: list[str], denied: dict[str, str],
                user: str) -> None:
    """Every column a PIVOT names is one its query gives the caller: a denied column is
    an access error, an unknown one a clear error (with a suggestion among the visible)."""
    from federation.pipeline.suggest import did_you_mean

    if isinstance(expression, exp.Pivot):
        _check_pivot_body(expression)
    known = {v.lower() for v in visible}
    for column in pivot_columns(expression):
        if column.table:
            raise QueryRejected(f"PIVOT names columns without a table: {column.sql()}")
        name = column.name
        if name.lower() in known:
            continue
        if name.lower() in denied:
            raise AccessDenied(f"column {name} is denied to user {user!r} by "
                               f"{denied[name.lower()]}", column=name)
        raise QueryRejected(f"column {name} not found in the pivoted query"
                            + did_you_mean(name, visible), column=name)


def _check_pivot_body(expression: exp.Pivot) -> None:
    """DuckDB's generator writes every column inside a PIVOT without its table, so the
    query pivoted must be one where that means the same: one source per SELECT, no
    subquery outside FROM."""
    for select in expression.this.find_all(exp.Select):
        if select.args.get("joins") or select.args.get("laterals"):
            raise QueryRejected("PIVOT of a join is not supported; pivot a product or a "
                                "query over one product")
        for sub in select.find_all(exp.Subquery, exp.Exists):
            if sub.parent_select is select and sub.find_ancestor(exp.From) is None:
                raise QueryRejected("PIVOT of a query with subqueries outside FROM is "
                                    "not supported")


def show_tables(names: list[str], expression: exp.Expr | None = None) -> exp.Select:
    """``SHOW TABLES [FROM domain]`` as a query over values: the products ``names`` (of
    that domain), sorted."""
    source = expression.args.get("from_") if expression is not None else None
    if isinstance(source, exp.Table):
        names = [n for n in names if n.split(".")[0] == source.name.lower()]
    rows = [exp.Tuple(expressions=[exp.Literal.string(n)]) for n in sorted(names)] or \
        [exp.Tuple(expressions=[exp.Null()])]
    values = exp.Values(expressions=rows, alias=exp.TableAlias(
        this=exp.to_identifier("duckmesh_tables"), columns=[exp.to_identifier("name")]))
    select = exp.select("name").from_(values).order_by("name")
    if not names:
        select = select.where(exp.false())
    return select
