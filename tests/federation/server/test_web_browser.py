"""The web catalog in a real browser: Playwright driving Debian's chromium headless
against a real server on 127.0.0.1.  Screenshots of each page go to
``.artifacts/catalog/`` (``$DUCKMESH_TEST_ARTIFACTS``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.federation.server.conftest import Served, start
from tests.federation.server.web_support import ARTIFACTS, SCRIPT_DESC, add_hostile_products

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian's chromium is not installed (make test "
                                       "installs it as root: apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("browser") / "mesh"
    shutil.copytree(demo_root, root, ignore=shutil.ignore_patterns("audit"))
    add_hostile_products(root)
    running = start(root, auth_failures_per_minute=10_000)
    assert running.store is not None
    running.tokens["finance-team"] = running.store.issue("finance-team")[1]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield running
    running.server.stop(1)


class Visitor:
    """One person's browser window, signed in through the sign-in page."""

    def __init__(self, browser: Any, site: Served, user: str, width: int = 1280) -> None:
        self.site = site
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(site.http + "/")
        assert "/signin" in self.page.url
        self.page.get_by_label("Your duckmesh token").fill(site.tokens[user])
        self.page.keyboard.press("Enter")
        self.page.wait_for_url(site.http + "/")

    def go(self, path: str) -> Any:
        self.page.goto(self.site.http + path)
        return self.page

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        assert self.dialogs == []  # no script ever ran an alert
        self.context.close()


def test_ana_finds_reads_and_requests_card_numbers_and_finance_approves(
        browser: Any, site: Served) -> None:
    ana = Visitor(browser, site, "ana")
    page = ana.page
    ana.shot("explore")
    page.keyboard.press("/")  # the search box, from the keyboard
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("card")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=card")
    ana.shot("search")
    page.get_by_role("link", name="payments.transactions", exact=True).first.click()
    page.wait_for_url("**/products/payments.transactions")
    card = page.locator('tr[data-column="card_number"]')
    assert card.locator(".badge.pci").inner_text() == "pci"
    assert card.locator(".badge.hidden").inner_text() == "hidden"
    assert "card_number" not in page.locator("#sample").locator("..").inner_text()
    ana.shot("product")
    card.get_by_role("link", name="Request card_number").click()
    assert page.get_by_role("checkbox", name="card_number").is_checked()
    page.get_by_label("Purpose").select_option("fraud_detection")
    page.get_by_label("Reason").fill("Chargeback investigation CASE-1182")
    ana.shot("request-form")
    page.get_by_role("button", name="Send request").click()
    page.wait_for_url("**/requests?created=*")
    assert "sent to the owners of payments" in page.locator('[role="status"]').inner_text()
    ana.shot("requests")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin")
    ana.close()

    finance = Visitor(browser, site, "finance-team")
    page = finance.go("/domains/payments")
    assert "ana asks for" in page.locator("#pending-h").locator("..").inner_text()
    finance.shot("domain-owner")
    page.get_by_role("button", name="Approve ana's request for payments.transactions "
                                    "(card_number)").click()
    page.wait_for_url("**/requests?decided=*")
    assert "approved" in page.locator('[role="status"]').inner_text()
    finance.shot("approved")
    finance.close()

    # ana's queries follow the new grant: card numbers for fraud detection, not otherwise.
    sql = {"sql": "SELECT card_number FROM payments.transactions LIMIT 3"}
    with httpx.Client(base_url=site.http, timeout=60,
                      headers={"Authorization": f"Bearer {site.tokens['ana']}"}) as http:
        released = http.post("/v1/query", json={**sql, "purpose": "fraud_detection"})
        assert released.status_code == 200 and len(released.json()) == 3
        assert http.post("/v1/query", json=sql).status_code == 403
        ana_page = http.get("/products/payments.transactions").text
    assert "releases it only for purpose &#39;fraud_detection&#39;" in ana_page


def test_fiona_sees_card_numbers_and_hostile_text_stays_text(browser: Any,
                                                              site: Served) -> None:
    fiona = Visitor(browser, site, "fiona")
    page = fiona.go("/products/payments.transactions")
    assert page.locator('tr[data-column="card_number"] .badge.allow').inner_text() == "raw"
    assert "card_number" in page.locator("#sample").locator("..").inner_text()
    fiona.close()
    reader = Visitor(browser, site, "ana")  # analysts read every marketing product
    page = reader.go("/products/marketing.notes")
    assert page.locator(".lede").inner_text() == SCRIPT_DESC
    assert '<script>alert("data")</script>' in page.locator("#sample").locator("..").inner_text()
    assert page.locator("main script").count() == 0
    reader.shot("hostile-text")
    reader.close()


def test_keyboard_narrow_window_and_csrf(browser: Any, site: Served) -> None:
    nick = Visitor(browser, site, "nick", width=390)
    page = nick.go("/products/customers.profiles")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert fits  # wide tables scroll inside their box, not the page
    nick.shot("product-narrow")
    forged = page.request.post(site.http + "/requests", form={
        "product": "payments.transactions", "purpose": "analytics", "reason": "x"})
    assert forged.status == 403  # the session cookie alone is not enough
    page = nick.go("/access")
    assert "region = &#39;NA&#39;" in page.content() or "region = 'NA'" in page.inner_text("main")
    nick.shot("my-access")
    nick.close()
