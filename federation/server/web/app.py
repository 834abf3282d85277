"""The web catalog's plumbing: who is asking, rendering with security headers, errors as
pages, and mounting every page on the service's FastAPI app.

A page's caller comes from ``Authorization: Bearer TOKEN`` (scripts, tests) or from the
signed session cookie; a user named anywhere else is refused, as on the API.  Pages
without a caller redirect to ``/signin``.  Every page is rendered by the theme's Jinja2
environment (autoescaping) and answered with a strict Content-Security-Policy (only this
server's stylesheet and script; no inline script; ``frame-ancestors 'none'``).
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from federation.errors import AuthenticationFailed, DuckmeshError, UsageError
from federation.mesh import Mesh
from federation.server.auth import Identity
from federation.server.errors import http_status
from federation.server.flight import REFUSED_HEADERS
from federation.server.service import Service
from federation.server.web.session import (
    SESSION_COOKIE,
    Session,
    Signer,
    load_secret,
    same_origin,
)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
           "Cross-Origin-Opener-Policy": "same-origin", "Cache-Control": "no-store"}
STATIC = {"duckmesh.css": ("federation.theme", "text/css; charset=utf-8"),
          "catalog.js": ("federation.server.web", "text/javascript; charset=utf-8")}
API_PREFIXES = ("/v1/", "/healthz", "/metrics", "/openapi.json")


class SignInNeeded(Exception):
    """The page needs a signed-in caller: go to /signin and come back."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


class NotFound(DuckmeshError):
    """No such page (a product, domain, report or request that does not exist)."""


class CsrfRefused(DuckmeshError, PermissionError):
    """A POST without this session's CSRF token, or from another site."""


@dataclass
class Caller:
    """The identity of a page's caller, and their browser session (None for Bearer)."""

    identity: Identity
    session: Session | None

    @property
    def name(self) -> str:
        return self.identity.principal


class Web:
    """Everything the pages share: the service, templates, the signing key."""

    def __init__(self, service: Service) -> None:
        from federation.theme import environment

        self.service = service
        self.env = environment("federation.server.web")
        self.signer = Signer(load_secret(service.mesh.root))
        self.secure = bool(service.settings.tls_cert)

    @property
    def mesh(self) -> Mesh:
        return self.service.mesh

    def reload(self) -> None:
        """Re-read contracts and governance after this server changed them (an approval),
        keeping the service's engine and server settings, as SIGHUP does."""
        fresh = Mesh.open(self.mesh.root)
        self.service.mesh = dataclasses.replace(fresh, settings=fresh.settings.model_copy(
            update={"engine": self.mesh.settings.engine, "server": self.service.settings}))

    # -- who is asking ----------------------------------------------------------------

    def caller(self, request: Request, *, required: bool = True) -> Caller | None:
        """The page's caller: the bearer token, else the session cookie."""
        if any(h in request.headers for h in REFUSED_HEADERS) or \
                any(k.lower() in ("user", "username") for k in request.query_params):
            raise UsageError("a client cannot choose its user: your identity comes from your "
                             "sign-in or token")
        client = request.client.host if request.client else "unknown"
        header = request.headers.get("authorization")
        if header:
            who = self.service.auth.authenticate(header, client, "http")
            return Caller(dataclasses.replace(who, protocol="web"), None)
        session = self.signer.session(request.cookies.get(SESSION_COOKIE))
        if session is not None and self._still_valid(session):
            return Caller(Identity(session.principal, session.method, session.subject, client,
                                   "web"), session)
        if required:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInNeeded(target)
        return None

    def _still_valid(self, session: Session) -> bool:
        if session.principal not in self.mesh.governance.principals.users:
            return False
        if session.method == "token":
            record = self.service.auth.tokens.records().get(session.subject)
            return record is not None and record.user == session.principal and \
                record.status() == "active"
        return session.method == "oidc"

    def check_post(self, request: Request, caller: Caller, form: Any) -> None:
        """CSRF: a session's POST carries its token and comes from this site (a bearer
        token is no ambient credential: a browser never sends one by itself)."""
        if caller.session is None:
            return
        if not same_origin(request.headers, base_url(request)) or \
                not self.signer.csrf_ok(caller.session, form.get("csrf")):
            raise CsrfRefused("this form is out of date or came from another site; reload "
                              "the page and try again")

    # -- answers ----------------------------------------------------------------------

    def page(self, request: Request, template: str, caller: Caller | None,
             status: int = 200, **context: Any) -> Response:
        """Render ``template`` for ``caller`` with the shared context."""
        from federation.access.decide import owned_domains

        who = caller.name if caller else None
        principal = self.mesh.governance.principal(who) if who else None
        values = {
            "who": who, "roles": list(principal.roles) if principal else [],
            "csrf": self.signer.csrf(caller.session) if caller and caller.session else "",
            "path": request.url.path, "owns": owned_domains(self.mesh.governance, who)
            if who else [], "mesh_name": self.mesh.settings.name, "notice": None,
            "bearer": caller is not None and caller.session is None, **context}
        html = self.env.get_template(template).render(**values)
        return finish(HTMLResponse(html, status_code=status))


def finish(response: Response) -> Response:
    """``response`` with the security headers every page carries."""
    for key, value in HEADERS.items():
        response.headers.setdefault(key, value)
    return response


def base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def redirect(target: str) -> Response:
    return finish(RedirectResponse(target, status_code=303))


def is_page(path: str) -> bool:
    return not path.startswith(API_PREFIXES)


def mount(app: FastAPI, service: Service) -> None:
    """Add the catalog's pages to the service's app."""
    from federation.server.web import access_pages, catalog, report_pages, signin

    web = Web(service)
    app.state.web = web
    api_errors = app.exception_handlers.get(DuckmeshError)

    async def errors(request: Request, exc: Exception) -> Response:
        if not is_page(request.url.path) and api_errors is not None:
            result = api_errors(request, exc)
            return await result if isinstance(result, Awaitable) else result
        assert isinstance(exc, DuckmeshError)
        status = 404 if isinstance(exc, NotFound) else 403 if isinstance(exc, CsrfRefused) \
            else http_status(exc)
        caller = None
        if not isinstance(exc, AuthenticationFailed):
            try:
                caller = web.caller(request, required=False)
            except DuckmeshError:
                caller = None
        response = web.page(request, "error.html.j2", caller, status, error=exc,
                            title={401: "Sign-in failed", 403: "Not allowed",
                                   404: "Not found"}.get(status, "Something went wrong"))
        if isinstance(exc, AuthenticationFailed):
            response.headers["WWW-Authenticate"] = 'Bearer realm="duckmesh"'
        return response

    async def sign_in_first(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInNeeded)
        return redirect("/signin?" + urllib.parse.urlencode({"next": exc.target}))

    app.add_exception_handler(DuckmeshError, errors)
    app.add_exception_handler(SignInNeeded, sign_in_first)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC:
            raise NotFound("no such file")
        package, media = STATIC[name]
        body = resources.files(package).joinpath("static", name).read_bytes()
        response = finish(Response(body, media_type=media))
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    for module in (signin, catalog, access_pages, report_pages):
        register: Callable[[FastAPI, Web], None] = module.register
        register(app, web)
