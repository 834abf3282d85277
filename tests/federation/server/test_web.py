"""The web catalog with httpx: statuses, headers, escaping, sessions, CSRF, governance on
every page, path traversal, reports — against a real server on 127.0.0.1."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from federation import Mesh
from federation.access.requests import requests
from tests.federation.server.conftest import Served, start
from tests.federation.server.web_support import (
    IMG_COLUMN,
    ODD_COLUMN,
    SCRIPT_DATA,
    SCRIPT_DESC,
    add_hostile_products,
    csrf_of,
    sign_in,
)

PAGES = ("/", "/search?q=card", "/domains/payments", "/products/payments.transactions",
         "/access", "/requests", "/reports")


def bearer(served: Served, user: str) -> httpx.Client:
    return httpx.Client(base_url=served.http, timeout=60,
                        headers={"Authorization": f"Bearer {served.tokens[user]}"})


@pytest.fixture(scope="module")
def writable(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server of its own over a copy with hostile products (requests write files)."""
    root = tmp_path_factory.mktemp("web") / "mesh"
    shutil.copytree(demo_root, root, ignore=shutil.ignore_patterns("audit"))
    add_hostile_products(root)
    running = start(root, auth_failures_per_minute=10_000)
    running.tokens["finance-team"] = running.store.issue("finance-team")[1]  # type: ignore[union-attr]
    yield running
    running.server.stop(1)


def test_every_page_answers_with_its_security_headers(served: Served) -> None:
    with bearer(served, "ana") as http:
        for path in PAGES:
            page = http.get(path)
            assert page.status_code == 200, (path, page.text[:500])
            assert page.headers["content-type"].startswith("text/html")
            csp = page.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
            assert "unsafe-inline" not in csp
            assert page.headers["x-content-type-options"] == "nosniff"
            assert page.headers["cache-control"] == "no-store"
            assert "<script>" not in page.text  # only <script src=…> of our own
            assert 'lang="en"' in page.text and "Skip to main content" in page.text


def test_pages_need_a_caller(served: Served) -> None:
    with httpx.Client(base_url=served.http, timeout=30) as http:
        for path in PAGES:
            page = http.get(path)
            assert page.status_code == 303
            assert page.headers["location"].startswith("/signin?next=")
        wrong = http.get("/", headers={"Authorization": "Bearer dmt_nope_nope"})
        assert wrong.status_code == 401 and "Sign-in failed" in wrong.text
        assert http.get("/static/duckmesh.css").status_code == 200
    with bearer(served, "ana") as http:
        assert http.get("/?user=adam").status_code == 400
        assert http.get("/", headers={"X-Duckmesh-User": "adam"}).status_code == 400


def test_search_finds_card_data_and_tolerates_typos(served: Served) -> None:
    with bearer(served, "ana") as http:
        assert "payments.transactions" in http.get("/search", params={"q": "card"}).text
        typo = http.get("/search", params={"q": "transactoins"}).text
        assert "payments.transactions" in typo and "did you mean" in typo
        filtered = http.get("/", params={"classification": "pci"}).text
        assert "payments.transactions" in filtered and "flights.schedule" not in filtered


def _column_row(html: str, column: str) -> str:
    found = re.search(rf'<tr data-column="{column}">(.*?)</tr>', html, re.S)
    assert found is not None, column
    return found[1]


def test_ana_never_sees_card_numbers_or_hidden_columns(served: Served,
                                                       raw_secrets: frozenset[str]) -> None:
    with bearer(served, "ana") as http:
        pages = {p: http.get(p).text for p in (
            "/products/payments.transactions", "/products/customers.profiles", "/access",
            "/search?q=card", "/domains/customers")}
    product = pages["/products/payments.transactions"]
    card = _column_row(product, "card_number")
    assert 'badge pci' in card and ">hidden<" in card and "policies.yaml rule 1" in card
    sample = product[product.index('id="sample"'):product.index('id="profile"')]
    assert "card_number" not in sample  # the hidden column is not in the sample at all
    profiles = pages["/products/customers.profiles"]
    assert "masked: hash" in _column_row(profiles, "email")
    assert ">hidden<" in _column_row(profiles, "passport_number")
    assert "region = &#39;EU&#39;" in profiles  # her row filter, in words
    for path, html in pages.items():
        leaked = [s for s in raw_secrets if s and len(s) > 5 and s in html]
        assert leaked == [], path


