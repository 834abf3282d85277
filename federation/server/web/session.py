"""Signed session cookies and CSRF tokens for the web catalog.

A session is a signed (HMAC-SHA256), HttpOnly, SameSite=Lax cookie naming the principal,
how they signed in (a duckmesh token's id, or the IdP's subject) and when it ends (8 hours
at most; an OIDC session no later than its ID token).  Nothing in it is secret, and it
cannot be forged without the key in ``.duckmesh/web-secret`` (created 0600 on first
start).  A token session ends when its token is revoked or expires.

Every POST made with a session cookie carries a CSRF token (a hidden field): an HMAC of
the session's id, so it cannot be guessed or reused across sessions, and the request's
``Origin`` (or ``Referer``), when sent, must be this server.  The sign-in form, before any
session, uses a random double-submit cookie instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SESSION_COOKIE = "duckmesh_session"
SIGNIN_COOKIE = "duckmesh_signin"
OIDC_COOKIE = "duckmesh_oidc"
MAX_AGE = 8 * 3600
SECRET_FILE = ".duckmesh/web-secret"  # noqa: S105 - a path, not a secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_secret(root: Path) -> bytes:
    """The mesh's web signing key, made on first use (0600)."""
    path = root / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return bytes.fromhex(key)


@dataclass(frozen=True)
class Session:
    """A signed-in browser."""

    principal: str
    method: str
    subject: str
    expires: float
    sid: str


class Signer:
    """Signs and checks cookie values and CSRF tokens with one key."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def _mac(self, purpose: str, data: bytes) -> bytes:
        return hmac.new(self.key, purpose.encode() + b"\0" + data, hashlib.sha256).digest()

    def sign(self, purpose: str, value: dict[str, Any]) -> str:
        data = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(data)}.{_b64(self._mac(purpose, data))}"

    def unsign(self, purpose: str, text: str | None) -> dict[str, Any] | None:
        """The value of a cookie signed for ``purpose``, or None (absent, forged, expired)."""
        if not text or text.count(".") != 1 or len(text) > 4096:
            return None
        body, mac = text.split(".")
        try:
            data, given = _unb64(body), _unb64(mac)
        except ValueError:
            return None
        if not hmac.compare_digest(given, self._mac(purpose, data)):
            return None
        try:
            value = json.loads(data)
        except ValueError:
            return None
        if not isinstance(value, dict) or float(value.get("exp", 0)) < time.time():
            return None
        return value

    def session_cookie(self, principal: str, method: str, subject: str,
                       expires: float | None = None) -> tuple[str, Session]:
        ends = min(expires or time.time() + MAX_AGE, time.time() + MAX_AGE)
        session = Session(principal, method, subject, ends, secrets.token_hex(16))
        value = {"p": principal, "m": method, "s": subject, "exp": ends, "sid": session.sid}
        return self.sign("session", value), session

    def session(self, cookie: str | None) -> Session | None:
        value = self.unsign("session", cookie)
        if value is None:
            return None
        try:
            return Session(str(value["p"]), str(value["m"]), str(value["s"]),
                           float(value["exp"]), str(value["sid"]))
        except (KeyError, TypeError, ValueError):
            return None

    def csrf(self, session: Session) -> str:
        """The CSRF token of ``session``'s forms."""
        return _b64(self._mac("csrf", session.sid.encode()))[:32]

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf(session))


def same_origin(headers: Any, base: str) -> bool:
    """False if the request says it comes from another site (``Origin``, else ``Referer``);
    True when it names this server or says nothing (the CSRF token is checked anyway)."""
    origin = headers.get("origin")
    if origin:
        return bool(origin.rstrip("/") == base.rstrip("/"))
    referer = headers.get("referer")
    if referer:
        return bool(referer == base.rstrip("/") or referer.startswith(base.rstrip("/") + "/"))
    return True


def safe_next(target: str | None) -> str:
    """A local path to go back to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or \
            "\\" in target or any(ord(c) < 32 for c in target):
        return "/"
    return target
