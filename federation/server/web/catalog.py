"""Explore, search, domain and product pages.

Discovery is the same for everyone (names, owners, descriptions, schemas: what
``duckmesh products`` shows); reading is not: each product and column says the caller's
own decision, and only readable products show sample rows and a profile, governed for
the caller.  Names in paths are looked up in the catalog, never used as file paths.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from federation.errors import DuckmeshError, UsageError
from federation.server.browse import readable
from federation.server.web import lineage
from federation.server.web import product as facts
from federation.server.web.app import NotFound, Web
from products.contract import Product
from products.discovery import describe

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _classes(product: Product) -> list[str]:
    return sorted({c.classification for c in product.columns if c.classification})


def _card(product: Product, can_read: set[str], match: Any = None) -> dict[str, Any]:
    return {"fqn": product.fqn, "domain": product.domain, "name": product.name,
            "description": product.description or "", "owner": product.owner or "",
            "status": product.status or "", "version": product.version,
            "tags": [str(t) for t in product.tags], "classes": _classes(product),
            "readable": product.fqn in can_read,
            "matched": list(match.reasons) if match is not None else []}


def _domains(web: Web, can_read: set[str]) -> list[dict[str, Any]]:
    mesh = web.mesh
    out = []
    for name in sorted(set(mesh.catalog.domains()) | set(mesh.governance.domains)):
        if name == "meta" and not any(f.startswith("meta.") for f in can_read):
            continue  # duckmesh's own products: listed only to those who may read them
        gov = mesh.governance.domains.get(name)
        file = gov.file if gov is not None and gov.error is None else None
        out.append({"name": name, "description": file.description if file else "",
                    "owner": file.owner if file else "",
                    "broken": str(gov.error) if gov is not None and gov.error else None,
                    "products": sum(p.domain == name for p in mesh.catalog)})
    return out


def _grants(web: Web, domain: str) -> list[dict[str, Any]]:
    """The domain's grants in words."""
    gov = web.mesh.governance.domains.get(domain)
    if gov is None or gov.error is not None:
        return []
    out = []
    for grant in gov.file.grants:
        limits = []
        if grant.row_filter is not None:
            limits.append(f"rows where {grant.row_filter}")
        limits += [f"{c} hidden" for c in grant.deny_columns]
        limits += [f"{c} masked ({m})" for c, m in grant.mask_columns.items()]
        limits += [f"{c} raw for purpose {', '.join(p)}" for c, p in
                   grant.release_columns.items()]
        out.append({"products": ", ".join("every product" if p == "*" else p
                                          for p in grant.products),
                    "who": [*(f"role {r}" for r in grant.roles), *grant.users],
                    "limits": limits})
    return out


def register(app: FastAPI, web: Web) -> None:
    """The catalog's pages."""

    def explore(request: Request, text: str | None) -> Response:
        caller = web.caller(request)
        assert caller is not None
        mesh = web.mesh
        can_read = {a.product.fqn for a in readable(mesh, caller.name)}
        params = request.query_params
        chosen = {k: params.get(k, "") for k in ("domain", "tag", "classification", "status")}
        hits: list[tuple[Product, Any]]
        if text:
            hits = [(m.product, m) for m in mesh.search(text)]
        else:
            hits = [(p, None) for p in mesh.catalog]
        # duckmesh's own products (meta.*) are listed only to those who may read them.
        hits = [(p, m) for p, m in hits if p.domain != "meta" or p.fqn in can_read]
        products = [p for p, _ in hits]
        cards = [_card(p, can_read, m) for p, m in hits
                 if (not chosen["domain"] or p.domain == chosen["domain"])
                 and (not chosen["tag"] or chosen["tag"] in map(str, p.tags))
                 and (not chosen["classification"] or chosen["classification"] in _classes(p))
                 and (not chosen["status"] or (p.status or "") == chosen["status"])]
        options = {
            "domain": sorted({p.domain for p in products}),
            "tag": sorted({str(t) for p in products for t in p.tags}),
            "classification": sorted({c for p in products for c in _classes(p)}),
            "status": sorted({p.status for p in products if p.status})}
        return web.page(request, "explore.html.j2", caller, q=text or "", cards=cards,
                        chosen=chosen, options=options,
                        domains=[] if text else _domains(web, can_read),
                        title=f"Search: {text}" if text else "Explore")

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        return explore(request, request.query_params.get("q") or None)

    @app.get("/search", include_in_schema=False)
    def search(request: Request, q: str = "") -> Response:
        return explore(request, q.strip()[:200] or None)

    @app.get("/domains/{domain}", include_in_schema=False)
    def domain_page(request: Request, domain: str) -> Response:
        caller = web.caller(request)
        assert caller is not None
        from federation.access.decide import owners
        from federation.access.requests import requests

        domain = domain.lower()
        can_read = {a.product.fqn for a in readable(web.mesh, caller.name)}
        known = {d["name"]: d for d in _domains(web, can_read)}
        if not NAME.match(domain) or domain not in known:
            raise NotFound(f"no domain {domain!r}")
        cards = [_card(p, can_read) for p in web.mesh.catalog if p.domain == domain]
        deciders = owners(web.mesh.governance, domain)
        pending = requests(web.mesh.root, domain, status="pending") \
            if caller.name in deciders else []
        return web.page(request, "domain.html.j2", caller, domain=known[domain], cards=cards,
                        grants=_grants(web, domain), owners=deciders, pending=pending,
                        is_owner=caller.name in deciders, title=f"Domain {domain}")

    @app.get("/products/{name}", include_in_schema=False)
    def product_page(request: Request, name: str) -> Response:
        caller = web.caller(request)
        assert caller is not None
        from federation.access.requests import requests

        domain, _, table = name.lower().partition(".")
        if not NAME.match(domain) or not NAME.match(table):
            raise NotFound(f"no product {name!r}")
        mesh = web.mesh
        try:
            found = mesh.catalog.get(f"{domain}.{table}")
        except UsageError:
            raise NotFound(f"no product {domain}.{table}") from None
        if found.domain == "meta" and facts.of(web.service, caller.identity, found) is None:
            raise NotFound(f"no product {found.fqn}")
        access = facts.of(web.service, caller.identity, found)
        info = describe(found, mesh.root, mesh.settings.storage)
        from federation.checks.results import last

        context: dict[str, Any] = {
            "product": found, "info": info, "access": access,
            "columns": facts.columns(found, access),
            "row_filter": access.row_filter.sql(dialect="duckdb")
            if access is not None and access.row_filter is not None else None,
            "row_filter_reason": access.row_filter_reason if access is not None else None,
            "checks": last(mesh.root, found.fqn), "history": facts.history(mesh.root, found),
            "graph": lineage.graph(mesh, found),
            "mine": [r for r in requests(mesh.root, found.domain, requested_by=caller.name)
                     if r.product == found.fqn][-5:],
            "sample": None, "profile": None, "title": found.fqn}
        if access is not None:
            context["sample"] = facts.sample(web.service, caller.identity, found)
            try:
                context["profile"] = facts.profile(web.service, caller.identity, found, access)
            except DuckmeshError as exc:
                context["profile"] = {"error": str(exc), "rows": [], "total": 0}
        return web.page(request, "product.html.j2", caller, **context)
