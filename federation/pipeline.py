"""SQL in, governed SQL out: the steps, in order, as one list.

Each step is a pure function ``(GovernedQuery, Context) -> GovernedQuery`` in its own
module (sqlglot's optimizer RULES are the model), so each can be tested on its own with
golden SQL fixtures.
"""

from __future__ import annotations

from collections.abc import Callable

from federation.allowlist import check
from federation.authorize import authorize
from federation.parse import parse
from federation.plan import Context, GovernedQuery
from federation.resolve import resolve
from federation.rewrite import rewrite
from federation.seal import seal

Step = Callable[[GovernedQuery, Context], GovernedQuery]


def allowlist(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    """The allow-list as a pipeline step."""
    del ctx
    check(query.expression)
    return query


STEPS: tuple[Step, ...] = (allowlist, resolve, authorize, rewrite, seal)


def govern(sql: str, ctx: Context, steps: tuple[Step, ...] = STEPS) -> GovernedQuery:
    """Parse ``sql`` and run it through every step: the governed query, ready to execute."""
    query = GovernedQuery(sql=sql, expression=parse(sql))
    for step in steps:
        query = step(query, ctx)
    return query
