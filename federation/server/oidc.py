"""OIDC / JWT bearer tokens: an enterprise IdP's tokens, validated against its JWKS.

Validation is PyJWT's, with nothing left to the token's own word: the algorithm must be
one of the configured asymmetric ones (never ``none``, never HMAC with a public key), the
signature must verify with a key of the issuer's JWKS, and ``iss``, ``aud`` and ``exp``
are required and checked.  The configured claim (``sub``, ``email`` or a groups list)
names the caller; ``principals`` maps its values to principals of principals.yaml.
The JWKS comes from a file (re-read when it changes) or a URL (https, or http on a
loopback address; cached, and fetched again for an unknown key id at most every 30 s).
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import jwt

from federation.errors import AuthenticationFailed, ConfigError
from products.config import OidcSettings

JWKS_TTL = 300.0
REFETCH_AFTER = 30.0
FETCH_TIMEOUT = 5.0
MAX_JWKS_BYTES = 1 << 20


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


class OidcValidator:
    """Validates bearer JWTs of one issuer and names the principal they stand for."""

    def __init__(self, settings: OidcSettings, root: Path) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched = 0.0
        self._file_key: tuple[int, int] | None = None
        self._file: Path | None = None
        if settings.jwks_file is not None:
            path = Path(settings.jwks_file)
            self._file = path if path.is_absolute() else root / path
        elif settings.jwks_url is not None:
            url = urllib.parse.urlsplit(settings.jwks_url)
            if url.scheme != "https" and not (url.scheme == "http" and _loopback(url.hostname)):
                raise ConfigError("server.oidc.jwks_url must be https (or http on a loopback "
                                  "address)", field="server.oidc.jwks_url")

    # -- keys -------------------------------------------------------------------------

    def _load(self, data: bytes) -> dict[str | None, jwt.PyJWK]:
        try:
            document = json.loads(data)
            keys = document["keys"]
            if not isinstance(keys, list):
                raise TypeError("keys")
        except (ValueError, KeyError, TypeError):
            raise AuthenticationFailed("the issuer's JWKS is malformed") from None
        out: dict[str | None, jwt.PyJWK] = {}
        for entry in keys:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue  # a key type we cannot use: skipped, like an unknown kid
            out[entry.get("kid")] = key
        return out

    def _from_file(self) -> dict[str | None, jwt.PyJWK]:
        assert self._file is not None
        try:
            st = self._file.stat()
            key = (st.st_mtime_ns, st.st_size)
            if key != self._file_key:
                self._keys = self._load(self._file.read_bytes())
                self._file_key = key
        except OSError:
            raise AuthenticationFailed("the issuer's JWKS file is unreadable") from None
        return self._keys

    def _from_url(self, kid: str | None) -> dict[str | None, jwt.PyJWK]:
        age = time.monotonic() - self._fetched
        stale = age > JWKS_TTL or (kid not in self._keys and age > REFETCH_AFTER)
        if self._fetched and not stale:
            return self._keys
        assert self.settings.jwks_url is not None
        try:
            # The URL is the operator's configuration (https or loopback http, checked).
            with urllib.request.urlopen(self.settings.jwks_url,  # noqa: S310
                                        timeout=FETCH_TIMEOUT) as response:
                data = response.read(MAX_JWKS_BYTES + 1)
        except OSError:
            if self._keys:
                return self._keys  # keep the keys we have when the IdP is briefly away
            raise AuthenticationFailed("the issuer's JWKS could not be fetched") from None
        if len(data) > MAX_JWKS_BYTES:
            raise AuthenticationFailed("the issuer's JWKS is too large")
        self._keys = self._load(data)
        self._fetched = time.monotonic()
        return self._keys

    def _key(self, kid: str | None) -> jwt.PyJWK:
        with self._lock:
            keys = self._from_file() if self._file is not None else self._from_url(kid)
        if kid in keys:
            return keys[kid]
        if kid is None and len(keys) == 1:
            return next(iter(keys.values()))
        raise AuthenticationFailed("JWT signed with a key the issuer does not publish")

    # -- tokens -----------------------------------------------------------------------

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token``; AuthenticationFailed naming what was wrong."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationFailed("malformed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in self.settings.algorithms:
            raise AuthenticationFailed(f"JWT algorithm {algorithm!r} is not accepted")
        key = self._key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key.key, algorithms=[algorithm], audience=self.settings.audience,
                issuer=self.settings.issuer, leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise AuthenticationFailed("JWT expired") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationFailed("JWT audience is not accepted") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationFailed("JWT issuer is not accepted") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationFailed(f"JWT has no {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationFailed("JWT signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(f"JWT rejected ({type(exc).__name__})") from None
        return claims

    def principal(self, token: str) -> tuple[str, str]:
        """The principal ``token`` stands for, and a description of the token for the audit
        (issuer and subject)."""
        claims = self.claims(token)
        claim = self.settings.claim
        value = claims.get(claim)
        values = [str(v) for v in value] if isinstance(value, list) else \
            [str(value)] if isinstance(value, str | int) and value != "" else []
        if not values:
            raise AuthenticationFailed(f"JWT has no usable {claim!r} claim")
        mapping = self.settings.principals
        names = sorted({mapping[v] for v in values if v in mapping} if mapping else set(values))
        if not names:
            raise AuthenticationFailed(f"JWT {claim!r} maps to no principal")
        if len(names) > 1:
            raise AuthenticationFailed(f"JWT {claim!r} maps to several principals")
        subject = f"{claims.get('iss')}#{claims.get('sub', '')}"
        return names[0], subject
