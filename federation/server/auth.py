"""Who is calling: bearer tokens (duckmesh's own, or an IdP's JWTs), never a claimed name.

Every request carries ``Authorization: Bearer <token>``.  A ``dmt_…`` token is checked
against the token store (:mod:`federation.server.tokens`), anything else against the
configured OIDC issuer (:mod:`federation.server.oidc`).  The principal must be listed in
governance/principals.yaml.  A failure is audited (user ``(unauthenticated)``, the reason
and the client's address), logged and counted per client address: past
``server.auth_failures_per_minute`` the address is refused for a minute, whatever it sends.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from federation.audit.log import AuditLog, auth_failure
from federation.errors import AuthenticationFailed, DuckmeshError
from federation.server.oidc import OidcValidator
from federation.server.tokens import PREFIX, TokenStore

log = logging.getLogger("duckmesh.server")

WINDOW = 60.0
MAX_TRACKED = 100_000
"""Client addresses the rate limiter remembers at most (the oldest are forgotten)."""


class TooManyFailures(AuthenticationFailed):
    """The client's address failed to authenticate too often; it is refused for a while."""

    retry_after: float = WINDOW


@dataclass(frozen=True)
class Identity:
    """An authenticated caller."""

    principal: str
    method: str
    """``token`` or ``oidc``."""
    subject: str
    """The token id, or the JWT's ``issuer#sub``."""
    client: str
    """The client's address."""
    protocol: str
    """``flight-sql`` or ``http``."""

    def session(self) -> dict[str, str]:
        """What the audit record of each of this caller's queries says about the session."""
        return {"auth": self.method, "subject": self.subject, "client": self.client,
                "protocol": self.protocol}


class RateLimiter:
    """Failed authentications per client address in a sliding window."""

    def __init__(self, limit: int, window: float = WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._lock = threading.Lock()
        self._failures: collections.OrderedDict[str, collections.deque[float]] = \
            collections.OrderedDict()

    def blocked_for(self, client: str) -> float:
        """Seconds ``client`` is still refused (0: not refused)."""
        now = time.monotonic()
        with self._lock:
            failures = self._failures.get(client)
            if not failures:
                return 0.0
            while failures and failures[0] <= now - self.window:
                failures.popleft()
            if len(failures) < self.limit:
                return 0.0
            return failures[0] + self.window - now

    def failed(self, client: str) -> bool:
        """Count a failure; True if it is the one that blocks the address."""
        now = time.monotonic()
        with self._lock:
            failures = self._failures.setdefault(client, collections.deque())
            self._failures.move_to_end(client)
            failures.append(now)
            while len(failures) > self.limit:
                failures.popleft()
            while len(self._failures) > MAX_TRACKED:
                self._failures.popitem(last=False)
            return len(failures) == self.limit and failures[0] > now - self.window


class Authenticator:
    """Turns a request's credentials into an :class:`Identity`, or refuses it."""

    def __init__(self, tokens: TokenStore, oidc: OidcValidator | None,
                 is_principal: Callable[[str], bool], audit: AuditLog,
                 failures_per_minute: int,
                 on_failure: Callable[[str], None] | None = None) -> None:
        self.tokens = tokens
        self.oidc = oidc
        self.is_principal = is_principal
        self.audit = audit
        self.limiter = RateLimiter(failures_per_minute)
        self.on_failure = on_failure

    def authenticate(self, authorization: str | None, client: str, protocol: str) -> Identity:
        """The caller of a request with this ``Authorization`` header value."""
        wait = self.limiter.blocked_for(client)
        if wait > 0:
            if self.on_failure is not None:
                self.on_failure("rate_limited")
            raise TooManyFailures(f"too many failed authentications from {client}; "
                                  f"retry in {wait:.0f} s")
        try:
            return self._identify(authorization, client, protocol)
        except AuthenticationFailed as exc:
            self._failed(exc, client, protocol)
            raise

    def _identify(self, authorization: str | None, client: str, protocol: str) -> Identity:
        if not authorization:
            raise AuthenticationFailed("no credentials: send Authorization: Bearer <token>")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationFailed("credentials must be a bearer token")
        if token.startswith(PREFIX):
            record = self.tokens.verify(token)
            principal, method, subject = record.user, "token", record.id
        elif self.oidc is not None:
            principal, subject = self.oidc.principal(token)
            method = "oidc"
        else:
            raise AuthenticationFailed("invalid token")
        if not self.is_principal(principal):
            raise AuthenticationFailed(f"{principal!r} ({method} {subject}) is not a principal "
                                       "of governance/principals.yaml")
        return Identity(principal, method, subject, client, protocol)

    def _failed(self, exc: AuthenticationFailed, client: str, protocol: str) -> None:
        blocks = self.limiter.failed(client)
        reason = exc.message + ("; address refused for a minute" if blocks else "")
        log.warning("authentication failed", extra={"fields": {
            "event": "auth.failure", "client": client, "protocol": protocol,
            "reason": exc.message}})
        if self.on_failure is not None:
            self.on_failure("invalid")
        try:
            self.audit.write(auth_failure(reason=reason, client=client, protocol=protocol))
        except DuckmeshError as error:
            # The refusal stands; an unwritable audit log is the operator's alarm.
            log.error("audit log unwritable", extra={"fields": {
                "event": "audit.error", "error": str(error)}})
