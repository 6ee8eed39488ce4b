"""The dashboard (concurrent calls, balances per currency), and every page when the CRM is
down or slow."""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import replace
from decimal import Decimal
from urllib.parse import unquote

import httpx2 as httpx
import pytest

from portal.formatting import format_money
from tests.emulator_server import most_at_once
from tests.pages.conftest import (
    DemoContact,
    counted_calls,
    crm_requests,
    locale_from_reply,
    sign_in,
    staff_get,
    staff_token,
)

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


def test_dashboard_calls_run_concurrently_and_are_counted(contact_client, crm_pages, settings):
    settings.DASHBOARD_BALANCE_TTL = 0  # the balance read on every visit, as on a first one
    contact_client.get("/")  # warm the locale and tokens
    boxes = ("^/data/Invoice$", "^/data/Quote$", "/documents$|^/data/Document$")
    for path in boxes:
        crm_pages.control("POST", "faults", json={"path": path, "kind": "latency", "ms": 1000})
    crm_pages.control("DELETE", "requests")
    with counted_calls() as log:
        response = contact_client.get("/")
    assert response.status_code == 200
    # The three boxes' calls (the open cases box's own are counted in its tests).
    assert len([call for call in log.calls if "aCase" not in call.path]) == 3
    # In parallel, not one after the other: by the CRM's own log, all three were under
    # way at one instant (each held 1 s there: only arrivals more than a second apart,
    # not a slow machine, could keep them from overlapping).
    held = [e for e in crm_requests(crm_pages) if any(re.search(p, e["path"]) for p in boxes)]
    assert len(held) == 3, held
    assert most_at_once(held) == 3, held


def box(html: str, key: str) -> str:
    match = re.search(rf'<section id="box-{key}".*?</section>', html, re.S)
    assert match, f"the dashboard has its {key} box"
    return match.group(0)


@pytest.mark.parametrize("failing", ["invoices", "quotes", "documents"])
def test_one_failing_box_leaves_the_others_rendered(contact_client, crm_pages, settings, failing):
    settings.DASHBOARD_BALANCE_TTL = 0  # the balance read on every visit (its box may fail)
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


# --- The balance, cached per account (issue 18) -----------------------------------------

BALANCE = re.compile(r'<li class="balances__amount" data-amount="([^"]+)" data-currency="([^"]*)"')


def shown_balances(html: str) -> dict[str, Decimal]:
    return {
        currency: Decimal(amount) for amount, currency in BALANCE.findall(box(html, "invoices"))
    }


def open_invoices(crm, account_id: str) -> list[dict]:
    """The account's open invoices contacts see, read with the staff credential, page by page."""
    token = staff_token(crm.api_url)
    fields = ("amount_due", "cancelled", "currency_id", "shipping_stage", "billing_account_id")
    found, offset = [], 0
    while True:
        params = [("fields[]", f) for f in fields] + [("limit", "200"), ("offset", str(offset))]
        params.append(("filters[billing_account_id]", account_id))
        reply = staff_get(crm.api_url, token, "/data/Invoice", params)
        found += reply["records"]
        offset += len(reply["records"])
        if not reply["records"] or offset >= int(reply["total_results"]):
            break
    return [
        i
        for i in found
        if i.get("cancelled") in (None, False, 0, "0", "")
        and crm.demo_value("Invoice", "shipping_stage", i.get("shipping_stage")) in VISIBLE_STAGES
        and Decimal(str(i.get("amount_due") or "0")) > 0
    ]


def crm_balances(crm, account_id: str) -> dict[str, Decimal]:
    """What the account owes per currency, summed here from the CRM's records."""
    sums: dict[str, Decimal] = {}
    for invoice in open_invoices(crm, account_id):
        currency = invoice.get("currency_id") or ""
        sums[currency] = sums.get(currency, Decimal(0)) + Decimal(str(invoice["amount_due"]))
    return sums


def invoice_reads(calls: list[dict]) -> list[dict]:
    """The open invoices' readings among the emulator's logged calls."""
    return [e for e in calls if e["path"] == "/data/Invoice"]


