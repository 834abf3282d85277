"""SQL in, governed query out: the stages, in order, as lists.

Each stage is a function ``(GovernedQuery, Context) -> GovernedQuery`` in its own module
(sqlglot's optimizer ``RULES`` are the model), tested on its own with golden SQL
fixtures in ``tests/fixtures/golden/<stage>.sql``::

    parse                     SQL text -> one sqlglot tree (the entry, not a step)
    DECIDE  bound             size, nesting and time within the limits, or refused
            allowlist         every node on the allow-list, or refused
            resolve           domain.product names -> products of the catalog
            lifecycle         drafts only for their owners, retired refused, deprecated warned
            authorize         per-column decisions, masks and row filters; stars expanded
    PLAN    scans             files listed, Iceberg snapshots planned, footers read (the
                              only stage that does I/O)
            rewrite           each product reference -> its secured relation (pure)
            seal              the final tree re-checked: nothing but our scans reads data
    GUARDS  contracts         the data still matches the contracts of the columns read
            estimate, budget  bytes the query will scan; the caller's budget
            stamp             contract versions and exact files: what the result read

:class:`~federation.mesh.Mesh` composes them (and audits the outcome); an engine
(:mod:`federation.engines`) runs the sealed, guarded query.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot.errors import SqlglotError

from federation.errors import QueryRejected
from federation.pipeline.allowlist import allowlist
from federation.pipeline.authorize import authorize
from federation.pipeline.budget import budget, estimate
from federation.pipeline.contracts import contracts
from federation.pipeline.lifecycle import lifecycle
from federation.pipeline.limits import bound, gc_paused
from federation.pipeline.parse import parse
from federation.pipeline.query import Context, GovernedQuery
from federation.pipeline.resolve import resolve
from federation.pipeline.rewrite import rewrite
from federation.pipeline.scans import scans
from federation.pipeline.seal import seal
from federation.pipeline.stamp import stamp

Step = Callable[[GovernedQuery, Context], GovernedQuery]

DECIDE: tuple[Step, ...] = (bound, allowlist, resolve, lifecycle, authorize)
"""What the caller may read: pure, no I/O."""
PLAN: tuple[Step, ...] = (scans, rewrite, seal)
"""What will be read, and the SQL that reads only that."""
STEPS: tuple[Step, ...] = DECIDE + PLAN
"""Every step from a parsed query to the sealed governed query, in order."""
GUARDS: tuple[Step, ...] = (contracts, estimate, budget, stamp)
"""Checks on the sealed query before it runs; they read the scan plans' facts."""

__all__ = [
    "DECIDE", "GUARDS", "PLAN", "STEPS", "Context", "GovernedQuery", "Step", "allowlist",
    "authorize", "bound", "budget", "contracts", "estimate", "govern", "lifecycle", "parse",
    "resolve", "rewrite", "run", "scans", "seal", "stamp",
]


def run(query: GovernedQuery, ctx: Context, steps: tuple[Step, ...]) -> GovernedQuery:
    """``query`` through ``steps``, in order, within the planning deadline of ``ctx``.

    Whatever a step does not understand well enough to refuse in its own words — a
    sqlglot error, a tree too deep for Python's recursion — is refused here: the Python
    API raises only :class:`~federation.errors.DuckmeshError`.
    """
    with gc_paused():
        for step in steps:
            ctx.limits.check_time(step.__name__)
            try:
                query = step(query, ctx)
            except RecursionError:
                raise QueryRejected("the query is nested too deeply to plan",
                                    hint="flatten nested subqueries or parentheses") from None
            except SqlglotError:
                raise QueryRejected("the query could not be planned (a construct duckmesh "
                                    "does not understand)") from None
    return query


def govern(sql: str, ctx: Context, steps: tuple[Step, ...] = STEPS) -> GovernedQuery:
    """Parse ``sql`` and run it through ``steps`` (default: every step, up to sealed)."""
    return run(GovernedQuery(sql=sql, expression=parse(sql)), ctx, steps)
