"""Signing in to the web catalog with OIDC: the authorization code flow with PKCE, state
and nonce, against a test IdP on loopback (its keys made here)."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from products.config import OidcSettings
from tests.federation.server.conftest import Served, start
from tests.federation.server.test_oidc import AUDIENCE, ISSUER, Idp
from tests.loopback import LoopbackServer


class CodeFlowIdp(LoopbackServer):
    """/authorize hands out a code for ana; /token trades it (PKCE checked) for an ID
    token carrying the sign-in's nonce."""

    def __init__(self, idp: Idp) -> None:
        self.codes: dict[str, dict[str, str]] = {}
        self.nonce_override: str | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                code = f"code-{len(outer.codes)}"
                outer.codes[code] = query
                target = query["redirect_uri"] + "?" + urllib.parse.urlencode(
                    {"code": code, "state": query["state"]})
                self.send_response(302)
                self.send_header("Location", target)
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                asked = outer.codes.pop(form.get("code", ""), None)
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
                if asked is None or asked["code_challenge"] != challenge or \
                        form.get("client_secret") != "s3cret":
                    self.send_response(400)
                    self.end_headers()
                    return
                token = idp.token(nonce=outer.nonce_override or asked["nonce"])
                body = json.dumps({"id_token": token, "token_type": "Bearer"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))


@pytest.fixture(scope="module")
def flow(served_root: Path, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Served, CodeFlowIdp]]:
    idp = Idp()
    folder = tmp_path_factory.mktemp("oidc-web")
    (folder / "jwks.json").write_text(json.dumps(idp.jwks))
    (folder / "secret").write_text("s3cret\n")
    provider = CodeFlowIdp(idp)
    oidc = OidcSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=str(folder / "jwks.json"),
                        client_id=AUDIENCE, client_secret_file=str(folder / "secret"),
                        authorization_endpoint=provider.url + "/authorize",
                        token_endpoint=provider.url + "/token")
    running = start(served_root, oidc=oidc, auth_failures_per_minute=10_000)
    yield running, provider
    running.server.stop(1)
    provider.stop()


def sign_in(served: Served, http: httpx.Client) -> httpx.Response:
    start_page = http.get(served.http + "/signin/oidc", params={"next": "/access"})
    assert start_page.status_code == 303
    at_idp = http.get(start_page.headers["location"])
    assert at_idp.status_code == 302
    return http.get(at_idp.headers["location"])


def test_sign_in_with_the_identity_provider(flow: tuple[Served, CodeFlowIdp]) -> None:
    served, _ = flow
    with httpx.Client(timeout=30) as http:
        assert "sign in with" in http.get(served.http + "/signin").text
        back = sign_in(served, http)
        assert back.status_code == 303 and back.headers["location"] == "/access"
        page = http.get(served.http + "/access")
        assert page.status_code == 200 and "Signed in as <strong>ana</strong>" in page.text


def test_a_forged_state_or_a_foreign_nonce_is_refused(flow: tuple[Served, CodeFlowIdp]) -> None:
    served, provider = flow
    with httpx.Client(timeout=30) as http:
        http.get(served.http + "/signin/oidc")
        forged = http.get(served.http + "/signin/oidc/callback",
                          params={"code": "code-x", "state": "not-mine"})
        assert forged.status_code == 403
    with httpx.Client(timeout=30) as http:
        provider.nonce_override = "replayed"
        try:
            replay = sign_in(served, http)
        finally:
            provider.nonce_override = None
        assert replay.status_code == 401
        assert http.get(served.http + "/access").status_code == 303  # not signed in
