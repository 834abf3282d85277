"""ODCS quality rules: the SQL that measures each, and the threshold that judges it.

Library metrics (``nullValues``, ``missingValues``, ``invalidValues``,
``duplicateValues``, ``rowCount``) and ``sql`` rules are supported; each becomes one
governed SELECT returning ``value`` (and ``total`` for percentages), built as sqlglot
expressions.  A rule that cannot be measured is an error, never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from products.contract import Product

OPERATORS = ("mustBe", "mustNotBe", "mustBeGreaterThan", "mustBeGreaterOrEqualTo",
             "mustBeLessThan", "mustBeLessOrEqualTo", "mustBeBetween", "mustNotBeBetween")


class RuleError(Exception):
    """The rule cannot be evaluated as written (reported as an error, not a failure)."""


@dataclass(frozen=True)
class Rule:
    """One quality rule of a product, at table level or on a column."""

    product: Product
    spec: dict[str, Any]
    column: str | None
    index: int

    @property
    def name(self) -> str:
        """A stable, readable name: ``quality.<column>.<metric>`` or the rule's own name."""
        if self.spec.get("name"):
            return f"quality.{self.spec['name']}"
        kind = self.spec.get("metric") or self.spec.get("rule") or self.spec.get("type", "rule")
        return f"quality.{self.column + '.' if self.column else ''}{kind}"


def rules_of(product: Product) -> list[Rule]:
    """Every quality rule of ``product``, table-level first."""
    out = [Rule(product, dict(q), None, i) for i, q in enumerate(product.quality)]
    for column in product.columns:
        out.extend(Rule(product, dict(q), column.name, i) for i, q in enumerate(column.quality))
    return out


def _table(product: Product) -> exp.Table:
    return exp.table_(product.name, db=product.domain)


def _count_if(condition: exp.Expr) -> exp.Expr:
    return exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=condition))


def _select(product: Product, value: exp.Expr) -> exp.Select:
    total = exp.alias_(exp.Count(this=exp.Star()), "total")
    return exp.select(exp.alias_(value, "value"), total).from_(_table(product))


def _in_list(column: exp.Expr, values: list[Any]) -> exp.Expr:
    return exp.In(this=column, expressions=[exp.convert(v) for v in values])


def measure(rule: Rule) -> exp.Select:
    """The SELECT measuring ``rule``: one row with ``value`` and ``total``."""
    spec, product = rule.spec, rule.product
    kind = spec.get("type", "library")
    metric = spec.get("metric") or spec.get("rule")
    args = spec.get("arguments") or {}
    if kind == "sql" or (kind != "library" and "query" in spec):
        return _sql_rule(rule)
    if kind != "library" and not metric:
        raise RuleError(f"rules of type {kind!r} cannot be evaluated by duckmesh")
    column = exp.column(rule.column, quoted=True) if rule.column else None
    if metric == "rowCount":
        return _select(product, exp.Count(this=exp.Star()))
    if column is None and metric != "duplicateValues":
        raise RuleError(f"metric {metric!r} needs a column: put it under the column's quality")
    if metric == "nullValues":
        assert column is not None
        return _select(product, _count_if(exp.Is(this=column, expression=exp.Null())))
    if metric == "missingValues":
        assert column is not None
        missing = args.get("missingValues") or [None, ""]
        values = [v for v in missing if v is not None]
        condition: exp.Expr = exp.Is(this=column.copy(), expression=exp.Null())
        if values:
            condition = exp.or_(condition, _in_list(column, values))
        return _select(product, _count_if(condition))
    if metric == "invalidValues":
        assert column is not None
        return _select(product, _count_if(_invalid(column, args)))
    if metric == "duplicateValues":
        names = [rule.column] if rule.column else list(args.get("properties") or [])
        if not names:
            raise RuleError("duplicateValues at table level needs arguments.properties")
        cols = [exp.column(n, quoted=True) for n in names]
        key: exp.Expr = cols[0] if len(cols) == 1 else exp.Tuple(expressions=cols)
        distinct = exp.Count(this=exp.Distinct(expressions=[key]))
        non_null = exp.Count(this=cols[0].copy()) if len(cols) == 1 else exp.Count(
            this=exp.Star())
        return _select(product, exp.Sub(this=non_null, expression=distinct))
    raise RuleError(f"unknown metric {metric!r}")


