"""A contact's whole visit in Chromium, on a desktop and at 360 px: sign in through the
CRM's page, filter, sort and page invoices (htmx, with working back button), an invoice
against its tally, its PDF, a document download, accepting a quote, signing out. Every
page is scanned with axe-core (no serious or critical violation) and must log no CSP
violation. Screenshots land in docs/screenshots/."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import httpx2 as httpx
import pytest
from pypdf import PdfReader

from portal.formatting import format_money
from tests.browser.conftest import AXE, SCREENSHOTS
from tests.pages.conftest import locale_from_reply, new_awaiting_quote, staff_get, staff_token

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-password"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}
# Recorded by an init script (runs before the page's own scripts, whatever the CSP).
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(event.violatedDirective + ' ' + event.blockedURI);
});
"""


class Visit:
    """One browser context: CSP and console watching, axe scans, screenshots."""

    def __init__(
        self, browser, portal_url: str, viewport: dict, label: str, locale: str = "en-US"
    ) -> None:
        # The browser's language is what it sends as Accept-Language.
        self.context = browser.new_context(viewport=viewport, accept_downloads=True, locale=locale)
        self.context.add_init_script(CSP_LISTENER)
        self.page = self.context.new_page()
        self.url = portal_url
        self.label = label
        self.console_problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.console_problems.append(str(error)))
        self.scanned: list[str] = []

    def _console(self, message) -> None:
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            self.console_problems.append(text)

    def check_page(self, name: str) -> None:
        """No CSP violation, no axe serious/critical violation, no sideways scrolling."""
        page = self.page
        page.wait_for_load_state("networkidle")
        violations = page.evaluate("window.__cspViolations || []")
        assert violations == [], f"CSP violations on {name}: {violations}"
        assert self.console_problems == [], f"console on {name}: {self.console_problems}"
        # CDP evaluation is not subject to the page's CSP: axe runs without weakening it.
        page.evaluate(AXE.read_text(encoding="utf-8"))
        result = page.evaluate(
            """async () => {
              const r = await axe.run(document, {runOnly: {type: 'tag', values:
                ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}});
              return r.violations.map(v => ({id: v.id, impact: v.impact,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
            }"""
        )
        serious = [v for v in result if v["impact"] in {"serious", "critical"}]
        assert serious == [], f"axe on {name} ({self.label}): {serious}"
        width = page.evaluate("document.documentElement.scrollWidth")
        viewport = page.viewport_size["width"]
        assert width <= viewport + 1, f"{name} scrolls sideways at {viewport}px ({width}px)"
        self.scanned.append(name)

    def nav_link(self, name: str):
        """A link of the main navigation, as a visitor reaches it: on a phone the menu is
        a disclosure, opened first."""
        navigation = self.page.get_by_role("navigation", name="Main")
        toggle = navigation.locator(".site-nav__toggle")
        if toggle.is_visible() and navigation.locator("details[open]").count() == 0:
            toggle.click()
        return navigation.get_by_role("link", name=name, exact=True)

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # Phones: the first screen (what a visitor sees); desktop: the whole page.
        path = SCREENSHOTS / f"{name}-{self.label}.png"
        self.page.screenshot(path=str(path), full_page=self.label == "desktop")

    def close(self) -> None:
        self.context.close()


def sign_in(visit: Visit, email: str) -> None:
    page = visit.page
    page.goto(f"{visit.url}/invoices/")
    assert "/login/" in page.url  # pages need a signed-in contact
    page.get_by_role("link", name="Sign in with your account").click()
    page.locator("#login").fill(email)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/invoices/$"))


