"""Predicates that may prune a product's files: pure analysis of the governed AST.

A conjunct of the WHERE of the SELECT that reads the product is pushable when it is a
comparison, IN, BETWEEN or IS [NOT] NULL between one of the product's columns and
literals.  The query keeps every predicate: pushing only lets the planner skip files that
cannot hold a matching row.  Two rules keep that exact:

- columns the caller sees masked, or with masked fields inside, are never pushed (their
  predicates compare masked values, not stored ones);
- nothing is pushed from a SELECT with an outer join: pruning the null-supplying side
  would turn "no match in a pruned file" into NULLs that a predicate like IS NULL keeps.

The grant's row filter applies to stored values, so all of its conjuncts are pushable.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from federation.governance.access import ProductAccess

Predicate = tuple[str, str, Any]
"""(column, operator, value): operators eq ne lt le gt ge in between is_null not_null."""

_OPS = {exp.EQ: "eq", exp.NEQ: "ne", exp.LT: "lt", exp.LTE: "le", exp.GT: "gt", exp.GTE: "ge"}
_FLIP = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq", "ne": "ne"}


def _value(node: exp.Expr) -> tuple[bool, Any]:
    if isinstance(node, exp.Literal):
        if node.is_string:
            return True, str(node.this)
        text = str(node.this)
        try:
            return True, int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            return False, None
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        ok, value = _value(node.this)
        return ok, -value if ok else None
    if isinstance(node, exp.Boolean):
        return True, bool(node.this)
    return False, None


def _conjuncts(node: exp.Expr | None) -> list[exp.Expr]:
    if node is None:
        return []
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    return [node]


def _predicate(node: exp.Expr, column_ok: Any) -> Predicate | None:
    def col(n: exp.Expr) -> str | None:
        return n.name if isinstance(n, exp.Column) and column_ok(n) else None

    if type(node) in _OPS:
        op = _OPS[type(node)]  # type: ignore[index]
        left, right = node.this, node.expression
        if col(left):
            ok, value = _value(right)
            return (col(left), op, value) if ok else None  # type: ignore[return-value]
        if col(right):
            ok, value = _value(left)
            return (col(right), _FLIP[op], value) if ok else None  # type: ignore[return-value]
        return None
    if isinstance(node, exp.In) and col(node.this) and not node.args.get("query"):
        values = [_value(v) for v in node.expressions]
        if values and all(ok for ok, _ in values):
            return (col(node.this), "in", [v for _, v in values])  # type: ignore[return-value]
        return None
    if isinstance(node, exp.Between) and col(node.this):
        low, high = _value(node.args["low"]), _value(node.args["high"])
        if low[0] and high[0]:
            return (col(node.this), "between", (low[1], high[1]))  # type: ignore[return-value]
        return None
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null) and col(node.this):
        return (col(node.this), "is_null", None)  # type: ignore[return-value]
    if isinstance(node, exp.Not) and isinstance(node.this, exp.Is) and \
            isinstance(node.this.expression, exp.Null) and col(node.this.this):
        return (col(node.this.this), "not_null", None)  # type: ignore[return-value]
    return None


def pushable(table: exp.Table, access: ProductAccess) -> list[Predicate]:
    """Predicates on ``table`` (a product reference in a qualified tree) safe to prune with."""
    out: list[Predicate] = []
    if access.row_filter is not None:
        out += [p for c in _conjuncts(access.row_filter)
                if (p := _predicate(c, lambda n: not n.table)) is not None]
    select = table.parent_select
    if not isinstance(select, exp.Select):
        return out
    if any(j.side for j in select.args.get("joins") or []):
        return out
    alias = table.alias_or_name

    def visible_raw(column: exp.Column) -> bool:
        decision = access.column(column.name)
        # A column with masked fields inside is not stored as the caller sees it either.
        return column.table == alias and decision is not None and \
            decision.action == "allow" and not decision.fields

    where = select.args.get("where")
    out += [p for c in _conjuncts(where.this if where is not None else None)
            if (p := _predicate(c, visible_raw)) is not None]
    return out
