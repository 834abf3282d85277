"""The short cuts planning takes on large queries decide exactly as the long way.

- the allow-list skips :func:`check_node` for classes it allows on their class alone
  (``PASSED``): every class ``check_node`` looks into is excluded from that set, and over
  the analyst corpus and the attacks the short cut and the node-by-node check agree;
- the node and depth count (level by level) is the walk that records each node's depth;
- rebalancing a chain with its own nodes leaves a well-formed tree.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable

import pytest
from sqlglot import exp

from federation.errors import DuckmeshError
from federation.pipeline import statements
from federation.pipeline.limits import measure
from federation.pipeline.parse import parse
from tests.federation.pipeline.test_adversarial import ATTACKS
from tests.federation.pipeline.test_corpus import ENTRIES

# The module (``federation.pipeline.allowlist`` is also the name of its step function).
allowlist = importlib.import_module("federation.pipeline.allowlist")

# Classes check_node names before its class-by-class tests (nodes off STRUCTURE), or as
# what a node holds rather than as the node's own class (Expr: the annotation).
_NOT_THE_NODE = {"Expr", "Func", "Placeholder", "Parameter", "PositionalColumn", "TableColumn",
                 "Subquery", "Unnest", "Star", "Literal", "DataType"}


def test_every_class_check_node_looks_into_is_inspected() -> None:
    named = set(re.findall(r"exp\.(\w+)", inspect.getsource(allowlist.check_node)))
    inspected = {c.__name__ for c in allowlist.INSPECTED}
    assert named - _NOT_THE_NODE <= inspected
    assert "statements.SHELLS" in inspect.getsource(allowlist.check_node)
    assert not allowlist.PASSED & statements.SHELLS
    for passed in allowlist.PASSED:
        assert not issubclass(passed, allowlist.INSPECTED)
        assert passed in allowlist.STRUCTURE or (
            issubclass(passed, exp.Func) and passed in allowlist.FUNCTIONS)


def _slow_check(expression: exp.Expr) -> None:
    if type(expression) not in allowlist.STATEMENTS:
        allowlist.check(expression)  # refuses the statement itself, before any node
    for node in expression.walk():
        allowlist.check_node(node)


def _outcome(check: Callable[[exp.Expr], object], tree: exp.Expr) -> str:
    try:
        check(tree)
    except DuckmeshError as exc:
        return f"{type(exc).__name__}: {exc}"
    return "allowed"


def _trees() -> list[exp.Expr]:
    trees = []
    for sql in [e.sql for e in ENTRIES] + [a.sql for a in ATTACKS]:
        try:
            trees.append(parse(sql))
        except DuckmeshError:
            continue
    return trees


def test_the_allow_list_decides_as_node_by_node() -> None:
    trees = _trees()
    outcomes = [(_outcome(allowlist.check, t), _outcome(_slow_check, t)) for t in trees]
    assert len(trees) > 300
    assert {fast for fast, _ in outcomes} != {"allowed"}  # some are refused
    for (fast, slow), tree in zip(outcomes, trees, strict=True):
        assert fast == slow, tree.sql()


def _measure_by_depths(expression: exp.Expr) -> tuple[int, int]:
    depths: dict[int, int] = {}
    nodes = deepest = 0
    for node in expression.walk():
        parent = node.parent
        depth = depths.get(id(parent), -1) + 1 if parent is not None else 0
        depths[id(node)] = depth
        nodes += 1
        deepest = max(deepest, depth)
    return nodes, deepest


@pytest.mark.parametrize("sql", [
    "SELECT 1",
    "SELECT " + "(" * 40 + "x" + ")" * 40 + " FROM t",
    "SELECT a FROM (SELECT a FROM (SELECT a FROM t) s) r WHERE a IN (1, 2, 3)",
    "SELECT 1 FROM t WHERE " + " AND ".join(f"a <> {i}" for i in range(300)),
])
def test_the_node_and_depth_count_is_the_walk_s(sql: str) -> None:
    tree = parse(sql)
    assert measure(tree) == _measure_by_depths(tree)


@pytest.mark.parametrize("sql", [
    "SELECT 1 FROM t WHERE " + " AND ".join(f"a <> {i}" for i in range(1000)),
    " UNION ALL ".join(["SELECT a FROM t"] * 100) + " ORDER BY 1 LIMIT 3",
    "SELECT 1 FROM t WHERE " + " OR ".join(
        "(" + " AND ".join(f"b <> {j}" for j in range(20)) + f" AND a = {i})"
        for i in range(40)),
])
def test_a_rebalanced_chain_is_a_well_formed_tree(sql: str) -> None:
    """Rebalancing uses the chain's own nodes again: each node is in one place, and its
    parent and arg key say which."""
    tree = parse(sql)
    seen: set[int] = set()
    for node in tree.walk():
        assert id(node) not in seen
        seen.add(id(node))
        for key, value in node.args.items():
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, exp.Expr):
                    assert child.parent is node and child.arg_key == key
    assert measure(tree)[1] < 40