def invoice_ids(visit: Visit) -> list[str]:
    hrefs = visit.page.locator("#list-results th[scope=row] a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    return [h.strip("/").split("/")[-1] for h in hrefs]


def run_visit(visit: Visit, emulator, demo) -> None:
    page = visit.page
    api = emulator.api_url
    token = staff_token(api)
    sign_in(visit, demo.main.email)

    page.goto(f"{visit.url}/")
    assert page.get_by_role("heading", name=re.compile("Welcome")).is_visible()
    visit.check_page("dashboard")
    visit.screenshot("dashboard")

    # --- Invoices: filter, sort, page, back.
    visit.nav_link("Invoices").click()
    page.wait_for_url(re.compile(r".*/invoices/$"))
    visit.check_page("invoice list")
    visit.screenshot("invoices")
    first_page = invoice_ids(visit)
    page.locator("#list-status").select_option("open")
    page.wait_for_url(re.compile(r".*status=open"))
    page.wait_for_load_state("networkidle")
    assert page.locator("#list-results .badge--paid").count() == 0
    page.locator("#list-results th a.sort-link", has_text="Amount due").click()
    page.wait_for_url(re.compile(r".*sort=balance"))
    page.wait_for_load_state("networkidle")
    dues = page.locator("#list-results td[data-label='Amount due']").all_inner_texts()
    numbers = [Decimal(re.sub(r"[^0-9.]", "", d)) for d in dues]
    assert numbers == sorted(numbers, reverse=True) or numbers == sorted(numbers)
    page.locator("#list-status").select_option("")
    page.wait_for_url(re.compile(r".*/invoices/\?sort=balance&dir=desc$"))  # sort kept
    page.wait_for_load_state("networkidle")
    if page.locator("a[rel=next]").count():
        page.locator("a[rel=next]").first.click()
        page.wait_for_url(re.compile(r".*page=2"))
        page.wait_for_load_state("networkidle")
        second_page = invoice_ids(visit)
        # htmx keeps no history cache (customers' data stays out of localStorage): going
        # back reloads the previous URL from the server.
        with page.expect_event("load"):
            page.go_back()
        page.wait_for_load_state("networkidle")
        assert "page=2" not in page.url
        assert invoice_ids(visit) != second_page
    visit.check_page("invoice list, filtered")

    # --- One invoice, against its tally.
    page.goto(f"{visit.url}/invoices/")
    invoice_id = first_page[0]
    page.locator(f"a[href='/invoices/{invoice_id}/']").click()
    page.wait_for_url(re.compile(rf".*/invoices/{invoice_id}/$"))
    tally = staff_get(api, token, f"/tally/Invoice/{invoice_id}", [])
    locale = locale_from_reply(staff_get(api, token, "/meta/locale", []))
    currencies = staff_get(api, token, "/data/Currency", [("fields[]", "iso4217")])["records"]
    iso = next(c["iso4217"] for c in currencies if c["id"] == tally["record"]["currency_id"])
    total = page.locator("[data-total=total]").inner_text()
    if iso == locale.base_currency.iso4217:
        assert total == format_money(tally["totals"]["total"], locale, "EUR")
    assert Decimal(re.sub(r"[^0-9.]", "", total)) == Decimal(tally["totals"]["total"])
    subtotal = page.locator("[data-total=subtotal]").inner_text()
    assert Decimal(re.sub(r"[^0-9.]", "", subtotal)) == Decimal(tally["totals"]["subtotal"])
    visit.check_page("invoice")
    visit.screenshot("invoice")

    with page.expect_download() as info:
        page.get_by_role("link", name="Download PDF").click()
    pdf = info.value.path().read_bytes()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert tally["record"]["full_number"] in text

    # --- A document, byte for byte.
    page.goto(f"{visit.url}/documents/")
    visit.check_page("documents")
    document_id = demo.own["Document"]  # a small one; the 200 MiB file is the gateway's
    link = page.locator(f"#list-results a[download][href='/documents/{document_id}/download']")
    if not link.count():
        page.goto(f"{visit.url}/documents/{document_id}/")
        link = page.get_by_role("link", name="Download", exact=True)
    with page.expect_download() as info:
        link.click()
    original = httpx.get(
        f"{api}/files/download/Document/{document_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).content
    assert info.value.path().read_bytes() == original
    page.goto(f"{visit.url}/documents/{document_id}/")
    visit.check_page("document")

    # --- Accept a quote.
    quote = new_awaiting_quote(emulator, demo.main.account_id, demo.main.contact_id)
    page.goto(f"{visit.url}/quotes/")
    visit.check_page("quotes")
    page.goto(f"{visit.url}/quotes/{quote['id']}/")
    visit.check_page("quote")
    page.get_by_role("button", name="Accept this quote").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("you accepted this quote").is_visible()
    stage = staff_get(api, token, f"/data/Quote/{quote['id']}", [])["record"]["quote_stage"]
    assert stage == "Closed Accepted"

    # --- Not found looks like not found; then sign out.
    page.goto(f"{visit.url}/invoices/{demo.foreign['Invoice']}/")
    assert page.get_by_role("heading", name="Page not found").is_visible()
    visit.check_page("not found")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state("networkidle")
    page.goto(f"{visit.url}/invoices/")
    assert "/login/" in page.url


@pytest.mark.parametrize(("viewport", "label"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_a_contacts_visit(chromium, portal_server, emulator, demo, viewport, label):
    visit = Visit(chromium, portal_server.url, viewport, label)
    try:
        run_visit(visit, emulator, demo)
    finally:
        visit.close()
    assert len(visit.scanned) >= 9
