"""Support cases and the knowledge base in Chromium, on a desktop and at 360 px: the cases
list and its priority filter, opening a case with the keyboard (a validation error keeps
what was typed, the subject suggests articles), with an attachment, the case in the list,
a comment on its page, and a search of the knowledge base to an article. Every page is
scanned with axe-core (no serious or critical violation), logs no CSP violation and does
not scroll sideways. Screenshots: docs/screenshots/cases-*, case-*, help-*, article-*."""

from __future__ import annotations

import re

import pytest

from crm_emulator.demo_data import make_png
from tests.browser.test_customer_pages import DESKTOP, PHONE, Visit, sign_in
from tests.browser.test_languages import tab_to

pytestmark = pytest.mark.browser


def run_visit(visit: Visit, demo, tmp_path) -> None:
    page = visit.page
    sign_in(visit, demo.main.email)

    # --- The cases list, filtered by priority (htmx swaps the table, the URL follows).
    page.goto(f"{visit.url}/cases/")
    assert page.get_by_role("heading", name="Support cases").is_visible()
    visit.check_page("cases list")
    visit.screenshot("cases")
    page.locator("#list-priority").select_option("P1")
    page.wait_for_url(re.compile(r".*priority=P1"))
    page.wait_for_load_state("networkidle")
    visit.check_page("cases list, high priority")

    # --- A new case with the keyboard alone: a missing description keeps the subject.
    page.get_by_role("link", name="Open a new case").first.click()
    page.wait_for_url(re.compile(r".*/cases/new/$"))
    visit.check_page("new case")
    subject = "batteries"  # as the knowledge base words it: articles are suggested
    page.locator("body").focus()
    tab_to(visit, "case-subject", limit=60)
    page.keyboard.type(subject)
    # The subject suggests articles (htmx, after a pause).
    page.locator("#case-suggestions a[href^='/help/articles/']").first.wait_for()
    with page.expect_navigation():
        page.keyboard.press("Enter")  # submits the form, the description still empty
    assert page.locator("[role=alert]").first.is_visible()
    assert page.locator("#case-subject").input_value() == subject
    assert page.locator("#case-description").get_attribute("aria-invalid") == "true"
    visit.check_page("new case with an error")
    visit.screenshot("case-new-error")
    page.locator("body").focus()
    tab_to(visit, "case-description", limit=80)
    page.keyboard.type("Since Monday the charger only blinks red.")
    screenshot = tmp_path / "charger.png"
    screenshot.write_bytes(make_png(40, 20, 3))
    page.locator("#case-attachments").set_input_files(str(screenshot))
    tab_to(visit, "case-attachments", limit=20)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('type')") == "submit"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/cases/[0-9a-f-]+/$"))
    case_url = page.url
    assert page.get_by_role("heading", name=re.compile(r"Case \d+")).is_visible()
    assert page.get_by_role("link", name="charger.png").is_visible()

    # --- A comment on the case's page, with the keyboard.
    page.locator("body").focus()
    tab_to(visit, "comment-body", limit=120)
    page.keyboard.type("The serial number is DR-2041.")
    tab_to(visit, "comment-attachments", limit=5)
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator(".message__text", has_text="The serial number is DR-2041.").is_visible()
    visit.check_page("case with a comment")
    visit.screenshot("case")

    # --- It is in the list.
    page.goto(f"{visit.url}/cases/")
    link = page.locator(f"#list-results a[href='{case_url.removeprefix(visit.url)}']")
    assert link.count() == 2  # its number and its subject

    # --- The knowledge base: search, then an article.
    page.goto(f"{visit.url}/help/")
    visit.check_page("knowledge base")
    visit.screenshot("help")
    page.locator("#help-q").fill("batteries")
    page.locator("#help-q").press("Enter")
    page.wait_for_url(re.compile(r".*/help/\?q=batteries"))
    page.wait_for_load_state("networkidle")
    visit.check_page("knowledge base search")
    page.locator("#help-results a[href^='/help/articles/']").first.click()
    page.wait_for_url(re.compile(r".*/help/articles/[0-9a-f-]+/$"))
    visit.check_page("article")
    visit.screenshot("article")


@pytest.mark.parametrize(("viewport", "label"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_cases_and_the_knowledge_base(
    chromium, portal_server, emulator, demo, viewport, label, tmp_path
):
    visit = Visit(chromium, portal_server.url, viewport, label)
    try:
        run_visit(visit, demo, tmp_path)
    finally:
        visit.close()
    assert len(visit.scanned) == 8
