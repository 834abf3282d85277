"""OIDC / JWT bearer tokens against a test IdP: an RSA key made here, its JWKS served from
a file and from a loopback HTTP URL; every way a JWT can be wrong is refused."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from products.config import OidcSettings
from tests.federation.server.conftest import Served, adbc, start
from tests.loopback import LoopbackServer

ISSUER = "https://idp.example.test/"
AUDIENCE = "duckmesh"


class Idp:
    """A signing key and its JWKS."""

    def __init__(self, kid: str = "k1") -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ana", "iat": now, "exp": now + 300,
                **claims}
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": self.kid})


class JwksServer(LoopbackServer):
    def __init__(self, document: dict[str, Any]) -> None:
        payload = json.dumps(document).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))


@pytest.fixture(scope="module")
def idp() -> Idp:
    return Idp()


@pytest.fixture(scope="module")
def with_file(idp: Idp, served_root: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Served]:
    jwks = tmp_path_factory.mktemp("idp") / "jwks.json"
    jwks.write_text(json.dumps(idp.jwks))
    oidc = OidcSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=str(jwks))
    running = start(served_root, oidc=oidc, auth_failures_per_minute=10_000)
    yield running
    running.server.stop(1)


def me(served: Served, token: str) -> httpx.Response:
    return httpx.get(f"{served.http}/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_a_valid_jwt_names_its_principal(with_file: Served, idp: Idp) -> None:
    response = me(with_file, idp.token())
    assert response.status_code == 200, response.text
    assert response.json()["principal"] == "ana" and response.json()["auth"] == "oidc"
    records = [r for r in with_file.audit() if r.get("session", {}).get("auth") == "oidc"]
    del records  # /v1/me runs no query; the Flight test below is audited


def test_a_jwt_works_over_flight_sql_and_is_audited(with_file: Served, idp: Idp) -> None:
    conn = adbc(with_file.flight, idp.token())
    try:
        cur = conn.cursor()
        try:
            cur.execute("SELECT count(*) FROM customers.profiles")
            assert cur.fetchone()[0] > 0
        finally:
            cur.close()  # even if it failed: a cursor left open fails a later test
    finally:
        conn.close()
    record = [r for r in with_file.audit() if r.get("session", {}).get("auth") == "oidc"][-1]
    assert record["user"] == "ana" and record["session"]["subject"] == f"{ISSUER}#ana"


def _none_alg(idp: Idp) -> str:
    return jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "adam",
                       "exp": int(time.time()) + 60}, None, algorithm="none")


def _hs256_with_public_key(idp: Idp) -> str:
    public = idp.key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    import hashlib
    import hmac

    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT",
                                                    "kid": idp.kid}).encode())
    claims = jwt.utils.base64url_encode(json.dumps({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "adam",
        "exp": int(time.time()) + 60}).encode())
    signature = hmac.new(public, header + b"." + claims, hashlib.sha256).digest()
    return (header + b"." + claims + b"." + jwt.utils.base64url_encode(signature)).decode()


@pytest.mark.parametrize(("make", "reason"), [
    (lambda idp: idp.token(aud="someone-else"), "audience"),
    (lambda idp: idp.token(iss="https://evil.example/"), "issuer"),
    (lambda idp: idp.token(exp=int(time.time()) - 3600), "expired"),
    (lambda idp: idp.token(exp=None), "'exp'"),
    (lambda idp: idp.token(sub="mallory"), "not a principal"),
    (_none_alg, "algorithm"),
    (_hs256_with_public_key, "algorithm"),
    (lambda idp: Idp(kid="k1").token(sub="adam"), "signature"),
    (lambda idp: Idp(kid="other").token(sub="adam"), "does not publish"),
    (lambda idp: idp.token()[:-4] + "AAAA", "signature"),
])
def test_every_wrong_jwt_is_refused(with_file: Served, idp: Idp, make: Any,
                                    reason: str) -> None:
    response = me(with_file, make(idp))
    assert response.status_code == 401, response.text
    assert reason in response.json()["error"]["message"]


def test_jwks_from_a_url_and_a_groups_claim(idp: Idp, served_root: Path) -> None:
    jwks = JwksServer(idp.jwks)
    oidc = OidcSettings(issuer=ISSUER, audience=[AUDIENCE, "other"],
                        jwks_url=f"{jwks.url}/jwks.json", claim="groups",
                        principals={"eu-analysts": "ana", "fraud": "fiona"})
    running = start(served_root, oidc=oidc, auth_failures_per_minute=10_000)
    try:
        ok = me(running, idp.token(sub="someone", groups=["staff", "fraud"]))
        assert ok.json()["principal"] == "fiona"
        both = me(running, idp.token(groups=["eu-analysts", "fraud"]))
        assert both.status_code == 401 and "several" in both.json()["error"]["message"]
        none = me(running, idp.token(groups=["staff"]))
        assert none.status_code == 401
    finally:
        running.server.stop(1)
        jwks.stop()


def test_a_jwks_url_must_be_https_or_loopback() -> None:
    from federation.errors import ConfigError
    from federation.server.oidc import OidcValidator

    with pytest.raises(ConfigError, match="https"):
        OidcValidator(OidcSettings(issuer=ISSUER, audience=AUDIENCE,
                                   jwks_url="http://idp.example.test/jwks"), Path("."))
