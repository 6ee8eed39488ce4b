"""The dashboard (concurrent calls, balances per currency), and every page when the CRM is
down or slow."""

from __future__ import annotations

import datetime as dt
import re
import time
from decimal import Decimal

import pytest

from portal.formatting import format_money
from tests.pages.conftest import counted_calls, locale_from_reply, staff_get, staff_token

pytestmark = pytest.mark.django_db

VISIBLE_STAGES = ("Pending", "Partially Shipped", "Shipped", "Delivered")


def test_dashboard_balance_overdue_quotes_documents(contact_client, crm_pages, demo):
    token = staff_token(crm_pages.api_url)
    params = [("fields[]", f) for f in ("amount_due", "due_date", "cancelled", "currency_id",
                                         "shipping_stage")]  # fmt: skip
    params += [("filters[billing_account_id]", demo.main.account_id), ("limit", "200")]
    invoices = staff_get(crm_pages.api_url, token, "/data/Invoice", params)["records"]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    open_ones = [
        i
        for i in invoices
        if not i.get("cancelled")
        and crm_pages.demo_value("Invoice", "shipping_stage", i.get("shipping_stage"))
        in VISIBLE_STAGES
        and Decimal(i.get("amount_due") or "0") > 0
    ]
    balance = sum((Decimal(i.get("amount_due")) for i in open_ones), Decimal(0))
    overdue = sum(1 for i in open_ones if (i.get("due_date") or "9999") < today)
    # The CRM's formats in the page's language (a CRM's base locale may differ).
    locale = locale_from_reply(
        staff_get(crm_pages.api_url, token, "/meta/locale", [], accept_language="en")
    )

    response = contact_client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert format_money(balance, locale, "EUR") in html
    if overdue:
        assert f"{overdue} invoice" in html
        assert 'href="/invoices/?status=overdue"' in html
    assert "Quotes awaiting your decision" in html
    quote_params = [("fields[]", "quote_stage"), ("fields[]", "valid_until"), ("limit", "200")]
    quote_params.append(("filters[billing_account_id]", demo.main.account_id))
    quotes = staff_get(crm_pages.api_url, token, "/data/Quote", quote_params)["records"]
    waiting = {
        q["id"]
        for q in quotes
        if crm_pages.demo_value("Quote", "quote_stage", q.get("quote_stage"))
        in {"Delivered", "Negotiation"}
        and (q.get("valid_until") or "") >= today
    }
    shown = set(re.findall(r'href="/quotes/([0-9a-f-]+)/"', html))
    assert shown and shown <= waiting  # expired and decided quotes wait for nobody
    assert "Latest documents" in html
    assert 'href="/documents/' in html


def test_dashboard_calls_run_concurrently_and_are_counted(contact_client, crm_pages):
    contact_client.get("/")  # warm the locale and tokens
    for path in ("^/data/Invoice$", "^/data/Quote$", "/documents$|^/data/Document$"):
        crm_pages.control("POST", "faults", json={"path": path, "kind": "latency", "ms": 400})
    started = time.monotonic()
    with counted_calls() as log:
        response = contact_client.get("/")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    # The three boxes' calls (the open cases box's own are counted in its tests).
    assert len([call for call in log.calls if "aCase" not in call.path]) == 3
    assert elapsed < 1.0, "three 400 ms calls in parallel, not one after the other"


def box(html: str, key: str) -> str:
    match = re.search(rf'<section id="box-{key}".*?</section>', html, re.S)
    assert match, f"the dashboard has its {key} box"
    return match.group(0)


@pytest.mark.parametrize("failing", ["invoices", "quotes", "documents"])
def test_one_failing_box_leaves_the_others_rendered(contact_client, crm_pages, failing):
    # Documents: the account's link, or (a CRM that refuses it) the filtered list.
    paths = {"invoices": "^/data/Invoice$", "quotes": "^/data/Quote$",
             "documents": "/documents$|^/data/Document$"}  # fmt: skip
    healthy = contact_client.get("/").content.decode()
    crm_pages.control("POST", "faults", json={"path": paths[failing], "kind": "status",
                                              "status": 500})  # fmt: skip
    response = contact_client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    failed = box(html, failing)
    assert "card--failed" in failed and "This part could not be loaded just now." in failed
    # The retry: a plain link without JavaScript, and htmx reloads only this box.
    assert 'href="/"' in failed and f'hx-get="/" hx-select="#box-{failing}"' in failed
    for other in set(paths) - {failing}:
        assert box(html, other) == box(healthy, other), f"the {other} box is as before"


@pytest.mark.parametrize("url", ["/", "/invoices/", "/quotes/", "/documents/"])
def test_crm_down_gives_the_friendly_page(contact_client, crm_pages, demo, url):
    crm_pages.control("POST", "faults", json={"path": "^/(data|tally)/", "kind": "status",
                                              "status": 503})  # fmt: skip
    response = contact_client.get(url)
    assert response.status_code in {502, 503}
    assert b"Our records are not reachable right now" in response.content
    assert b"Try again" in response.content
    assert b"Traceback" not in response.content


def test_crm_down_for_htmx_goes_to_the_alert_region(contact_client, crm_pages):
    crm_pages.control("POST", "faults", json={"path": "^/data/", "kind": "status",
                                              "status": 503})  # fmt: skip
    response = contact_client.get("/invoices/?page=2", HTTP_HX_REQUEST="true")
    assert response.status_code in {502, 503}
    assert response["HX-Retarget"] == "#portal-alerts"
    assert b"<html" not in response.content


def test_sections_switched_off_are_not_found(contact_client, db):
    from portal.models import PortalSettings
    from portal.site_settings import forget_portal_settings

    PortalSettings.objects.filter(pk=PortalSettings.SINGLETON_ID).update(section_documents=False)
    forget_portal_settings()
    try:
        assert contact_client.get("/documents/").status_code == 404
        assert b"Latest documents" not in contact_client.get("/").content
    finally:
        forget_portal_settings()


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


def test_no_inline_script_or_style_on_any_page(contact_client, demo):
    """The CSP allows only our own files with a nonce: pages carry no inline code."""
    urls = [
        "/",
        "/invoices/",
        f"/invoices/{demo.own['Invoice']}/",
        "/quotes/",
        f"/quotes/{demo.own['Quote']}/",
        "/documents/",
        f"/documents/{demo.own['Document']}/",
    ]
    for url in urls:
        response = contact_client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, url
        assert INLINE_SCRIPT.findall(html) == [], url
        assert " style=" not in html and "<style" not in html, url
        assert "hx-on" not in html and "javascript:" not in html, url
        assert "script-src 'self' 'nonce-" in response["Content-Security-Policy"], url
