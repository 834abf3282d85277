"""Completion for the shell: the domains, products, columns and functions the caller may
use, SQL keywords, and dot-commands.

Only what the caller may see is offered: products they hold a grant for, the columns of
those products that are visible to them (allowed or masked), and the functions the
allow-list lets through.  The names are worked out once per session (:class:`Names`);
:func:`candidates` is plain Python, testable without a terminal, and
:class:`MeshCompleter` wraps it for prompt_toolkit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from federation.errors import DuckmeshError

if TYPE_CHECKING:
    from federation.mesh import Mesh

KEYWORDS = ("SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "HAVING", "LIMIT", "JOIN",
            "LEFT JOIN", "INNER JOIN", "ON", "USING", "AS", "WITH", "WITH RECURSIVE", "UNION",
            "UNION ALL", "EXCEPT", "INTERSECT", "DISTINCT", "CASE", "WHEN", "THEN", "ELSE",
            "END", "AND", "OR", "NOT", "IN", "IS NULL", "IS NOT NULL", "BETWEEN", "LIKE",
            "ILIKE", "QUALIFY", "WINDOW", "OVER", "PARTITION BY", "PIVOT", "UNPIVOT",
            "DESCRIBE", "SUMMARIZE", "ASC", "DESC", "NULLS LAST", "GROUP BY ALL",
            "ORDER BY ALL")


@dataclass(frozen=True)
class Names:
    """What the session's user may name: products with their visible columns, and
    functions."""

    products: dict[str, tuple[str, ...]] = field(default_factory=dict)
    functions: tuple[str, ...] = ()

    @property
    def domains(self) -> list[str]:
        """The domains of the readable products."""
        return sorted({fqn.split(".")[0] for fqn in self.products})


def names_for(mesh: Mesh, user: str, purpose: str | None = None) -> Names:
    """The products ``user`` may read (with their visible columns) and the functions the
    allow-list allows."""
    from federation.governance.access import evaluate

    principal = mesh.governance.principal(user)
    products: dict[str, tuple[str, ...]] = {}
    for product in mesh.catalog:
        try:
            access = evaluate(mesh.governance, principal, product, purpose)
        except DuckmeshError:
            continue  # no grant: not offered
        products[product.fqn] = tuple(c.column.name for c in access.columns if c.visible)
    return Names(products, _functions())


def _functions() -> tuple[str, ...]:
    try:
        from federation.pipeline.functions import ALLOWED
    except ImportError:  # an allow-list without a name table offers none
        return ()
    return tuple(sorted(name.lower() for name in ALLOWED))


_WORD = re.compile(r"[A-Za-z0-9_.]*$")


def candidates(names: Names, text_before_cursor: str) -> list[str]:
    """The completions of the word before the cursor, best first."""
    word = _WORD.search(text_before_cursor)
    prefix = word.group(0) if word else ""
    stripped = text_before_cursor.lstrip()
    if stripped.startswith(".") and " " not in stripped:
        from federation.shell.dot import NAMES

        return [n for n in NAMES if n.startswith(stripped.lower())]
    if stripped.startswith(".schema ") and "." not in prefix:
        return [f"{d}." for d in names.domains if d.startswith(prefix.lower())]
    lowered = prefix.lower()
    if "." in prefix:
        head, _, tail = lowered.rpartition(".")
        if head in names.domains:  # domain.<product>
            return [fqn for fqn in names.products
                    if fqn.startswith(f"{head}.") and fqn.split(".")[1].startswith(tail)]
        return _columns_after(names, text_before_cursor, head, tail, prefix)
    if not prefix:
        return []
    found: list[str] = [f"{d}." for d in names.domains if d.startswith(lowered)]
    found += [c for c in _columns_in_play(names, text_before_cursor) if c.lower()
              .startswith(lowered)]
    found += [f"{f}(" for f in names.functions if f.startswith(lowered)]
    found += [k for k in KEYWORDS if k.lower().startswith(lowered)]
    return list(dict.fromkeys(found))


def _named_products(names: Names, text: str) -> dict[str, str]:
    """Products named in ``text``, by alias (and by their own name)."""
    found: dict[str, str] = {}
    for match in re.finditer(r"\b([A-Za-z_]\w*\.[A-Za-z_]\w*)(?:\s+(?:AS\s+)?([A-Za-z_]\w*))?",
                             text, re.IGNORECASE):
        fqn = match.group(1).lower()
        if fqn in names.products:
            found[fqn.split(".")[1]] = fqn
            alias = match.group(2)
            if alias and alias.upper() not in {k.split()[0] for k in KEYWORDS}:
                found[alias.lower()] = fqn
    return found


def _columns_in_play(names: Names, text: str) -> Iterable[str]:
    """Columns of the products the statement names so far (all readable ones if none)."""
    named = set(_named_products(names, text).values())
    for fqn, columns in names.products.items():
        if not named or fqn in named:
            yield from columns


def _columns_after(names: Names, text: str, head: str, tail: str, prefix: str) -> list[str]:
    """``alias.<column>``: the visible columns of the product behind ``alias``."""
    fqn = _named_products(names, text).get(head)
    if fqn is None:
        return []
    start = prefix[:len(prefix) - len(tail)]
    return [start + c for c in names.products[fqn] if c.lower().startswith(tail)]


class MeshCompleter(Completer):
    """prompt_toolkit completion over :func:`candidates`."""

    def __init__(self, names: Names) -> None:
        self.names = names

    def get_completions(self, document: Document,
                        complete_event: CompleteEvent) -> Iterator[Completion]:
        """Completions replacing the word before the cursor."""
        before = document.text_before_cursor
        word = _WORD.search(before)
        length = len(word.group(0)) if word else 0
        if before.lstrip().startswith(".") and " " not in before.lstrip():
            length = len(before.lstrip())
        for text in candidates(self.names, before):
            yield Completion(text, start_position=-length)
