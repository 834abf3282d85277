"""Struct fields in a grant's row filter: ``s.region = :region``, ``addr."post code"``,
``s['region']``, ``l[1].country``.

A row filter names only its product's own columns, never a table, so a dotted name is a
column followed by the fields below it: ``s.region`` is field ``region`` of column ``s``.
sqlglot reads ``s.region`` as column ``region`` of *table* ``s``; taken that way, the
rewrite qualified it as ``duckmesh_src.region`` (a column that does not exist) and the
grant could never apply.  :func:`as_field_access` turns every dotted name into the
column and ``struct_extract`` steps, which mean one thing wherever the filter is put
(DuckDB resolves a three-part ``duckmesh_src.s.region`` by trying several readings) and
carry field names as string literals, so names that need quoting stay exact.

:func:`field_problems` checks each path against the column's contract type, as
``grant_problems`` checks column names: a field the contract lacks makes the grant
unusable (fail closed) with one line naming it, instead of a bind error at query time.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import ParseError

from products.contract import Column, Product

_Type = exp.DataType.Type
_LISTS = (_Type.ARRAY, _Type.LIST)


def as_field_access(expression: exp.Expr) -> exp.Expr | str:
    """``expression`` with every dotted name (``s.a.b``, ``f(x).a``) written as
    ``struct_extract`` steps from an unqualified column; a problem (str) for a dotted
    form it does not understand (``s.*``, ``s.f()``): such a filter is refused."""
    for column in list(expression.find_all(exp.Column)):
        if not isinstance(column.this, exp.Identifier):
            return f"row_filter cannot read {column.sql(dialect='duckdb')!r}: name a column " \
                   "or a field of one"
        parts = column.parts
        if len(parts) == 1:
            continue
        value: exp.Expr = exp.Column(this=parts[0].copy())
        for part in parts[1:]:
            value = exp.StructExtract(this=value, expression=exp.Literal.string(part.name))
        if column is expression:
            expression = value
        else:
            column.replace(value)
    # Beyond four parts sqlglot nests Dot nodes over the column: the same field steps.
    for dot in list(expression.find_all(exp.Dot)):
        if not isinstance(dot.expression, exp.Identifier):
            return f"row_filter cannot read {dot.sql(dialect='duckdb')!r}: name a column " \
                   "or a field of one"
        step = exp.StructExtract(this=dot.this, expression=exp.Literal.string(
            dot.expression.name))
        if dot is expression:
            expression = step
        else:
            dot.replace(step)
    return expression


def _steps(column: exp.Column) -> list[tuple[str, exp.Expr]]:
    """The accesses applied to ``column``, innermost first: (``field``, literal) for
    ``struct_extract``; (``key``, the key) for brackets; parentheses are looked through."""
    steps: list[tuple[str, exp.Expr]] = []
    node: exp.Expr = column
    while node.parent is not None and node.arg_key == "this":
        parent = node.parent
        if isinstance(parent, exp.StructExtract):
            steps.append(("field", parent.expression))
        elif isinstance(parent, exp.Bracket):
            keys = parent.expressions
            if len(keys) == 1 and not isinstance(keys[0], exp.Slice):
                steps.append(("key", keys[0]))
            else:  # l[1:2] keeps the list's type
                steps.append(("slice", parent))
        elif not isinstance(parent, exp.Paren):
            break
        node = parent
    return steps


def _struct_fields(dtype: exp.DataType) -> dict[str, exp.DataType]:
    return {d.name.lower(): d.args["kind"] for d in dtype.expressions
            if isinstance(d, exp.ColumnDef) and isinstance(d.args.get("kind"), exp.DataType)}


def _path_problem(column: Column, steps: list[tuple[str, exp.Expr]],
                  fqn: str) -> str | None:
    """Why the field path ``steps`` below ``column`` is not in its contract type, or None."""
    try:
        dtype = exp.DataType.build(column.type, dialect="duckdb")
    except (ParseError, ValueError):
        return f"the type {column.type!r} of {fqn}.{column.name} cannot be read, so the " \
               "fields the row filter names cannot be checked"
    where = column.name
    for kind, key in steps:
        is_text = isinstance(key, exp.Literal) and key.is_string
        if kind == "field" and not is_text:
            return f"{fqn}.{where} is read by position (struct_extract(…, n)); name the field"
        if dtype.this == _Type.STRUCT and kind != "slice" and is_text:
            fields = _struct_fields(dtype)
            found = fields.get(key.name.lower())
            if found is None:
                names = ", ".join(d.name for d in dtype.expressions) or "none"
                return f"{fqn} has no field {f'{where}.{key.name}'!r} (the fields of " \
                       f"{where} are: {names})"
            dtype, where = found, f"{where}.{key.name}"
        elif dtype.this == _Type.MAP and kind == "key" and len(dtype.expressions) == 2:
            dtype, where = dtype.expressions[1], f"{where}[…]"
        elif dtype.this in _LISTS and kind in ("key", "slice") and not is_text \
                and dtype.expressions:
            if kind == "key":
                dtype = dtype.expressions[0]
            where = f"{where}[…]"
        else:
            what = f"no field {key.name!r}" if is_text else "no elements to index"
            return f"{fqn}.{where} is {dtype.sql(dialect='duckdb')}: it has {what}"
    return None


def field_problems(expression: exp.Expr, product: Product) -> list[str]:
    """What the row filter names that ``product``'s contract lacks: unknown columns, and
    fields (``s.regoin``) or element reads that the column's type does not have."""
    problems: list[str] = []
    for ref in expression.find_all(exp.Column):
        column = product.column(ref.name)
        if column is None:
            problems.append(f"{product.fqn} has no column {ref.name!r}")
            continue
        problem = _path_problem(column, _steps(ref), product.fqn)
        if problem is not None:
            problems.append(problem)
    return problems