def read_for(call: dict, person: DemoContact) -> bool:
    """A call made for this person: with their own token, or with the staff credential
    scoped to their account."""
    if call["contact_id"]:
        return call["contact_id"] == person.contact_id
    return person.account_id in unquote(call["query"])


def visit(client, crm) -> tuple[str, list[dict]]:
    """The dashboard, and the CRM calls it made (the emulator's request log)."""
    crm.control("DELETE", "requests")
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode(), crm_requests(crm)


@pytest.mark.parametrize("data_access", ["portal_auth", "contact_token", "staff"])
def test_a_second_visit_within_the_ttl_reads_no_invoice_and_shows_the_same_figure(
    client, crm_pages, demo, settings, data_access
):
    settings.DASHBOARD_BALANCE_TTL = 600
    settings.ONECRM_DATA_ACCESS = data_access
    sign_in(client, crm_pages.api_url, demo.main, data_access=data_access)
    want = crm_balances(crm_pages, demo.main.account_id)
    assert want, "the comparison means something: the account owes something"
    settings.DASHBOARD_BALANCE_TTL = 0
    visit(client, crm_pages)  # tokens, locale, what the CRM offers: learned, nothing kept
    settings.DASHBOARD_BALANCE_TTL = 600

    first, first_calls = visit(client, crm_pages)
    assert shown_balances(first) == want
    assert invoice_reads(first_calls), "the first visit reads them"
    assert 'id="balance-as-of"' not in first  # read just now

    second, second_calls = visit(client, crm_pages)
    assert shown_balances(second) == want
    assert not invoice_reads(second_calls)
    # The other boxes' calls, as before: the second visit costs what a page without the
    # balance costs, whatever the account's size.
    others = sorted((e["method"], e["path"]) for e in first_calls if e["path"] != "/data/Invoice")
    assert sorted((e["method"], e["path"]) for e in second_calls) == others
    assert box(first, "invoices").count("balances__amount") == len(want)
    as_of = re.search(
        r'id="balance-as-of"><time datetime="([^"]+)">As of ([^<]+) UTC</time>', second
    )
    assert as_of, "the box says the figure is from the cache, and since when"
    moment = dt.datetime.fromisoformat(as_of.group(1))
    assert dt.timedelta(0) <= dt.datetime.now(dt.UTC) - moment < dt.timedelta(minutes=10)
    assert "updated at most every 10 minutes" in second
    # The aging line is the cached one too.
    assert re.findall(r'<li data-aging="[^"]*">.*?</li>', box(second, "invoices")) == re.findall(
        r'<li data-aging="[^"]*">.*?</li>', box(first, "invoices")
    )


def portal_colleague(crm, person: DemoContact) -> DemoContact:
    token = staff_token(crm.api_url)
    params = [("fields[]", f) for f in ("first_name", "last_name", "email1", "portal_active")]
    params += [("filters[primary_account_id]", person.account_id), ("limit", "200")]
    contacts = staff_get(crm.api_url, token, "/data/Contact", params)["records"]
    others = [c for c in contacts if c["id"] != person.contact_id]
    assert others, "the demo's main account has a second contact"
    return replace(person, contact_id=others[0]["id"], email=others[0].get("email1") or "")


