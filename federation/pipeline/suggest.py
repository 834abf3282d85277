"""Did-you-mean: the nearest name among those the caller may see.

Suggestions are drawn only from names the caller is allowed to know (visible columns,
products granted to them, allowed functions): a suggestion must never reveal a hidden
column or a product the caller cannot read.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The nearest of ``known`` to ``word`` (case-insensitive), or None if none is close."""
    names = {k.lower(): k for k in known}
    found = difflib.get_close_matches(word.lower(), list(names), n=1, cutoff=cutoff)
    return names[found[0]] if found else None


def did_you_mean(word: str, known: Iterable[str], cutoff: float = 0.6) -> str:
    """``"; did you mean X?"`` for the nearest of ``known``, or ``""``."""
    found = closest(word, known, cutoff)
    return f"; did you mean {found}?" if found and found.lower() != word.lower() else ""
