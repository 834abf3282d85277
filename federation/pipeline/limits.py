"""Bounds on planning: a query's size, its nesting and the time planning may take.

Planning is linear in the size of the query (``parse`` rebalances long chains of AND, OR
and UNION, which would otherwise be as deep as they are long), and bounded:

- ``max_nodes``: syntax-tree nodes (``engine.max_query_nodes``);
- ``max_depth``: nesting — parentheses, subqueries, function calls (``engine.max_nesting_depth``);
- a deadline: planning, storage reads included, ends within the query's time limit
  (``engine.timeout_seconds``); execution gets what is left of it.

Each ends in one :class:`~federation.errors.QueryRejected` or
:class:`~federation.errors.QueryTimeout` line, never an internal error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from federation.errors import QueryRejected, QueryTimeout

MAX_NODES = 300_000
MAX_DEPTH = 200
TIMEOUT = 300.0
MAX_RECURSION = 10_000


@dataclass(frozen=True)
class Limits:
    """How large, how deep and how long a query's planning may be."""

    max_nodes: int = MAX_NODES
    max_depth: int = MAX_DEPTH
    timeout: float = TIMEOUT
    """The query's time limit, seconds (planning and execution together)."""
    max_recursion: int = MAX_RECURSION
    """Iterations a recursive CTE may make before the query is stopped."""
    started: float = dataclasses.field(default_factory=time.monotonic)
    """When planning started (``time.monotonic``)."""

    @classmethod
    def of(cls, engine: Any) -> Limits:
        """The limits ``engine`` settings (duckmesh.yaml ``engine``) set, starting now."""
        return cls(max_nodes=engine.max_query_nodes, max_depth=engine.max_nesting_depth,
                   timeout=engine.timeout_seconds)

    @property
    def deadline(self) -> float:
        """When the query's time is up (``time.monotonic``)."""
        return self.started + self.timeout

    def remaining(self) -> float:
        """Seconds left before the deadline (0 when past it)."""
        return max(0.0, self.deadline - time.monotonic())

    def check_time(self, what: str = "planning") -> None:
        """QueryTimeout when the deadline has passed."""
        if time.monotonic() >= self.deadline:
            raise QueryTimeout(f"the query ran longer than the limit of {self.timeout:g} s "
                               f"and was stopped ({what})",
                               hint="raise engine.timeout_seconds in duckmesh.yaml")


_PAUSES = 0
_PAUSE_LOCK = threading.Lock()
_WAS_ENABLED = False
_PAUSED_SINCE = 0.0
_COLLECT_EVERY = 2.0
"""Seconds: plannings that overlap without pause (a busy server) still collect this often."""
_DEPTH = threading.local()
"""Pauses this thread holds: a pause inside a pause (a step inside a planning) is one."""


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a query is planned.

    A syntax tree is one big cycle (children point at their parents): with 100,000 nodes
    alive, the collector's passes made planning grow faster than the query (a 20,000-term
    AND chain: 5.6 s with it, 2.8 s without, measured).  The trees planning drops are
    collected when the last planning in the process ends.  Counted, so concurrent
    plannings (the server) turn it back on only when none is left; while they overlap
    without a break, the young generations are still collected every two seconds.
    """
    global _PAUSES, _WAS_ENABLED, _PAUSED_SINCE
    depth = getattr(_DEPTH, "n", 0)
    _DEPTH.n = depth + 1
    if depth:
        # Already paused by this thread's planning: collecting here would walk every node
        # the planning made so far (0.6-1.2 s at 100,000), for garbage it is still making.
        try:
            yield
        finally:
            _DEPTH.n = depth
        return
    with _PAUSE_LOCK:
        if _PAUSES == 0:
            _WAS_ENABLED = gc.isenabled()
            _PAUSED_SINCE = time.monotonic()
            gc.disable()
        _PAUSES += 1
    try:
        yield
    finally:
        _DEPTH.n = 0
        with _PAUSE_LOCK:
            _PAUSES -= 1
            if _PAUSES == 0 and _WAS_ENABLED:
                gc.enable()
            elif _WAS_ENABLED and time.monotonic() - _PAUSED_SINCE > _COLLECT_EVERY:
                # Never paused for good: other plannings still run, collect the young.
                _PAUSED_SINCE = time.monotonic()
                gc.collect(1)


def measure(expression: exp.Expr) -> tuple[int, int]:
    """(nodes, depth) of a tree, level by level (no recursion, whatever the depth; half
    the time of a walk that records each node's depth)."""
    nodes, depth, level = 0, -1, [expression]
    while level:
        nodes += len(level)
        depth += 1
        level = [child for node in level for child in node.iter_expressions()]
    return nodes, depth


def check_size(expression: exp.Expr, limits: Limits) -> None:
    """QueryRejected when ``expression`` is larger or deeper than ``limits`` allow."""
    nodes, depth = measure(expression)
    if nodes > limits.max_nodes:
        raise QueryRejected(f"the query is too large ({nodes:,} syntax nodes; the limit is "
                            f"{limits.max_nodes:,})", hint="raise engine.max_query_nodes, or "
                            "put long value lists in a data product")
    if depth > limits.max_depth:
        raise QueryRejected(f"the query is nested too deeply ({depth} levels; the limit is "
                            f"{limits.max_depth})", hint="flatten nested subqueries or "
                            "parentheses (engine.max_nesting_depth)")


def bound(query: Any, ctx: Any) -> Any:
    """The first step: the query within the size, depth and time limits of ``ctx``, or
    refused (before any of the work that grows with it)."""
    ctx.limits.check_time()
    check_size(query.expression, ctx.limits)
    return query
