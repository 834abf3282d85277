"""Denials that lead somewhere: an :class:`AccessDenied` about a product, completed with
whom to ask (the owner named by the product's contract) and the command that asks.

Interfaces (the CLI, the shell, the notebook magic) pass the denials they show through
:func:`guided`; the request itself is :mod:`federation.access.requests`.
"""

from __future__ import annotations

import dataclasses
import shlex
from typing import TYPE_CHECKING, Any

from federation.errors import AccessDenied, DuckmeshError
from federation.governance.carried import ROW_FILTER_NEEDED

if TYPE_CHECKING:
    from products.catalog import Catalog
    from products.contract import Product

# Denials an access request cannot cure: a broken governance file, a budget, lineage
# or a source grant that cannot be checked.
_NOT_REQUESTABLE = ("duckmesh validate", "budget", "fail closed")


def owner_contact(product: Product) -> str:
    """Who answers for ``product``: its contract's owner team and, where the contract
    lists them, its support channels (``support: [{channel, url}]`` in ODCS)."""
    owner = product.owner or f"the owners of domain {product.domain}"
    channels = []
    support = product.raw.get("support")
    for entry in support if isinstance(support, list) else []:
        if isinstance(entry, dict):
            where = entry.get("url") or entry.get("email")
            if isinstance(where, str) and where:
                channels.append(where)
    return owner + (f" ({', '.join(channels[:2])})" if channels else "")


def request_command(product: str, columns: list[str] | None = None,
                    purpose: str | None = None) -> str:
    """The ``duckmesh access request`` command line asking for ``product``'s ``columns``."""
    words = ["duckmesh", "access", "request", product]
    if columns:
        words += ["--columns", ",".join(columns)]
    words += ["--purpose", purpose or "PURPOSE", "--reason", "TEXT"]
    return " ".join(w if w in ("PURPOSE", "TEXT") else shlex.quote(w) for w in words)


def guided(exc: BaseException, catalog: Catalog, purpose: str | None = None) -> Any:
    """``exc`` itself, or, for a denial of a product a request could open, a copy whose
    hint names the product's owner and the ``duckmesh access request`` command."""
    if not isinstance(exc, AccessDenied) or not exc.product:
        return exc
    if any(word in (exc.hint or "") + exc.message for word in _NOT_REQUESTABLE):
        return exc
    # A derived column denied by a grant at its source: only the source's owners can
    # lift it (a grant of the derived product's domain cannot).
    fqn, column = exc.decided_by or (exc.product, exc.column)
    try:
        product = catalog.get(fqn)
    except DuckmeshError:
        return exc  # meta.audit or a name that is not a contract: nobody to ask
    columns = [column] if column else None
    if ROW_FILTER_NEEDED in (exc.hint or ""):
        # An approved request copies the requester's grant, which has no row filter: only
        # a grant the owners write with one opens the product (governance/carried.py).
        ask = f"ask {owner_contact(product)}"
    else:
        ask = (f"ask {owner_contact(product)}: "
               f"`{request_command(product.fqn, columns, purpose)}`")
    hint = f"{exc.hint}; {ask}" if exc.hint else ask
    return dataclasses.replace(exc, hint=hint)
