"""What a derived product's sources' grants carry to its readers.

A grant is a domain's rule about a reader (``mask_columns``, ``deny_columns``,
``row_filter``), not a label of the data: label tightening
(:mod:`federation.governance.derived`) does not carry it into the products computed
from the domain's data.  These checks do, for :func:`federation.governance.access.evaluate`:
a column whose source a reader's grant masks or denies is denied
(:func:`source_restriction`), and a reader whose grant at a source filters its rows reads
the derived product only through a row-filtered grant of its own
(:func:`source_row_filter`).  What cannot be checked (unreadable lineage, a broken
source domain file, a source grant that does not apply) denies: fail closed.
"""

from __future__ import annotations

from federation.governance.grants import Grant, grant_problems
from federation.governance.model import Governance, Principal
from products.contract import Column, Product

ROW_FILTER_NEEDED = "can add a row_filter to"
"""The words of the hint of a denial :func:`source_row_filter` decides (the access guide
asks the owners for a row-filtered grant rather than offering a plain request)."""


def grant_index(grants: list[Grant], principal: Principal, name: str) -> int | None:
    """The first grant of a domain that covers product ``name`` for ``principal``."""
    roles = set(principal.roles)
    # Named users match only principals of principals.yaml: an unknown name is nobody.
    user = principal.name if principal.known else None
    return next((i for i, g in enumerate(grants)
                 if g.covers(name) and (roles & set(g.roles) or
                                        (user is not None and user in g.users))), None)


def _source_grant(governance: Governance, principal: Principal,
                  source_fqn: str) -> tuple[Grant, str] | str | None:
    """The grant of ``principal`` at source ``source_fqn`` and where it is written; None
    if they have none there; a fail-closed reason (str) when it cannot be known: the
    source's domain file is broken, or the grant that would apply does not (a typo in
    deny_columns, a broken row filter: the source refuses the reader, and a restriction
    it meant must not fall away through the derived product either)."""
    domain_name, _, name = source_fqn.partition(".")
    domain = governance.domains.get(domain_name)
    upstream = governance.derived_sources.products.get(source_fqn)
    if domain is None or upstream is None:  # resolved from the catalog: cannot happen
        return f"its source {source_fqn}, whose domain or contract is unknown (fail closed)"
    if domain.error is not None:
        return f"its source {source_fqn}, whose domain file is broken (fail closed)"
    index = grant_index(domain.file.grants, principal, name)
    if index is None:
        return None
    grant = domain.file.grants[index]
    where = domain.source or f"domains/{domain_name}/domain.yaml grant {index + 1}"
    problems = grant_problems(grant, domain.row_filters[index], upstream)
    if problems:
        return (f"its source {source_fqn}, whose grant {where} does not apply "
                f"({problems[0][0]}: {problems[0][1]}; fail closed)")
    return grant, where


def source_restriction(governance: Governance, principal: Principal, product: Product,
                        column: Column) -> tuple[str, tuple[str, str] | None] | None:
    """Why ``column`` of a derived product is denied to ``principal`` by a grant at one of
    its sources, and the source column whose grant decided it (None when no grant can
    lift it: fail closed); None if nothing at the sources restricts it.

    A grant that masks or denies a source column to a reader (``mask_columns``,
    ``deny_columns``: a domain's rule, not a classification) holds in every product
    computed from that column: the reader sees the derived column only if their grant at
    each source shows it in clear.  A mask is not re-applied to a computed value (a year
    of a date, once summed, is no year): the column is denied.  A reader with no grant
    at a source is governed by the derived product's own grants, as its publisher
    shared it.  Denied too (fail closed): lineage that cannot be read or resolved (see
    :func:`federation.governance.derived.source_columns`), a source whose domain file is
    broken, and a source grant that would apply but does not (``grant_problems``).
    """
    derived = governance.derived_sources
    for source_fqn, source_column in derived.of(product.fqn, column.name):
        if source_fqn == "?":
            return (f"its recorded lineage, which cannot be read ({product.fqn}."
                    f"{column.name}: {source_column}; fail closed)", None)
        found = _source_grant(governance, principal, source_fqn)
        if isinstance(found, str):
            return found, None
        if found is None:
            continue
        grant, where = found
        if source_column in {c.lower() for c in grant.deny_columns}:
            return (f"its source {source_fqn}.{source_column}, which {where} "
                    "(deny_columns) denies you", (source_fqn, source_column))
        if source_column in {c.lower() for c in grant.mask_columns}:
            return (f"its source {source_fqn}.{source_column}, which {where} "
                    "(mask_columns) masks for you (a derived value cannot carry the mask)",
                    (source_fqn, source_column))
    return None


def source_row_filter(governance: Governance, principal: Principal, product: Product,
                      grant: Grant) -> str | None:
    """Why ``principal`` may not read the derived ``product`` through ``grant`` (their grant
    of its own domain) because a source filters their rows; None if nothing does.

    A row filter says which rows of a source a reader may see; the derived product's
    rows were computed from the rows its publisher saw, and no filter on the source's
    columns can be re-applied to them.  So a reader filtered at any source (at any depth)
    reads the product only through a grant with a ``row_filter`` of its own: its owners
    decide which of its rows stand for the rows the reader may see.  A reader with no
    grant at a source is governed by the product's own grants, as its publisher shared
    it.  Sources that cannot be read or checked deny (fail closed).
    """
    if grant.row_filter is not None:
        return None
    for source_fqn in governance.derived_sources.reads_of(product.fqn):
        if source_fqn.startswith("?"):
            return f"its recorded sources, which cannot be read ({source_fqn[1:].strip()}; " \
                   "fail closed)"
        found = _source_grant(governance, principal, source_fqn)
        if isinstance(found, str):
            return found
        if found is None:
            continue
        source_grant, where = found
        if source_grant.row_filter is not None:
            return (f"its source {source_fqn} is row-filtered for you ({where}: "
                    f"{source_grant.row_filter}), and a derived product cannot carry the "
                    "filter")
    return None
