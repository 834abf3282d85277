"""Tokens the service issues: random secrets shown once, stored only as hashes.

A token reads ``dmt_<id>_<secret>``: the id is public (``tokens list``, ``tokens revoke``,
audit records), the secret is 256 random bits.  The store (``server.tokens_file``, default
``.duckmesh/tokens.json`` in the mesh, mode 0600) keeps the id, the principal, the label,
creation, expiry, revocation and the SHA-256 of the secret — never the secret: a stolen
store does not let anyone authenticate.  A running server re-reads the store when it
changes, so a revocation takes effect at the next request.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from connectors.writers import atomic_file
from federation.errors import AuthenticationFailed, ConfigError, UsageError

PREFIX = "dmt_"
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> dt.timedelta | None:
    """``30d``, ``12h``, ``90m``, ``2w`` as a duration; ``never`` as None."""
    if text.strip().lower() == "never":
        return None
    match = _DURATION.match(text.lower())
    if not match or int(match[1]) == 0:
        raise UsageError(f"--expires takes e.g. 30d, 12h, 90m, 2w or never, not {text!r}")
    return dt.timedelta(**{_UNITS[match[2]]: int(match[1])})


@dataclass(frozen=True)
class TokenRecord:
    """What the store knows of one token (everything but its secret)."""

    id: str
    user: str
    name: str | None
    created: str
    expires: str | None
    revoked: str | None
    sha256: str

    def status(self, now: dt.datetime | None = None) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked:
            return "revoked"
        now = now or dt.datetime.now(dt.UTC)
        if self.expires and dt.datetime.fromisoformat(self.expires) <= now:
            return "expired"
        return "active"

    def public(self) -> dict[str, str | None]:
        """The record as ``tokens list`` shows it (no hash)."""
        return {"id": self.id, "user": self.user, "name": self.name, "created": self.created,
                "expires": self.expires, "revoked": self.revoked, "status": self.status()}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenStore:
    """The tokens file of one mesh."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._cache: tuple[tuple[int, int, int], dict[str, TokenRecord]] | None = None

    @classmethod
    def for_mesh(cls, root: Path, tokens_file: str) -> TokenStore:
        path = Path(tokens_file)
        return cls(path if path.is_absolute() else root / path)

    # -- reading ----------------------------------------------------------------------

    def _read(self) -> dict[str, TokenRecord]:
        try:
            data = json.loads(self.path.read_text())
            return {t["id"]: TokenRecord(**t) for t in data["tokens"]}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError):
            # A damaged store authenticates nobody (fail closed) and says so.
            raise ConfigError("the tokens file is unreadable or malformed",
                              file=str(self.path)) from None

    def records(self) -> dict[str, TokenRecord]:
        """Every token by id, re-read only when the file changed."""
        try:
            st = self.path.stat()
            key = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            return {}
        with self._lock:
            if self._cache is None or self._cache[0] != key:
                self._cache = (key, self._read())
            return self._cache[1]

    def verify(self, token: str) -> TokenRecord:
        """The record of a valid token; AuthenticationFailed (with the reason) otherwise."""
        parts = token.split("_", 2)
        if len(parts) != 3 or not token.startswith(PREFIX):
            raise AuthenticationFailed("malformed token")
        _, token_id, secret = parts
        try:
            record = self.records().get(token_id)
        except ConfigError:
            raise AuthenticationFailed("the server's tokens file is unreadable") from None
        # Unknown id and wrong secret read the same: ids cannot be probed.
        if record is None or not hmac.compare_digest(record.sha256, _digest(secret)):
            raise AuthenticationFailed("invalid token")
        status = record.status()
        if status != "active":
            raise AuthenticationFailed(f"token {record.id} is {status}")
        return record

    # -- changing ---------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[dict[str, TokenRecord]]:
        """The records, to change in place and write back whole, one writer at a time."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            records = self._read()
            yield records
            body = json.dumps({"tokens": [asdict(r) for r in records.values()]}, indent=1)
            with atomic_file(self.path) as handle:  # created 0600 (mkstemp)
                handle.write(body.encode())
        finally:
            os.close(fd)

    def issue(self, user: str, expires: dt.timedelta | None = None,
              name: str | None = None) -> tuple[TokenRecord, str]:
        """A new token for ``user``: its record and the token text (shown once)."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        secret = secrets.token_urlsafe(32)
        with self._locked() as records:
            token_id = secrets.token_hex(6)
            while token_id in records:
                token_id = secrets.token_hex(6)
            record = TokenRecord(token_id, user, name, now.isoformat(),
                                 (now + expires).isoformat() if expires else None, None,
                                 _digest(secret))
            records[token_id] = record
        return record, f"{PREFIX}{token_id}_{secret}"

    def revoke(self, token_id: str) -> TokenRecord:
        """Mark a token revoked (the record stays, for the audit trail)."""
        with self._locked() as records:
            record = records.get(token_id)
            if record is None:
                raise UsageError(f"no token with id {token_id!r}",
                                 hint="`duckmesh tokens list` shows the ids")
            if record.revoked is None:
                now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
                record = records[token_id] = replace(record, revoked=now)
        return record
