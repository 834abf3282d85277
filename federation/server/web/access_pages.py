"""My access, and access requests: ask (a form), see mine, and — for a domain's owners —
approve or deny.

The form writes the same request files as ``duckmesh access request``
(:mod:`federation.access`); approving writes the grant, reloads governance at once, and
the requester's next query (or page) follows it.  Every POST here needs the session's
CSRF token.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from federation.access.decide import decide, owned_domains
from federation.access.proposal import in_words
from federation.access.requests import AccessRequest, create, find, requests
from federation.errors import DuckmeshError, UsageError
from federation.server.browse import access_of, readable
from federation.server.web.app import Caller, NotFound, Web, redirect

REQUEST_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")


def _my_access(web: Web, user: str) -> list[dict[str, Any]]:
    out = []
    for access in readable(web.mesh, user):
        product = access.product
        columns = [{"name": c.column.name, "classification": c.column.classification or "",
                    "action": c.action, "method": c.method, "reason": c.reason}
                   for c in access.columns]
        out.append({"fqn": product.fqn, "description": product.description or "",
                    "grant": access.grant, "columns": columns,
                    "row_filter": access.row_filter.sql(dialect="duckdb")
                    if access.row_filter is not None else None,
                    "row_filter_reason": access.row_filter_reason,
                    "clear": sum(c.action == "allow" for c in access.columns),
                    "masked": sum(c.action == "mask" for c in access.columns),
                    "hidden": sum(c.action == "deny" for c in access.columns)})
    return out


def _session(caller: Caller) -> dict[str, str]:
    return caller.identity.session()


def register(app: FastAPI, web: Web) -> None:
    """``/access`` and ``/requests``."""

    @app.get("/access", include_in_schema=False)
    def my_access(request: Request) -> Response:
        caller = web.caller(request)
        assert caller is not None
        principal = web.mesh.governance.principal(caller.name)
        return web.page(request, "access.html.j2", caller, products=_my_access(web, caller.name),
                        attributes=principal.attributes, title="My access")

    def listing(request: Request, caller: Caller, status: int = 200, **extra: Any) -> Response:
        root = web.mesh.root
        owned = owned_domains(web.mesh.governance, caller.name)
        to_decide = [r for d in owned for r in requests(root, d, status="pending")]
        decided = [r for d in owned for r in requests(root, d) if r.status != "pending"][-20:]
        mine = list(reversed(requests(root, requested_by=caller.name)))
        return web.page(request, "requests.html.j2", caller, status, mine=mine,
                        to_decide=to_decide, decided=list(reversed(decided)), owned=owned,
                        title="Access requests", **extra)

    @app.get("/requests", include_in_schema=False)
    def requests_page(request: Request) -> Response:
        caller = web.caller(request)
        assert caller is not None
        created = request.query_params.get("created", "")
        done = request.query_params.get("decided", "")
        notice = None
        for key, verb in ((created, "sent"), (done, "decided")):
            if REQUEST_ID.match(key):
                try:
                    found = find(web.mesh.root, key)
                except DuckmeshError:
                    continue
                if caller.name in (found.requested_by, found.decided_by):
                    notice = found if verb == "sent" else None
                    if verb == "decided":
                        return listing(request, caller, decided_now=found)
        return listing(request, caller, created_now=notice)

    def form(request: Request, caller: Caller, name: str, chosen: list[str], purpose: str,
             reason: str, error: str | None = None, status: int = 200) -> Response:
        mesh = web.mesh
        try:
            product = mesh.catalog.get(name)
        except UsageError:
            raise NotFound(f"no product {name!r}") from None
        access = access_of(mesh, caller.name, product)
        columns = [{"name": c.name, "classification": c.classification or "",
                    "now": in_words(access.column(c.name) if access else None),
                    "checked": c.name in chosen} for c in product.columns]
        purposes = mesh.governance.policies.purposes
        return web.page(request, "request_form.html.j2", caller, status, product=product,
                        columns=columns, purposes=purposes, purpose=purpose, reason=reason,
                        readable=access is not None, error=error,
                        title=f"Request access to {product.fqn}")

    @app.get("/requests/new", include_in_schema=False)
    def request_form(request: Request, product: str = "", column: str = "") -> Response:
        caller = web.caller(request)
        assert caller is not None
        chosen = [column] if column else []
        return form(request, caller, product.lower()[:130], chosen, "", "")

    @app.post("/requests", include_in_schema=False)
    async def request_post(request: Request) -> Response:
        caller = web.caller(request)
        assert caller is not None
        fields = await request.form()
        web.check_post(request, caller, fields)
        name = str(fields.get("product") or "")[:130]
        chosen = [str(c) for c in fields.getlist("columns")][:500]
        purpose, reason = str(fields.get("purpose") or ""), str(fields.get("reason") or "")
        try:
            created: AccessRequest = await run_in_threadpool(
                create, web.mesh, caller.name, name, chosen, purpose, reason, via="web")
        except UsageError as exc:
            return form(request, caller, name, chosen, purpose, reason, str(exc), 400)
        return redirect(f"/requests?created={created.id}")

    async def decision(request: Request, request_id: str, approve: bool) -> Response:
        caller = web.caller(request)
        assert caller is not None
        fields = await request.form()
        web.check_post(request, caller, fields)
        if not REQUEST_ID.match(request_id):
            raise NotFound(f"no access request {request_id!r}")
        note = str(fields.get("note") or "")
        decided = await run_in_threadpool(decide, web.mesh, request_id, caller.name, approve,
                                          note, session=_session(caller))
        if approve:
            await run_in_threadpool(web.reload)
        return redirect(f"/requests?decided={decided.id}")

    @app.post("/requests/{request_id}/approve", include_in_schema=False)
    async def approve(request: Request, request_id: str) -> Response:
        return await decision(request, request_id, True)

    @app.post("/requests/{request_id}/deny", include_in_schema=False)
    async def deny(request: Request, request_id: str) -> Response:
        return await decision(request, request_id, False)
