"""The German and the French portal in Chromium: a German browser gets the German sign-in
pages (the portal's and the CRM's), a contact on an English browser switches to French
with the keyboard alone, and every page stays axe clean and free of CSP violations.
Screenshots: docs/screenshots/*-de-*.png and *-fr-*.png."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_customer_pages import DEMO_PASSWORD, DESKTOP, PHONE, Visit

pytestmark = pytest.mark.browser


def lang(visit: Visit) -> str:
    return visit.page.locator("html").get_attribute("lang") or ""


def sign_in_through_the_crm(visit: Visit, email: str, *, button: str, crm_button: str) -> None:
    page = visit.page
    page.get_by_role("link", name=button).click()
    page.locator("#login").fill(email)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name=crm_button).click()
    page.wait_for_url(re.compile(r".*/invoices/$"))


def tab_to(visit: Visit, element_id: str, limit: int = 40) -> None:
    """Press Tab until the element has the focus (as a keyboard user would)."""
    page = visit.page
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} cannot be reached with Tab")


def choose_with_the_keyboard(visit: Visit, letter: str, code: str) -> None:
    """Tab to the header's language list, type-ahead to a language, Tab to the button,
    Enter: no mouse, no JavaScript of ours."""
    page = visit.page
    page.locator("body").focus()
    tab_to(visit, "header-language-select")
    page.keyboard.press(letter)
    assert page.locator("#header-language-select").input_value() == code
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.getAttribute('type')")
    assert focused == "submit"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert lang(visit) == code


@pytest.mark.parametrize(("viewport", "label"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_the_german_portal_for_a_german_browser(
    chromium, portal_server, emulator, demo, viewport, label
):
    visit = Visit(chromium, portal_server.url, viewport, label, locale="de-DE")
    page = visit.page
    try:
        page.goto(f"{visit.url}/invoices/")
        assert "/login/" in page.url and lang(visit) == "de"
        assert page.get_by_role("heading", name=re.compile("anmelden")).is_visible()
        visit.check_page("sign-in (de)")
        visit.screenshot("login-de")
        page.get_by_role("link", name="Mit Ihrem Konto anmelden").click()
        # The CRM's own sign-in page follows the browser too.
        assert page.get_by_label("Passwort").is_visible()
        page.locator("#login").fill(demo.main.email)
        page.locator("#password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Anmelden").click()
        page.wait_for_url(re.compile(r".*/invoices/$"))
        assert lang(visit) == "de"
        assert page.get_by_role("heading", name="Rechnungen").is_visible()
        # The CRM's German locale: "1.234,56 €"-style amounts.
        amounts = page.locator("#list-results td[data-label='Offener Betrag']").all_inner_texts()
        assert amounts and all(re.fullmatch(r"-?[\d.]+,\d{2}\s€", a.strip()) for a in amounts)
        visit.check_page("invoices (de)")
        visit.screenshot("invoices-de")
        page.locator("#list-results th[scope=row] a").first.click()
        page.wait_for_load_state("networkidle")
        assert page.get_by_role("link", name="PDF herunterladen").is_visible()
        visit.check_page("invoice (de)")
        visit.screenshot("invoice-de")
        page.goto(f"{visit.url}/")
        assert page.get_by_role("heading", name=re.compile("Willkommen")).is_visible()
        visit.check_page("dashboard (de)")
        visit.screenshot("dashboard-de")
        page.goto(f"{visit.url}/profile/")
        assert page.get_by_role("heading", name="Ihr Profil", exact=True).is_visible()
        visit.check_page("profile (de)")
        visit.screenshot("profile-de")
        page.goto(f"{visit.url}/invoices/{demo.foreign['Invoice']}/")  # another account's
        assert page.get_by_role("heading", name="Seite nicht gefunden").is_visible()
        visit.check_page("not found (de)")
    finally:
        visit.close()


@pytest.mark.parametrize(("viewport", "label"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_a_contact_switches_to_french_with_the_keyboard_and_it_sticks(
    chromium, portal_server, emulator, demo, viewport, label
):
    visit = Visit(chromium, portal_server.url, viewport, label, locale="en-US")
    page = visit.page
    try:
        page.goto(f"{visit.url}/invoices/")
        assert lang(visit) == "en"
        sign_in_through_the_crm(
            visit, demo.other.email, button="Sign in with your account", crm_button="Sign in"
        )
        page.goto(f"{visit.url}/")
        if lang(visit) != "en":  # an earlier run (the other viewport) chose French already
            choose_with_the_keyboard(visit, "E", "en")
        assert lang(visit) == "en"
        choose_with_the_keyboard(visit, "F", "fr")
        assert lang(visit) == "fr"
        assert page.get_by_role("heading", name=re.compile("Bienvenue")).is_visible()
        visit.check_page("dashboard (fr)")
        visit.screenshot("dashboard-fr")
        page.goto(f"{visit.url}/quotes/")
        assert page.get_by_role("heading", name="Devis").is_visible()
        visit.check_page("quotes (fr)")
        visit.screenshot("quotes-fr")
        page.locator("#list-results th[scope=row] a").first.click()
        page.wait_for_load_state("networkidle")
        visit.check_page("quote (fr)")
        visit.screenshot("quote-fr")
        page.goto(f"{visit.url}/documents/")
        visit.check_page("documents (fr)")
        page.goto(f"{visit.url}/profile/")
        assert page.get_by_role("heading", name="Votre profil", exact=True).is_visible()
        visit.check_page("profile (fr)")
        visit.screenshot("profile-fr")
        # Signed out, then in again on a fresh browser in English: still French.
        page.get_by_role("button", name="Se déconnecter").click()
        page.wait_for_load_state("networkidle")
        assert "/login/" in page.url and lang(visit) == "fr"
        visit.check_page("sign-in (fr)")
        visit.screenshot("login-fr")
    finally:
        visit.close()
    again = Visit(chromium, portal_server.url, viewport, label, locale="en-US")
    try:
        again.page.goto(f"{again.url}/invoices/")
        assert lang(again) == "en"  # nobody known yet: the browser decides
        sign_in_through_the_crm(
            again, demo.other.email, button="Sign in with your account", crm_button="Sign in"
        )
        assert lang(again) == "fr"
        assert again.page.get_by_role("heading", name="Factures").is_visible()
    finally:
        again.close()
