"""Signing in to the web catalog: with a duckmesh token, or with the configured OIDC
issuer (authorization code flow with PKCE, state and nonce), and signing out.

Both end in the same signed session cookie (:mod:`federation.server.web.session`); the
token or ID token is checked by the service's own authenticator, so a page knows its
caller exactly as the API does.  Failed sign-ins are audited and rate-limited per
address like every failed authentication.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import urllib.parse
import urllib.request
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from federation.errors import AuthenticationFailed, ConfigError
from federation.server.oidc import _loopback
from federation.server.web.app import CsrfRefused, Web, redirect
from federation.server.web.session import (
    OIDC_COOKIE,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    safe_next,
    same_origin,
)

TOKEN_TIMEOUT = 10.0


def _cookie(web: Web, response: Response, name: str, value: str, max_age: int,
            same_site: str = "lax") -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, secure=web.secure,
                        samesite=same_site, path="/")  # type: ignore[arg-type]


def _signed_in(web: Web, principal: str, method: str, subject: str,
               target: str, expires: float | None = None) -> Response:
    cookie, session = web.signer.session_cookie(principal, method, subject, expires)
    response = redirect(safe_next(target))
    _cookie(web, response, SESSION_COOKIE, cookie, max(int(session.expires - time.time()), 1))
    response.delete_cookie(SIGNIN_COOKIE, path="/")
    response.delete_cookie(OIDC_COOKIE, path="/")
    return response


def _endpoint(url: str, what: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "https" and not (parsed.scheme == "http" and _loopback(parsed.hostname)):
        raise ConfigError(f"server.oidc.{what} must be https (or http on a loopback address)")
    return url


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def register(app: FastAPI, web: Web) -> None:
    """The sign-in and sign-out routes."""

    def form_page(request: Request, error: str | None = None, status: int = 200) -> Response:
        nonce = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)
        oidc = web.service.settings.oidc
        response = web.page(request, "signin.html.j2", None, status, title="Sign in",
                            signin_csrf=nonce,
                            next=safe_next(request.query_params.get("next")), error=error,
                            oidc=oidc.issuer if oidc is not None and oidc.sign_in else None)
        _cookie(web, response, SIGNIN_COOKIE, nonce, 3600, "strict")
        return response

    @app.get("/signin", include_in_schema=False)
    def signin_form(request: Request) -> Response:
        return form_page(request)

    @app.post("/signin", include_in_schema=False)
    async def signin(request: Request) -> Response:
        form = await request.form()
        given = str(form.get("csrf") or "")
        expected = request.cookies.get(SIGNIN_COOKIE) or ""
        if not expected or not secrets.compare_digest(given, expected) or \
                not same_origin(request.headers, f"{request.url.scheme}://"
                                f"{request.headers.get('host', '')}"):
            raise CsrfRefused("this sign-in form is out of date or came from another site; "
                              "reload it and try again")
        token = str(form.get("token") or "").strip()
        client = request.client.host if request.client else "unknown"
        try:
            who = await run_in_threadpool(web.service.auth.authenticate, f"Bearer {token}",
                                          client, "http")
        except AuthenticationFailed as exc:
            return form_page(request, f"Sign-in failed: {exc.message}", 401)
        expires = None
        if who.method == "token":
            record = web.service.auth.tokens.records().get(who.subject)
            if record is not None and record.expires:
                from datetime import datetime

                expires = datetime.fromisoformat(record.expires).timestamp()
        return _signed_in(web, who.principal, who.method, who.subject,
                          str(form.get("next") or "/"), expires)

    @app.post("/signout", include_in_schema=False)
    async def signout(request: Request) -> Response:
        caller = web.caller(request, required=False)
        if caller is not None:
            web.check_post(request, caller, await request.form())
        response = redirect("/signin")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/signin/oidc", include_in_schema=False)
    def oidc_start(request: Request) -> Response:
        settings = web.service.settings.oidc
        if settings is None or not settings.sign_in:
            raise ConfigError("signing in with an identity provider is not configured "
                              "(server.oidc client_id and endpoints)")
        assert settings.authorization_endpoint and settings.client_id
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier, challenge = _pkce()
        target = safe_next(request.query_params.get("next"))
        cookie = web.signer.sign("oidc", {"state": state, "nonce": nonce, "v": verifier,
                                          "next": target, "exp": time.time() + 600})
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": settings.client_id,
            "redirect_uri": str(request.url_for("oidc_callback")),
            "scope": " ".join(settings.scopes), "state": state, "nonce": nonce,
            "code_challenge": challenge, "code_challenge_method": "S256"})
        endpoint = _endpoint(settings.authorization_endpoint, "authorization_endpoint")
        response = redirect(endpoint + ("&" if "?" in endpoint else "?") + query)
        _cookie(web, response, OIDC_COOKIE, cookie, 600)
        return response

    @app.get("/signin/oidc/callback", name="oidc_callback", include_in_schema=False)
    def oidc_callback(request: Request) -> Response:
        settings = web.service.settings.oidc
        pending = web.signer.unsign("oidc", request.cookies.get(OIDC_COOKIE))
        state = request.query_params.get("state", "")
        if settings is None or not settings.sign_in or pending is None or \
                not secrets.compare_digest(state, str(pending.get("state", ""))):
            raise CsrfRefused("this sign-in is out of date or was not started here; sign in "
                              "again")
        if request.query_params.get("error"):
            raise AuthenticationFailed("the identity provider refused the sign-in")
        code = request.query_params.get("code", "")
        id_token = _exchange(web, settings, code, str(request.url_for("oidc_callback")),
                             str(pending["v"]))
        client = request.client.host if request.client else "unknown"
        who = web.service.auth.authenticate(f"Bearer {id_token}", client, "http")
        claims = _claims(id_token)
        if claims.get("nonce") != pending.get("nonce"):
            raise AuthenticationFailed("the ID token does not answer this sign-in (nonce)")
        return _signed_in(web, who.principal, "oidc", who.subject,
                          str(pending.get("next") or "/"), float(claims.get("exp", 0)) or None)


def _exchange(web: Web, settings: Any, code: str, redirect_uri: str, verifier: str) -> str:
    """The ID token for an authorization code (the token endpoint, server to server)."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": settings.client_id, "code_verifier": verifier}
    if settings.client_secret_file:
        from pathlib import Path

        path = Path(settings.client_secret_file)
        path = path if path.is_absolute() else web.mesh.root / path
        try:
            form["client_secret"] = path.read_text().strip()
        except OSError:
            raise ConfigError("server.oidc.client_secret_file is unreadable") from None
    request = urllib.request.Request(  # noqa: S310 - https or loopback only, checked
        _endpoint(settings.token_endpoint, "token_endpoint"),
        data=urllib.parse.urlencode(form).encode(), method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TOKEN_TIMEOUT) as answer:  # noqa: S310
            body = json.loads(answer.read(1 << 20))
    except (OSError, ValueError):
        raise AuthenticationFailed("the identity provider's token endpoint did not answer "
                                   "with tokens") from None
    token = body.get("id_token") if isinstance(body, dict) else None
    if not isinstance(token, str):
        raise AuthenticationFailed("the identity provider sent no ID token")
    return token


def _claims(token: str) -> dict[str, Any]:
    """The claims of a JWT the authenticator has just verified."""
    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})
    return claims if isinstance(claims, dict) else {}

