"""Long AND/OR chains sit out column resolution, all but one term per column.

sqlglot's ``qualify`` walks the whole tree several times and resolves every column
reference on its own: a 20,000-term ``WHERE x <> 0 AND x <> 1 AND …`` was most of the
planning time.  The terms of one chain are in one clause of one scope, so a column
written the same way resolves the same way in every one of them.  While ``qualify``
runs, a chain of at least :data:`CHAIN_FROM` terms keeps every term that is not a
simple comparison (a column against literals) and, of the simple ones, the first for
each column; the others wait outside the tree.  Afterwards each of them gets a copy of
what its column became in the term that stayed (qualified, or an alias expanded), and
the chain is put back whole, in its order.

Nothing is checked less: the terms that waited passed the allow-list with the caller's
tree, and their columns are the ones resolved, checked and authorized in the terms that
stayed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from federation.errors import QueryRejected

CHAIN_FROM = 64
"""Chains of at least this many terms are thinned while columns are resolved."""

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike,
                exp.Is)


@dataclass
class _Chain:
    kind: type[exp.Expr]
    holder: exp.Paren
    """Stands where the chain was, around the terms that stayed."""
    terms: list[exp.Expr]
    """Every term, in order."""
    waiting: dict[int, tuple[exp.Expr, str]]
    """id of a term that waited → (the term that stayed for its column, the arg key)."""


def _literal(node: exp.Expr | None) -> bool:
    return isinstance(node, exp.Literal | exp.Null | exp.Boolean) or (
        isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal))


def _plain_column(node: exp.Expr | None) -> bool:
    return isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier)


def _column_side(term: exp.Expr) -> str | None:
    """The arg key of the column in a simple term (a column against literals), or None."""
    if type(term) in _COMPARISONS:
        left, right = term.args.get("this"), term.args.get("expression")
        if _plain_column(left) and _literal(right):
            return "this"
        if _plain_column(right) and _literal(left) and not isinstance(term, exp.Is):
            return "expression"
        return None
    if isinstance(term, exp.In) and _plain_column(term.this) and term.expressions and \
            not term.args.get("query") and not term.args.get("unnest") and \
            not term.args.get("field") and all(_literal(v) for v in term.expressions):
        return "this"
    if isinstance(term, exp.Between) and _plain_column(term.this) and \
            _literal(term.args.get("low")) and _literal(term.args.get("high")):
        return "this"
    return None


def _signature(column: exp.Column) -> tuple[tuple[str, bool], ...]:
    return tuple((part.name, bool(part.args.get("quoted"))) for part in column.parts)


def _terms(head: exp.Expr) -> list[exp.Expr]:
    out: list[exp.Expr] = []
    stack = [head]
    while stack:
        node = stack.pop()
        if type(node) is type(head):
            stack += [node.expression, node.this]
        else:
            out.append(node)
    return out


def _balanced(kind: type[exp.Expr], terms: list[exp.Expr]) -> exp.Expr:
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return kind(this=_balanced(kind, terms[:middle]),
                expression=_balanced(kind, terms[middle:]))


def _clone(node: exp.Expr) -> exp.Expr:
    """A copy of ``node``; of a plain column, built directly (a third of the time of
    ``copy()``, which goes through :mod:`copy` for each of 20,000 terms)."""
    if type(node) is exp.Column and all(
            v is None or (type(v) is exp.Identifier and set(v.args) <= {"this", "quoted"})
            for v in node.args.values()):
        return exp.Column(**{k: exp.Identifier(this=v.this, quoted=v.args.get("quoted"))
                             for k, v in node.args.items() if v is not None})
    return node.copy()


def thin_chains(expression: exp.Expr) -> list[_Chain]:
    """Take the repeated simple terms of long chains out of ``expression`` (in place);
    :func:`restore_chains` puts them back."""
    chains: list[_Chain] = []
    for head in list(expression.find_all(exp.And, exp.Or)):
        if type(head.parent) is type(head) or head.parent is None:
            continue  # inside a chain (its head does the work), or cut out already
        terms = _terms(head)
        if len(terms) < CHAIN_FROM:
            continue
        stayed: dict[tuple[tuple[str, bool], ...], exp.Expr] = {}
        kept: list[exp.Expr] = []
        waiting: dict[int, tuple[exp.Expr, str]] = {}
        for term in terms:
            side = _column_side(term)
            key = _signature(term.args[side]) if side else None
            if side is not None and key in stayed:
                waiting[id(term)] = (stayed[key], side)
                continue
            if key is not None:
                stayed[key] = term
            kept.append(term)
        if not waiting:
            continue
        holder = exp.Paren(this=_balanced(type(head), [t.pop() for t in kept]))
        head.replace(holder)
        chains.append(_Chain(type(head), holder, terms, waiting))
    return chains


def restore_chains(qualified: exp.Expr, chains: list[_Chain]) -> None:
    """Every chain whole again, its waiting terms' columns as their column became in the
    term that stayed for it."""
    for chain in reversed(chains):  # inner chains were thinned after the outer ones
        holder = chain.holder
        if holder.root() is not qualified or not isinstance(holder.this, exp.Expr):
            raise QueryRejected("internal: a condition was lost while resolving columns")
        current = _terms(holder.this) if type(holder.this) is chain.kind else [holder.this]
        expected = len(chain.terms) - len(chain.waiting)
        if len(current) != expected:
            raise QueryRejected("internal: a condition changed while resolving columns")
        stayed = iter(current)
        terms: list[exp.Expr] = []
        for term in chain.terms:
            wait = chain.waiting.get(id(term))
            if wait is None:
                terms.append(next(stayed))
                continue
            model, side = wait
            resolved = model.args.get(side)
            if model.root() is not qualified or not isinstance(resolved, exp.Expr):
                raise QueryRejected("internal: a column was lost while resolving columns")
            term.set(side, _clone(resolved))
            terms.append(term)
        holder.replace(_balanced(chain.kind, terms))