@pytest.mark.parametrize("data_access", ["portal_auth", "staff"])
def test_another_account_never_sees_the_figure_and_a_colleague_shares_it(
    client, crm_pages, demo, settings, data_access
):
    """With the staff credential the account's contacts share the kept figure; with a
    contact's own token (which may see less than the account) each has their own."""
    settings.DASHBOARD_BALANCE_TTL = 600
    settings.ONECRM_DATA_ACCESS = data_access
    main_owes = crm_balances(crm_pages, demo.main.account_id)
    other_owes = crm_balances(crm_pages, demo.other.account_id)
    assert main_owes != other_owes, "the comparison means something"
    sign_in(client, crm_pages.api_url, demo.main, data_access=data_access)
    html, _calls = visit(client, crm_pages)
    assert shown_balances(html) == main_owes

    # Another account's contact, in a new session: their own figure, read from the CRM.
    client.logout()
    sign_in(client, crm_pages.api_url, demo.other, data_access=data_access)
    html, calls = visit(client, crm_pages)
    assert shown_balances(html) == other_owes
    assert 'id="balance-as-of"' not in html
    assert invoice_reads(calls)
    assert all(read_for(e, demo.other) for e in invoice_reads(calls))
    # Whatever the request says: the figure is the session's account's.
    for query in (f"?account_id={demo.main.account_id}", f"?contact_id={demo.main.contact_id}"):
        crm_pages.control("DELETE", "requests")
        assert shown_balances(client.get("/" + query).content.decode()) == other_owes

    # A colleague on the main account: with the staff credential the account's kept
    # figure, no invoice read; with their own token, their own reading.
    client.logout()
    colleague = portal_colleague(crm_pages, demo.main)
    sign_in(client, crm_pages.api_url, colleague, data_access=data_access)
    html, calls = visit(client, crm_pages)
    assert shown_balances(html) == main_owes
    if data_access == "staff":
        assert 'id="balance-as-of"' in html
        assert not invoice_reads(calls)
    else:
        assert 'id="balance-as-of"' not in html
        assert invoice_reads(calls)
        assert all(read_for(e, colleague) for e in invoice_reads(calls))


def test_after_the_ttl_the_crms_new_figure_shows(
    contact_client, crm_pages, demo, settings, monkeypatch
):
    from portal.statement import balance

    settings.DASHBOARD_BALANCE_TTL = 600
    owes = crm_balances(crm_pages, demo.main.account_id)
    first, _calls = visit(contact_client, crm_pages)
    assert shown_balances(first) == owes
    # Staff enter a payment in the CRM: an open invoice owes 100 less.
    invoice = max(
        open_invoices(crm_pages, demo.main.account_id), key=lambda i: Decimal(str(i["amount_due"]))
    )
    was = Decimal(str(invoice["amount_due"]))
    assert was > 100
    currency = invoice.get("currency_id") or ""

    def set_due(amount: Decimal) -> None:
        reply = httpx.patch(
            f"{crm_pages.api_url}/data/Invoice/{invoice['id']}",
            json={"data": {"amount_due": str(amount)}},
            headers={"Authorization": f"Bearer {staff_token(crm_pages.api_url)}"},
            timeout=10,
        )
        reply.raise_for_status()

    set_due(was - 100)
    try:
        within, calls = visit(contact_client, crm_pages)
        assert shown_balances(within) == owes  # the cached figure, as it says
        assert 'id="balance-as-of"' in within
        assert not invoice_reads(calls)
        # Just before the TTL: still the cached figure; at the TTL, the CRM's.
        now = time.time()
        monkeypatch.setattr(balance, "_clock", lambda: now + 599)
        assert shown_balances(visit(contact_client, crm_pages)[0]) == owes
        monkeypatch.setattr(balance, "_clock", lambda: now + 600)
        after, calls = visit(contact_client, crm_pages)
        assert invoice_reads(calls)
        assert shown_balances(after) == {**owes, currency: owes[currency] - 100}
        assert 'id="balance-as-of"' not in after
        # ... and that figure is kept again from then on.
        again, calls = visit(contact_client, crm_pages)
        assert shown_balances(again) == shown_balances(after)
        assert not invoice_reads(calls)
    finally:
        set_due(was)


def test_a_failed_reading_is_not_kept(contact_client, crm_pages, demo, settings):
    settings.DASHBOARD_BALANCE_TTL = 600
    crm_pages.control("POST", "faults", json={"path": "^/data/Invoice$", "kind": "status",
                                              "status": 500, "times": 1})  # fmt: skip
    html, _calls = visit(contact_client, crm_pages)
    assert "card--failed" in box(html, "invoices")
    html, calls = visit(contact_client, crm_pages)  # the next visit reads it again
    assert invoice_reads(calls)
    assert shown_balances(html) == crm_balances(crm_pages, demo.main.account_id)