def test_fiona_sees_card_numbers(served: Served, raw_secrets: frozenset[str]) -> None:
    with bearer(served, "fiona") as http:
        product = http.get("/products/payments.transactions").text
    assert ">raw<" in _column_row(product, "card_number")
    sample = product[product.index('id="sample"'):product.index('id="profile"')]
    assert "card_number" in sample and any(s in sample for s in raw_secrets)


def test_products_without_a_grant_show_their_contract_and_a_request_link(
        served: Served) -> None:
    with bearer(served, "dana") as http:
        page = http.get("/products/payments.transactions")
        listing = http.get("/").text
    assert page.status_code == 200
    assert "masked: hash" in _column_row(page.text, "customer_id")
    with bearer(served, "nick") as http:
        meta = http.get("/products/meta.audit")
        assert meta.status_code == 404  # duckmesh's own products only for their readers
    assert "meta.audit" not in listing


def test_path_traversal_finds_nothing(served: Served) -> None:
    with bearer(served, "ana") as http:
        for path in ("/products/..%2F..%2Fetc%2Fpasswd", "/products/../../etc/passwd",
                     "/products/payments.transactions%00", "/products/payments..transactions",
                     "/products/..%2Fduckmesh.yaml", "/domains/..%2F..%2Fetc",
                     "/domains/payments%2F..%2F..", "/reports/..%2F..%2Fduckmesh",
                     "/reports/daily_revenue_eu/slots/..%2F..%2Fduckmesh.yaml",
                     "/static/..%2Fduckmesh.css", "/static/..%2F..%2Fweb%2Fapp.py",
                     "/requests/new?product=..%2F..%2Fetc%2Fpasswd"):
            page = http.get(path)
            assert page.status_code in (404, 400), path
            assert "root:" not in page.text and "secret_file" not in page.text


def test_hostile_text_renders_as_text(writable: Served) -> None:
    with bearer(writable, "ana") as http:
        notes = http.get("/products/marketing.notes").text
        odd = http.get("/products/marketing.odd").text
        listing = http.get("/search", params={"q": "notes"}).text
    for html in (notes, odd, listing):
        assert "<script>alert" not in html and "<svg onload" not in html
        assert "&lt;script&gt;alert(&#34;desc&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold" in html
    assert "&lt;script&gt;alert(&#34;data&#34;)&lt;/script&gt;" in notes  # the data value
    assert SCRIPT_DATA not in notes and IMG_COLUMN not in notes
    assert "&lt;img src=x onerror=alert(&#39;col&#39;)&gt;" in notes
    assert ODD_COLUMN not in odd and "&lt;b onmouseover=alert(1)&gt;c&lt;/b&gt;" in odd
    assert SCRIPT_DESC not in listing


def test_session_sign_in_csrf_and_sign_out(writable: Served) -> None:
    with httpx.Client(base_url=writable.http, timeout=30) as raw:
        signed = raw.post("/signin", data={"token": writable.tokens["ana"],
                                           "csrf": csrf_of(raw.get("/signin").text)})
        cookie = signed.headers["set-cookie"].lower()
        assert cookie.startswith("duckmesh_session=") and "httponly" in cookie
        assert "samesite=lax" in cookie and "path=/" in cookie
    with sign_in(writable.http, writable.tokens["ana"]) as http:
        form = http.get("/requests/new", params={"product": "payments.transactions"})
        token = csrf_of(form.text)
        body = {"product": "payments.transactions", "columns": "card_number",
                "purpose": "fraud_detection", "reason": "case 1"}
        assert http.post("/requests", data=body).status_code == 403  # no CSRF token
        assert http.post("/requests", data={**body, "csrf": "forged"}).status_code == 403
        other_site = http.post("/requests", data={**body, "csrf": token},
                               headers={"Origin": "https://evil.example"})
        assert other_site.status_code == 403
        assert requests(writable.root, "payments") == []
        sent = http.post("/requests", data={**body, "csrf": token},
                         headers={"Origin": writable.http})
        assert sent.status_code == 303 and "/requests?created=" in sent.headers["location"]
        assert [r.requested_by for r in requests(writable.root, "payments")] == ["ana"]
        # A request cannot be decided by its requester, nor by anyone but the owners.
        pending = requests(writable.root, "payments")[0]
        refused = http.post(f"/requests/{pending.id}/approve", data={"csrf": token})
        assert refused.status_code == 403
        assert http.post("/signout", data={"csrf": token}).status_code == 303
        assert http.get("/").status_code == 303  # signed out


