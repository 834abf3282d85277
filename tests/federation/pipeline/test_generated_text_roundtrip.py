"""The generated SQL means the tree seal checked: a round trip through the text.

DuckDB runs the *text* sqlglot writes from the sealed tree, so what seal checked and what
runs are the same only if the text reads back as that tree.  sqlglot writes some nodes as
they are (a Var, a user-defined type name) and rebuilds others while writing (a Collate's
string, a DATE_ADD unit), so a caller's text that reached one of them became SQL (red
team, session 7).  For every query of the analyst corpus and of the attack lists that
plans, as admin and as an analyst, the governed SQL is parsed back and must hold the same
reads: the same tables, columns, functions, strings and keywords.  Differences that are
only sqlglot's spelling (a PIVOT's columns written unqualified, ENCODE's default charset,
a lambda variable read back as a column) are normalized away, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlglot
from sqlglot import exp

from federation import Mesh
from federation.errors import DuckmeshError
from federation.pipeline.functions import generated_name
from tests.federation.pipeline import test_adversarial, test_adversarial_constructs
from tests.federation.pipeline.test_corpus import ENTRIES


def _variables(tree: exp.Expr) -> set[str]:
    names: set[str] = set()
    for node in tree.find_all(exp.Lambda, exp.Comprehension):
        if isinstance(node, exp.Lambda):
            names.update(str(e.name).lower() for e in node.expressions)
        elif isinstance(node.expression, exp.Identifier | exp.Column):
            names.add(str(node.expression.name).lower())
    return names


_UNITS = {"dow": "dayofweek", "doy": "dayofyear"}
"""Part names sqlglot writes in their long form."""
_SPELLING = (exp.Cast, exp.TryCast, exp.Case, exp.If)
"""Nodes sqlglot adds or rewrites into one another while writing (BOOL_AND(CAST(…)),
IF → CASE): not reads."""


def reads(tree: exp.Expr) -> set[tuple[str, ...]]:
    """What a tree reads and says, spelling aside: tables, names (columns, their
    qualifiers and struct fields), function names, strings and keywords (case-insensitive).
    """
    variables = _variables(tree)
    out: set[tuple[str, ...]] = set()
    for node in tree.walk():
        if isinstance(node, exp.Table):
            out.add(("table", str(node.args.get("db") or "").lower(), node.name.lower()))
        elif isinstance(node, exp.Column):
            if node.name.lower() not in variables:
                out.update(("name", str(p.name).lower()) for p in node.parts)
        elif isinstance(node, exp.Dot) and isinstance(node.expression, exp.Identifier):
            out.add(("name", str(node.expression.name).lower()))
        elif isinstance(node, exp.Literal) and node.is_string:
            if not (isinstance(node.parent, exp.Encode) and node.arg_key == "charset"):
                out.add(("word", str(node.this).lower()))
        elif isinstance(node, exp.Var):
            if isinstance(node.parent, exp.Collate) and "." in str(node.this):
                # A dotted collation (noaccent.nocase) reads back as a qualified name.
                out.update(("name", p) for p in str(node.this).lower().split("."))
            else:
                word = str(node.this).lower()
                out.add(("word", _UNITS.get(word, word)))
        elif isinstance(node, exp.Func) and not isinstance(node, _SPELLING):
            name = (generated_name(node) or type(node).__name__).lower().replace("_", "")
            if name not in ("cast", "trycast"):  # d + INTERVAL … written from DateAdd
                out.add(("function", name))
    return out


def same_reads(tree: exp.Expr, sql: str) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    """(read only by the tree, read only by its text parsed back), each without the
    other's keywords-as-strings spelling: a unit is a string on one side, a keyword on the
    other (date_trunc('year', …) / DATE_TRUNC(YEAR …)) — both are words."""
    back = sqlglot.parse_one(sql, read="duckdb")
    mine, text = reads(tree), reads(back)
    return mine - text, text - mine


def _queries() -> Iterator[tuple[str, str]]:
    for entry in ENTRIES:
        yield f"corpus line {entry.line}", entry.sql
    for attack in test_adversarial.ATTACKS + test_adversarial_constructs.ATTACKS:
        yield attack.name, attack.sql


QUERIES = list(_queries())


def test_the_check_sees_an_injected_unit() -> None:
    """Without seal, date_add's unit (a Var of the caller's string) is written as is: the
    text reads a file and a column the tree does not."""
    tree = sqlglot.parse_one("SELECT date_add(d, 1, 'DAY AS v, (SELECT list(email) FROM "
                             "read_parquet(''x'')) AS e --') AS v FROM t", read="duckdb")
    only_tree, only_text = same_reads(tree, tree.sql(dialect="duckdb"))
    assert ("name", "email") in only_text and only_tree


@pytest.mark.parametrize("user", ["adam", "ana"])
def test_the_governed_sql_reads_back_as_the_sealed_tree(mesh: Mesh, user: str) -> None:
    planned = 0
    differ: dict[str, object] = {}
    for name, sql in QUERIES:
        try:
            query = mesh.govern(sql, user)
            text = query.governed_sql
        except DuckmeshError:
            continue
        planned += 1
        tree = query.expression.copy()
        # sqlglot writes a PIVOT's columns unqualified (DuckDB refuses them qualified).
        for pivot in list(tree.find_all(exp.Pivot)):
            for column in pivot.find_all(exp.Column):
                for part in column.parts[:-1]:
                    part.pop()
        only_tree, only_text = same_reads(tree, text)
        if only_tree or only_text:
            differ[name] = (sorted(only_tree), sorted(only_text))
        else:  # and it settles: read back and written again, it stays what it is
            again = sqlglot.parse_one(text, read="duckdb").sql(dialect="duckdb")
            if sqlglot.parse_one(again, read="duckdb").sql(dialect="duckdb") != again:
                differ[name] = "the text does not settle when written back"
    assert planned > 300
    assert differ == {}