# --- The same for accounts of different sizes (an emulator of their own) -----------------

SMALL, LARGE = 250, 2500  # about 60 and 600 open invoices: one page, and four


@pytest.fixture(scope="module")
def large_accounts(tmp_path_factory):
    """An emulator with two large accounts added (the session's keeps the demo's data)."""
    import subprocess
    import sys

    from tests.conftest import EMULATOR_PROFILE
    from tests.emulator_server import ROOT, start_emulator

    server = start_emulator(tmp_path_factory.mktemp("large-accounts"), profile=EMULATOR_PROFILE)
    try:
        command = [sys.executable, str(ROOT / "manage.py"), "seed_emulator"]
        command += ["--large-account", str(SMALL), "--large-account", str(LARGE)]
        subprocess.run(command, env=server.env, cwd=ROOT, check=True, capture_output=True)
        yield server
    finally:
        server.stop()


@pytest.fixture
def large_crm(large_accounts, settings):
    from crm_gateway import capabilities, forget_cached_tokens

    large_accounts.reset_controls()
    settings.ONECRM_API_URL = large_accounts.api_url
    settings.ONECRM_DATA_ACCESS = "portal_auth"
    settings.DASHBOARD_BALANCE_TTL = 600
    forget_cached_tokens()
    capabilities.forget()
    return large_accounts


def large_person(crm, size: int) -> DemoContact:
    from crm_emulator.large_account import large_account_email

    token = staff_token(crm.api_url)
    params = [("fields[]", "primary_account_id"), ("fields[]", "email1"), ("limit", "200")]
    contacts = staff_get(crm.api_url, token, "/data/Contact", params)["records"]
    (contact,) = [c for c in contacts if c.get("email1") == large_account_email(size)]
    return DemoContact(contact["id"], contact["primary_account_id"], f"Buyer {size}", "", "")


def test_a_kept_balance_costs_the_same_calls_for_a_small_and_a_large_account(
    client, large_crm, settings, db
):
    cost = {}
    for size in (SMALL, LARGE):
        client.logout()
        person = large_person(large_crm, size)
        sign_in(client, large_crm.api_url, person)
        settings.DASHBOARD_BALANCE_TTL = 0
        visit(client, large_crm)  # tokens, locale, what the CRM offers: learned
        settings.DASHBOARD_BALANCE_TTL = 600
        first, first_calls = visit(client, large_crm)
        kept, kept_calls = visit(client, large_crm)
        assert (
            shown_balances(first)
            == shown_balances(kept)
            == crm_balances(large_crm, person.account_id)
        )
        assert not invoice_reads(kept_calls)
        cost[size] = (len(invoice_reads(first_calls)), len(kept_calls))
    assert cost[LARGE][0] > cost[SMALL][0] >= 1, "the first visit reads every open invoice"
    assert cost[LARGE][1] == cost[SMALL][1], "a visit within the TTL: the same calls"


def test_the_first_reading_stops_at_the_record_cap_and_the_kept_figure_says_so(
    client, large_crm, db
):
    from portal.models import PortalSettings
    from portal.site_settings import forget_portal_settings

    PortalSettings.objects.filter(pk=PortalSettings.SINGLETON_ID).update(statement_max_records=200)
    forget_portal_settings()
    try:
        sign_in(client, large_crm.api_url, large_person(large_crm, LARGE))
        first, first_calls = visit(client, large_crm)
        kept, kept_calls = visit(client, large_crm)
    finally:
        forget_portal_settings()
    limits = [int(e["query"].split("limit=")[1].split("&")[0]) for e in invoice_reads(first_calls)]
    assert limits and sum(limits) <= 200
    assert not invoice_reads(kept_calls)
    for html in (first, kept):
        assert "(at least)" in box(html, "invoices")
        assert "Counted from the first 200 invoices read; there are more." in html
    assert 'id="balance-as-of"' in kept and 'id="balance-as-of"' not in first