def test_a_bearer_post_needs_no_csrf_token_but_nothing_ambient_skips_it(
        writable: Served) -> None:
    """CSRF rides on credentials a browser sends by itself (cookies); a bearer header is
    set by the caller's own code and another site's page cannot add it (no CORS), so a
    bearer POST carries no CSRF token.  Anything else in ``Authorization`` (Basic, which a
    browser may replay by itself) is refused, never taken as a reason to skip the check."""
    body = {"product": "payments.transactions", "columns": "card_number",
            "purpose": "fraud_detection", "reason": "bearer, no csrf"}
    with bearer(writable, "nick") as http:
        sent = http.post("/requests", data=body, headers={"Origin": "https://evil.example"})
    assert sent.status_code == 303
    assert "nick" in [r.requested_by for r in requests(writable.root, "payments")]
    with sign_in(writable.http, writable.tokens["dana"]) as http:
        for header in ("Basic ZGFuYTpkYW5h", "Bearer", "Negotiate abc"):
            refused = http.post("/requests", data={**body, "reason": header},
                                headers={"Authorization": header})
            assert refused.status_code == 401, header
        # A browser's preflight from another site learns nothing that lets it send one.
        preflight = http.options("/requests", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"})
        assert "access-control-allow-origin" not in preflight.headers
        assert http.post("/requests", data=body).status_code == 403  # cookie: CSRF needed
        # The API takes no cookie at all: only the header, which a browser never adds.
        assert http.post("/v1/query", json={"sql": "SELECT 1"}).status_code == 401
    assert "dana" not in [r.requested_by for r in requests(writable.root, "payments")]


def test_sign_in_form_needs_its_csrf_cookie_and_a_valid_token(writable: Served) -> None:
    with httpx.Client(base_url=writable.http, timeout=30) as http:
        refused = http.post("/signin", data={"token": writable.tokens["ana"], "csrf": "x"})
        assert refused.status_code == 403
        form = http.get("/signin")
        wrong = http.post("/signin", data={"token": "dmt_abc_def", "csrf": csrf_of(form.text)})
        assert wrong.status_code == 401 and "Sign-in failed" in wrong.text
        assert "duckmesh_session" not in http.cookies
        outside = http.post("/signin", data={"token": writable.tokens["ana"],
                                             "csrf": csrf_of(form.text),
                                             "next": "https://evil.example/"})
        assert outside.headers["location"] == "/"  # never back to another site


def test_a_revoked_token_ends_its_session(writable: Served) -> None:
    record, token = writable.store.issue("nick", name="browser")  # type: ignore[union-attr]
    with sign_in(writable.http, token) as http:
        assert http.get("/access").status_code == 200
        writable.store.revoke(record.id)  # type: ignore[union-attr]
        assert http.get("/access").status_code == 303


def test_report_pages_are_for_their_audience(writable: Served) -> None:
    import datetime as dt

    from federation.reports.runner import run_report
    from federation.reports.spec import load_report

    mesh = Mesh.open(writable.root)
    slot = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)
    outcome = run_report(mesh, load_report(writable.root, "weekly_channels"), slot)
    assert outcome.outcome == "ok", outcome.line()
    with bearer(writable, "ana") as http:
        listing = http.get("/reports").text
        assert "weekly_channels" in listing and "daily_revenue_eu" in listing
        page = http.get("/reports/weekly_channels").text
        link = re.search(r'href="(/reports/weekly_channels/slots/[^"]+)"', page)
        assert link is not None
        published = http.get(link[1])
        assert published.status_code == 200
        assert "sandbox" in published.headers["content-security-policy"]
        text = published.text
        assert "<svg" in text and "1e8" not in text and " M<" in text  # 488.6 M on axes
        assert re.search(r"\d{1,3}(,\d{3})+\.\d\d", text)  # thousands separators
        assert "Governed for" in text
        assert '"Segoe UI"' in text  # the embedded stylesheet is CSS, not escaped text
    with bearer(writable, "dana") as http:  # not in either audience
        assert http.get("/reports/weekly_channels").status_code == 404
        assert "weekly_channels" not in http.get("/reports").text