def _invalid(column: exp.Column, args: dict[str, Any]) -> exp.Expr:
    checks: list[exp.Expr] = []
    if "validValues" in args:
        checks.append(exp.Not(this=_in_list(column.copy(), list(args["validValues"]))))
    if "pattern" in args:
        checks.append(exp.Not(this=exp.Anonymous(this="regexp_full_match", expressions=[
            exp.Cast(this=column.copy(), to=exp.DataType.build("VARCHAR")),
            exp.Literal.string(str(args["pattern"]))])))
    if "minimum" in args:
        checks.append(exp.LT(this=column.copy(), expression=exp.convert(args["minimum"])))
    if "maximum" in args:
        checks.append(exp.GT(this=column.copy(), expression=exp.convert(args["maximum"])))
    if not checks:
        raise RuleError("invalidValues needs arguments validValues, pattern, minimum or maximum")
    bad = checks[0] if len(checks) == 1 else exp.or_(*checks)
    not_null = exp.not_(exp.Is(this=column.copy(), expression=exp.Null()))
    return exp.and_(not_null, exp.Paren(this=bad))


def _sql_rule(rule: Rule) -> exp.Select:
    text = rule.spec.get("query")
    if not isinstance(text, str) or not text.strip():
        raise RuleError("a sql rule needs a query")
    # {object}/{property} (ODCS) and ${table}/${column} name the product and column under
    # check; they become identifiers, never text.
    marker_table, marker_column = "duckmesh_rule_table", "duckmesh_rule_column"
    for placeholder, marker in (("${table}", marker_table), ("{object}", marker_table),
                                ("${column}", marker_column), ("{property}", marker_column)):
        text = text.replace(placeholder, marker)
    try:
        parsed = sqlglot.parse_one(text, read="duckdb")
    except ParseError:
        raise RuleError("the rule's query is not valid SQL") from None
    if not isinstance(parsed, exp.Select):
        raise RuleError("the rule's query must be a SELECT returning one value")

    def substitute(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and node.name == marker_table and not node.db:
            return exp.table_(rule.product.name, db=rule.product.domain,
                              alias=node.alias or None)
        if isinstance(node, exp.Column) and node.name == marker_column:
            if not rule.column:
                raise RuleError("${column} used in a table-level rule")
            return exp.column(rule.column, table=node.table or None, quoted=True)
        return node

    result = parsed.transform(substitute)
    assert isinstance(result, exp.Select)
    _own_product_only(rule, result)
    return result


def _own_product_only(rule: Rule, query: exp.Select) -> None:
    """A rule reads only the product it checks: a domain's contract has no power to
    measure (and so print) another product's data."""
    own = rule.product.fqn
    for table in query.find_all(exp.Table):
        if not table.args.get("db"):
            continue  # a CTE name (or a file path, which the query path refuses)
        named = f"{table.db}.{table.name}".lower()
        if named != own:
            raise RuleError(f"a quality rule of {own} may read only {own} (use {{object}}), "
                            f"not {named}")


def judge(rule: Rule, value: float) -> tuple[bool, str]:
    """Whether ``value`` satisfies the rule's operator, and the expectation as text."""
    ops = [op for op in OPERATORS if op in rule.spec]
    if not ops:
        raise RuleError("the rule has no threshold (mustBe, mustBeLessThan, …)")
    op = ops[0]
    bound = rule.spec[op]
    try:
        if op in ("mustBeBetween", "mustNotBeBetween"):
            low, high = (float(b) for b in bound)
            inside = low <= value <= high
            return (inside if op == "mustBeBetween" else not inside), f"{op} {low}..{high}"
        limit = float(bound)
    except (TypeError, ValueError):
        raise RuleError(f"{op} needs a number") from None
    verdict = {
        "mustBe": value == limit, "mustNotBe": value != limit,
        "mustBeGreaterThan": value > limit, "mustBeGreaterOrEqualTo": value >= limit,
        "mustBeLessThan": value < limit, "mustBeLessOrEqualTo": value <= limit,
    }[op]
    return verdict, f"{op} {bound}"
