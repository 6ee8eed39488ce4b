"""The statement of account in Chromium (issue 15): the page on a desktop and at 360 px,
another period through the form, a bad date, and the PDF and CSV downloads, each
page scanned with axe-core and free of CSP violations. Screenshots land in
docs/screenshots/ (statement-desktop.png, statement-phone.png)."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from pypdf import PdfReader

from tests.browser.test_customer_pages import DESKTOP, PHONE, Visit, sign_in

pytestmark = pytest.mark.browser


def amounts(page, selector: str) -> list[Decimal]:
    values = page.locator(selector).evaluate_all(
        "cells => cells.map(c => c.getAttribute('data-amount'))"
    )
    return [Decimal(value) for value in values]


def run_statement(visit: Visit, demo) -> None:
    page = visit.page
    sign_in(visit, demo.main.email)
    page.goto(f"{visit.url}/")
    visit.nav_link("Statement").click()
    page.wait_for_url(re.compile(r".*/statement/$"))
    assert page.get_by_role("heading", name="Statement of account").is_visible()
    assert page.locator("[data-invoice]").count() > 0
    visit.check_page("statement")
    visit.screenshot("statement")
    due = sum(amounts(page, '[data-total="due"]'), Decimal(0))

    # Another period, through the form.
    page.locator("#statement-period").select_option("last_12_months")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r".*/statement/\?period=last_12_months&.*"))
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-payment]").count() > 0
    visit.check_page("statement, last 12 months")

    # The files, as the browser downloads them.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    pdf = download.value
    assert pdf.suggested_filename.endswith(".pdf")
    reader = PdfReader(io.BytesIO(open(pdf.path(), "rb").read()))  # noqa: SIM115
    text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    assert demo.main.account_name in text and "Page 1 of" in text
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV (spreadsheet)").click()
    sheet = download.value
    assert sheet.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(open(sheet.path(), encoding="utf-8-sig").read())))  # noqa: SIM115
    shown_due = sum(amounts(page, '[data-total="due"]'), Decimal(0))
    assert sum(Decimal(r["Amount due"]) for r in rows if r["Type"] == "Invoice") == shown_due
    assert shown_due == due  # open items count to today whichever period ends today

    # A date that is not one: the form says so and keeps what was typed.
    page.goto(f"{visit.url}/statement/?period=custom&from=31.12.2025")
    assert page.locator("#statement-from").input_value() in {"", "31.12.2025"}
    assert page.get_by_role("alert").is_visible()
    assert "is not a date we can read" in page.locator("#statement-errors").inner_text()
    visit.check_page("statement, bad date")


@pytest.mark.parametrize(("viewport", "label"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_the_statement_in_a_browser(chromium, portal_server, demo, viewport, label):
    visit = Visit(chromium, portal_server.url, viewport, label)
    try:
        run_statement(visit, demo)
    finally:
        visit.close()
    assert len(visit.scanned) == 3
