"""How strict a column classification is: one ordering for every part of duckmesh.

``diff`` uses it to tell a relaxed classification from a tightened one; lineage uses it
to give an output the strictest classification of its sources.  Unknown labels rank with
the sensitive ones (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable

RANK: dict[str, int] = {"public": 0, "internal": 1, "confidential": 2, "sensitive": 2,
                        "pii": 3, "pci": 3, "restricted": 4}
UNKNOWN_RANK = 3
# Between labels of equal rank, card data outranks personal data, which outranks others.
_TIE_BREAK = {"pci": 2, "pii": 1}


def rank(label: str | None) -> int:
    """0 (public or unclassified) up to 4 (restricted)."""
    return 0 if label is None else RANK.get(label, UNKNOWN_RANK)


def strictest(labels: Iterable[str | None]) -> str | None:
    """The strictest of ``labels`` (None if there is none), deterministically."""
    present = {label for label in labels if label}
    if not present:
        return None
    return max(present, key=lambda c: (rank(c), _TIE_BREAK.get(c, 0), c))
