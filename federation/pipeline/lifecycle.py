"""Step 4: each product's lifecycle status — who may read it, and what the reader is told.

A contract's ``status`` moves draft → active → deprecated → retired (``duckmesh products
status``).  A draft (or ``proposed``) product is readable only by its domain's owners: it
is not published yet.  A deprecated one is read with a warning naming its replacement and
sunset date; a retired one is refused (exit 4), naming the replacement.  A status this
step does not know is refused: a typo such as ``activ`` must not publish a product.
"""

from __future__ import annotations

import dataclasses

from federation.errors import AccessDenied, ContractError
from federation.pipeline.query import Context, GovernedQuery
from products.contract import Product

UNPUBLISHED = ("draft", "proposed")
READABLE = ("active", "deprecated")
STATUSES = (*UNPUBLISHED, *READABLE, "retired")
"""Every status duckmesh understands, in lifecycle order (ODCS v3's own values)."""

REPLACEMENT = "duckmesh.replacement"
SUNSET = "duckmesh.sunset"


def status_of(product: Product) -> str:
    """The product's status as written; a contract without one is ``active`` (ODCS
    before v3 had no status).  Not normalised: like a label, ``Draft`` or ``active `` is
    another word, refused rather than guessed."""
    return "active" if product.status is None else str(product.status)


def successor(product: Product, *, retired: bool = False) -> str:
    """`` Use X instead, it sunsets on D.``, from the contract's customProperties."""
    replacement, sunset = product.custom(REPLACEMENT), product.custom(SUNSET)
    text = f" Use {replacement} instead" if replacement else ""
    if sunset and not retired:
        text += f"{', it' if text else ' It'} sunsets on {sunset}"
    return f"{text}." if text else ""


def lifecycle(query: GovernedQuery, ctx: Context) -> GovernedQuery:
    """Refuse retired products, and drafts to anyone but their domain's owners; warn on
    deprecated ones."""
    warnings = list(query.warnings)
    for fqn in query.products:
        product = ctx.catalog.get(fqn)
        status = status_of(product)
        if status not in STATUSES:
            raise ContractError(f"{fqn} has status {product.status!r}, which duckmesh does "
                                "not know; it is not readable", product=fqn,
                                hint="status is one of " + ", ".join(STATUSES))
        if status == "retired":
            raise ContractError(f"{fqn} is retired.{successor(product, retired=True)}",
                                product=fqn)
        if status in UNPUBLISHED and ctx.principal.name not in \
                ctx.governance.owners(product.domain):
            raise AccessDenied(f"{fqn} is a {status}: only the owners of {product.domain} "
                               "read it until they make it active", product=fqn,
                               hint=f"an owner runs `duckmesh products status {fqn} active`")
        if status == "deprecated":
            warnings.append(f"{fqn} is deprecated.{successor(product)}")
        warnings += _retired_sources(ctx, fqn)
    return dataclasses.replace(query, warnings=tuple(warnings))


def _retired_sources(ctx: Context, fqn: str) -> list[str]:
    """A warning per retired product a derived product is computed from (at any depth):
    its data stays what the source held at the last refresh, and no refresh can read
    the source again — its readers and owners should know."""
    # The recorded upstreams, not the columns' lineage: a product computed from no
    # column of its source (``SELECT count(*) … FROM source``) has none, and was served
    # without a word.  ``"? why"`` marks an upstream that cannot be resolved (access
    # refuses it).
    found = sorted({source for source in ctx.governance.derived_sources.reads_of(fqn)
                    if not source.startswith("?")})
    return [f"{fqn} is derived from {source}, which is retired: its data is what "
            f"{source} held at its last refresh.{successor(upstream, retired=True)}"
            for source in found
            if (upstream := ctx.catalog.products.get(source)) is not None
            and status_of(upstream) == "retired"]
