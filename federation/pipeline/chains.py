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

_COMPARISONS = frozenset({exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like,
                          exp.ILike, exp.Is})


@dataclass
class _Chain:
    head: exp.Expr
    """The chain's top node: the chain, whole, waits out of the tree."""
    holder: exp.Paren
    """Stands where the chain was, around the terms that stayed."""
    slots: list[tuple[exp.Expr, str]]
    """For each term that stayed, in order: the chain node and arg key it came from."""
    waiting: list[tuple[exp.Expr, str, exp.Expr, str]]
    """Each term that waited (in its place in the chain) and the arg key of its column;
    the term that stayed for that column and the arg key of the column there (``a <> 1``
    stands for ``2 <> a`` too)."""


def _literal(node: exp.Expr | None) -> bool:
    return isinstance(node, exp.Literal | exp.Null | exp.Boolean) or (
        isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal))


def _plain_column(node: exp.Expr | None) -> bool:
    return isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier)


def _column_side(term: exp.Expr) -> str | None:
    """The arg key of the column in a simple term (a column against literals), or None."""
    if type(term) in _COMPARISONS:
        args = term.args
        left, right = args.get("this"), args.get("expression")
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
    args = column.args
    if len(args) == 1:  # a bare name, the usual case: no list of parts to build
        name = args["this"]
        return ((name.name, bool(name.args.get("quoted"))),)
    return tuple((part.name, bool(part.args.get("quoted"))) for part in column.parts)


def _terms(head: exp.Expr) -> list[tuple[exp.Expr, exp.Expr, str]]:
    """The terms of the chain ``head`` starts, left to right, each with the chain node and
    arg key holding it (no recursion)."""
    kind = type(head)
    out: list[tuple[exp.Expr, exp.Expr, str]] = []
    stack: list[tuple[exp.Expr, exp.Expr, str]] = [
        (head.args["expression"], head, "expression"), (head.args["this"], head, "this")]
    while stack:
        item = stack.pop()
        node = item[0]
        if type(node) is kind:
            stack.append((node.args["expression"], node, "expression"))
            stack.append((node.args["this"], node, "this"))
        else:
            out.append(item)
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


def thin_chains(expression: exp.Expr, found: list[exp.Expr] | None = None) -> list[_Chain]:
    """Take the repeated simple terms of long chains out of ``expression`` (in place);
    :func:`restore_chains` puts them back.  ``found``: the AND and OR nodes of
    ``expression`` (among others), breadth first, if the caller walked it already.

    The chain itself, whole, waits outside the tree; a short chain of the terms that
    stayed stands in its place.  Nothing of it is rebuilt or thrown away (at 20,000
    terms, making and collecting the nodes was a fifth of the planning time).
    """
    chains: list[_Chain] = []
    if found is None:
        found = list(expression.find_all(exp.And, exp.Or))
    for head in found:
        if type(head) is not exp.And and type(head) is not exp.Or:
            continue
        parent = head.parent
        if parent is None or type(parent) is type(head):
            continue  # inside a chain (its head does the work), or cut out already
        terms = _terms(head)
        if len(terms) < CHAIN_FROM:
            continue
        stayed: dict[tuple[tuple[str, bool], ...], tuple[exp.Expr, str]] = {}
        kept: list[exp.Expr] = []
        slots: list[tuple[exp.Expr, str]] = []
        waiting: list[tuple[exp.Expr, str, exp.Expr, str]] = []
        for term, link, key in terms:
            side = _column_side(term)
            if side is not None:
                signature = _signature(term.args[side])
                model = stayed.get(signature)
                if model is not None:
                    waiting.append((term, side, *model))
                    continue
                stayed[signature] = (term, side)
            kept.append(term)
            slots.append((link, key))
        if not waiting:
            continue
        holder = exp.Paren(this=_balanced(type(head), kept))
        head.replace(holder)
        chains.append(_Chain(head, holder, slots, waiting))
    return chains


_Qualifiers = tuple[str, bool, tuple[tuple[str, str, bool], ...]]


def _qualifiers(resolved: exp.Expr) -> _Qualifiers | None:
    """(name, quoted, qualifiers) of a column that resolving only qualified: its name
    and, for each part before it (table, db), the arg key, text and quoting; None for
    anything else (an alias expanded, say)."""
    if type(resolved) is not exp.Column:
        return None
    parts = []
    name = None
    for key, value in resolved.args.items():
        if value is None:
            continue
        if type(value) is not exp.Identifier or not set(value.args) <= {"this", "quoted"}:
            return None
        if key == "this":
            name = value
        else:
            parts.append((key, value.args["this"], bool(value.args.get("quoted"))))
    if name is None:
        return None
    return name.args["this"], bool(name.args.get("quoted")), tuple(parts)


def _qualify_in_place(column: exp.Expr, qualifiers: _Qualifiers) -> bool:
    """Give ``column``, the same name unqualified, the qualifiers resolving gave it in the
    term that stayed (the same result as a copy of that column, without making one);
    False when ``column`` is anything else."""
    if type(column) is not exp.Column:
        return False
    args = column.args
    name = args.get("this")
    if type(name) is not exp.Identifier or len(args) != 1 or \
            name.args.get("this") != qualifiers[0] or \
            bool(name.args.get("quoted")) != qualifiers[1]:
        return False
    for key, text, quoted in qualifiers[2]:
        column.set(key, exp.Identifier(this=text, quoted=quoted))
    return True


def restore_chains(qualified: exp.Expr, chains: list[_Chain]) -> None:
    """Every chain whole again, its waiting terms' columns as their column became in the
    term that stayed for it."""
    for chain in reversed(chains):  # inner chains were thinned after the outer ones
        holder = chain.holder
        if holder.root() is not qualified or not isinstance(holder.this, exp.Expr):
            raise QueryRejected("internal: a condition was lost while resolving columns")
        kind = type(chain.head)
        current = [t for t, _, _ in _terms(holder.this)] if type(holder.this) is kind \
            else [holder.this]
        if len(current) != len(chain.slots):
            raise QueryRejected("internal: a condition changed while resolving columns")
        # Per term that stayed (checked once; many wait for the same one): what its
        # column became, and how to give it to a plain column in place.
        models: dict[int, tuple[exp.Expr, _Qualifiers | None]] = {}
        for term, side, model, model_side in chain.waiting:
            found = models.get(id(model))
            if found is None:
                resolved = model.args.get(model_side)
                if model.root() is not qualified or not isinstance(resolved, exp.Expr):
                    raise QueryRejected("internal: a column was lost while resolving "
                                        "columns")
                found = models[id(model)] = (resolved, _qualifiers(resolved))
            resolved, qualifiers = found
            if qualifiers is None or not _qualify_in_place(term.args[side], qualifiers):
                term.set(side, _clone(resolved))
        for (link, key), term in zip(chain.slots, current, strict=True):
            link.set(key, term)
        holder.replace(chain.head)
