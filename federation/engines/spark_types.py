"""Types on the Spark engine: casts and date arithmetic that Spark computes as DuckDB does.

The governed tree is typed with sqlglot's ``annotate_types`` (column types from DuckDB's
binding of each scan); a cast or an arithmetic on dates, timestamps or intervals whose
Spark result would differ from DuckDB's is refused, and ``DATE - DATE`` (DuckDB: the days
between, a number; Spark: an interval) is rewritten to Spark's ``datediff``.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp
from sqlglot.expressions.datatypes import DType
from sqlglot.optimizer.annotate_types import annotate_types

from federation.engines.spark_qualify import refuse

# Casts: what Spark converts exactly as DuckDB does.  Floating point to text prints
# differently (1e+20 vs 1.0E20) and a fraction to an integer rounds in DuckDB but
# truncates in Spark: those are refused, as is any source whose type is not known.
TEXT = frozenset({exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT,
                  exp.DataType.Type.CHAR, exp.DataType.Type.NVARCHAR})
INTEGERS = frozenset({exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT,
                      exp.DataType.Type.INT, exp.DataType.Type.BIGINT})
FLOATS = frozenset({exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE})
CAST_TARGETS = TEXT | INTEGERS | FLOATS | frozenset({
    exp.DataType.Type.DECIMAL, exp.DataType.Type.DATE, exp.DataType.Type.BOOLEAN})
EXACT_TEXT_SOURCES = TEXT | INTEGERS | frozenset({
    exp.DataType.Type.DECIMAL, exp.DataType.Type.DATE, exp.DataType.Type.BOOLEAN})
TEMPORAL = frozenset({exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP,
                      exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPNTZ,
                      exp.DataType.Type.TIMESTAMPLTZ, exp.DataType.Type.DATETIME,
                      exp.DataType.Type.TIME, exp.DataType.Type.INTERVAL})


def check_types(expression: exp.Expr, schema: Mapping[str, Mapping[str, str]]) -> list[exp.Sub]:
    """QueryRejected for a cast or date arithmetic Spark would not compute as DuckDB does
    (types from ``schema``: view name → column → DuckDB type); the subtractions of two
    dates in ``expression`` (DuckDB: days as a number; Spark: an interval), to be
    rewritten by :func:`rewrite_date_diffs`."""
    if not any(expression.find_all(exp.Cast, exp.TryCast, exp.Add, exp.Sub)):
        return []
    typed = annotate_types(expression.copy(), schema={k: dict(v) for k, v in schema.items()},
                           dialect="duckdb")
    date_diffs: list[exp.Sub] = []
    try:
        pairs = list(zip(expression.walk(), typed.walk(), strict=True))
    except ValueError:
        raise refuse("this query (its types cannot be checked)") from None
    for node, typed_node in pairs:
        if isinstance(typed_node, exp.Cast) and not typed_node.meta.get("mask"):
            _check_cast(typed_node)
        elif isinstance(typed_node, exp.Add | exp.Sub) and \
                _arithmetic(typed_node) == "date_diff" and isinstance(node, exp.Sub):
            date_diffs.append(node)
    return date_diffs


def _kind(node: exp.Expr) -> DType | None:
    if isinstance(node, exp.Literal):
        if node.is_string:
            return exp.DataType.Type.VARCHAR
        if node.is_int:
            return exp.DataType.Type.BIGINT
        # 1.5 is a DECIMAL on both engines; 1e20 a DOUBLE.
        return exp.DataType.Type.DOUBLE if "e" in node.this.lower() else \
            exp.DataType.Type.DECIMAL
    if isinstance(node, exp.Paren):
        return _kind(node.this)
    kind = node.type.this if node.type is not None else None
    return None if kind in (exp.DataType.Type.UNKNOWN, None) else kind


def _check_cast(node: exp.Cast) -> None:
    target = node.to.this
    if target not in CAST_TARGETS:
        raise refuse(f"a cast to {node.to.sql('duckdb')}")
    if isinstance(node.this, exp.Null):
        return
    source = _kind(node.this)
    if target in TEXT and source not in EXACT_TEXT_SOURCES:
        raise refuse("a cast to text of a value that is not text, an integer, a decimal, "
                     "a date or a boolean")
    if target in INTEGERS and source not in TEXT | INTEGERS:
        raise refuse("a cast to an integer of a value that is not text or an integer "
                     "(DuckDB rounds, Spark truncates)")


def _arithmetic(node: exp.Add | exp.Sub) -> str:
    """``date_diff`` for DATE - DATE, ``ok`` for arithmetic both engines compute alike;
    QueryRejected for other arithmetic on dates, timestamps or intervals."""
    left, right = _kind(node.this), _kind(node.expression)
    if not {left, right} & TEMPORAL:
        return "ok"
    if left == exp.DataType.Type.DATE and right == exp.DataType.Type.DATE \
            and isinstance(node, exp.Sub):
        return "date_diff"
    if left in TEMPORAL - {exp.DataType.Type.INTERVAL} and right == exp.DataType.Type.INTERVAL:
        return "ok"
    if isinstance(node, exp.Add) and left == exp.DataType.Type.INTERVAL \
            and right in TEMPORAL - {exp.DataType.Type.INTERVAL}:
        return "ok"
    if left == exp.DataType.Type.DATE and right in INTEGERS:
        return "ok"
    raise refuse("this arithmetic on dates, timestamps or intervals")


def rewrite_date_diffs(expression: exp.Expr, subtractions: list[exp.Sub]) -> exp.Expr:
    """``a - b`` of two dates as DuckDB computes it: the days between, as a number
    (Spark's ``-`` gives an interval)."""
    for node in subtractions:
        days = exp.Anonymous(this="datediff", expressions=[node.this, node.expression])
        if node is expression:
            return days
        node.replace(days)
    return expression
