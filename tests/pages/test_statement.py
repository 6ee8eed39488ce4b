"""The statement of account (issue 15): `/statement/`, its PDF and its CSV, against an
independent reading of the emulator's records with the staff credential, for two
contacts of two accounts and two periods, on the default and the strict emulator.

The independent computation (`expected`) reads every invoice and payment of the account
straight from the emulator (staff token, all pages) and applies the statement's rules on
its own: not cancelled, an amount due above zero, a shipping stage the portal shows, an
invoice date up to the period's end; days past due to today; payments dated within the
period. The page says the same in its `data-` attributes (plain decimals).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from html import unescape
from importlib import import_module
from urllib.parse import parse_qs

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from pypdf import PdfReader

from crm_gateway import capabilities, forget_cached_tokens
from portal.formatting import format_money
from portal.models import DEFAULT_INVOICE_STAGES, ActivityEvent, ActivityKind, PortalSettings
from portal.signin.session import SESSION_KEY
from portal.site_settings import forget_portal_settings
from portal.statement.ledger import bucket_of
from portal.statement.period import named_period, read_period
from tests.pages.conftest import (
    crm_requests,
    demo_of,
    locale_from_reply,
    sign_in,
    signed_in_contact,
    staff_get,
    staff_token,
    streamed,
)

pytestmark = pytest.mark.django_db

TODAY = dt.datetime.now(dt.UTC).date()
BUCKETS = ("current", "1_30", "31_60", "61_90", "over_90")


# --- The independent computation -------------------------------------------------------


def every(api: str, token: str, model: str, fields: list[str], **filters: str) -> list[dict]:
    records, offset = [], 0
    while True:
        params = [("fields[]", name) for name in fields]
        params += [(f"filters[{key}]", value) for key, value in filters.items()]
        params += [("limit", "200"), ("offset", str(offset))]
        reply = staff_get(api, token, f"/data/{model}", params)
        records += reply["records"]
        offset += len(reply["records"])
        if not reply["records"] or offset >= int(reply["total_results"]):
            return records


def truthy(value) -> bool:
    return value in (True, 1, "1", "true", "True")


@dataclass
class Expected:
    open_items: dict[str, set[str]] = field(default_factory=dict)  # currency -> ids
    aging: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    payments: dict[str, set[str]] = field(default_factory=dict)
    paid: dict[str, Decimal] = field(default_factory=dict)
    numbers: list[str] = field(default_factory=list)

    def due(self, currency: str) -> Decimal:
        return sum(self.aging[currency].values(), Decimal(0))


def expected(server, account_id: str, start: dt.date, end: dt.date) -> Expected:
    """`server`'s records (an EmulatorServer): its stages are read as the demo's, which
    the shipped stage settings name (the strict profile's `Offen` is `Pending`)."""
    api = server.api_url
    token = staff_token(api)
    out = Expected()
    fields = ["full_number", "invoice_date", "due_date", "amount_due", "currency_id",
              "cancelled", "shipping_stage", "billing_account_id"]  # fmt: skip
    for invoice in every(api, token, "Invoice", fields, billing_account_id=account_id):
        assert invoice["billing_account_id"] == account_id
        due = Decimal(str(invoice.get("amount_due") or "0"))
        if truthy(invoice.get("cancelled")) or due <= 0:
            continue
        stage = server.demo_value("Invoice", "shipping_stage", invoice.get("shipping_stage"))
        if stage and stage not in DEFAULT_INVOICE_STAGES:
            continue
        if invoice.get("invoice_date") and invoice["invoice_date"][:10] > end.isoformat():
            continue
        currency = invoice.get("currency_id") or ""
        days = 0
        if invoice.get("due_date"):
            days = max(0, (TODAY - dt.date.fromisoformat(invoice["due_date"][:10])).days)
        out.open_items.setdefault(currency, set()).add(invoice["id"])
        aging = out.aging.setdefault(currency, dict.fromkeys(BUCKETS, Decimal(0)))
        aging[bucket_of(days)] += due
        out.numbers.append(invoice["full_number"])
    fields = ["full_number", "payment_date", "amount", "currency_id", "account_id"]
    for payment in every(api, token, "Payment", fields, account_id=account_id):
        day = (payment.get("payment_date") or "")[:10]
        if not day or not start.isoformat() <= day <= end.isoformat():
            continue
        currency = payment.get("currency_id") or ""
        out.payments.setdefault(currency, set()).add(payment["id"])
        out.paid[currency] = out.paid.get(currency, Decimal(0)) + Decimal(str(payment["amount"]))
        out.aging.setdefault(currency, dict.fromkeys(BUCKETS, Decimal(0)))
    return out


# --- What the page says ----------------------------------------------------------------

SECTION = re.compile(
    r'<section class="statement__currency" data-currency="([^"]*)".*?</section>', re.S
)
OPEN_ROW = re.compile(r'<tr data-invoice="([^"]+)" data-bucket="[^"]+" data-amount="([^"]+)"')
AGING_CELL = re.compile(
    r'<td class="num" data-label="[^"]*" data-bucket="(\w+)" data-amount="([^"]+)"'
)
TOTAL = re.compile(r'data-total="(due|paid)" data-amount="([^"]+)"')
PAYMENT_ROW = re.compile(r'<tr data-payment="([^"]+)" data-amount="([^"]+)"')


@dataclass
class Shown:
    order: list[str]  # open items' ids, as listed
    item_sum: Decimal
    aging: dict[str, Decimal]
    totals: dict[str, Decimal]
    payments: set[str]


def shown(html: str) -> dict[str, Shown]:
    """Per currency, what the statement page lists and sums (from its data- attributes)."""
    out = {}
    for match in SECTION.finditer(html):
        body = match.group(0)
        rows = OPEN_ROW.findall(body)
        out[match.group(1)] = Shown(
            order=[record_id for record_id, _ in rows],
            item_sum=sum((Decimal(amount) for _, amount in rows), Decimal(0)),
            aging={key: Decimal(value) for key, value in AGING_CELL.findall(body)},
            totals={key: Decimal(value) for key, value in TOTAL.findall(body)},
            payments={record_id for record_id, _ in PAYMENT_ROW.findall(body)},
        )
    return out


def assert_statement_matches(html: str, want: Expected) -> None:
    got = shown(html)
    assert set(got) == set(want.aging)
    for currency, part in got.items():
        assert set(part.order) == want.open_items.get(currency, set()), currency
        assert len(part.order) == len(set(part.order))
        assert part.aging == want.aging[currency], currency
        assert part.totals["due"] == part.item_sum == want.due(currency), currency
        assert part.payments == want.payments.get(currency, set()), currency
        assert part.totals.get("paid", Decimal(0)) == want.paid.get(currency, Decimal(0))


# --- Fixtures --------------------------------------------------------------------------


def fresh(server, profile: str | None = None) -> None:
    if profile is not None:
        server.reset_controls(profile)
    cache.clear()
    capabilities.forget()
    forget_cached_tokens()
    forget_portal_settings()


@pytest.fixture(scope="module")
def strict_people(strict_emulator):
    strict_emulator.reset_controls("default")
    return demo_of(strict_emulator)


PERIODS = [("", "this_year"), ("?period=last_year", "last_year")]


@pytest.mark.parametrize("profile", ["default", "strict"])
@pytest.mark.parametrize(("query", "period"), PERIODS)
@pytest.mark.parametrize("who", ["main", "other"])
def test_the_statement_equals_an_independent_reading_of_the_crm(
    client, crm, strict_emulator, demo, settings, profile, query, period, who
):
    server = crm if profile == "default" else strict_emulator
    if profile == "strict":
        people = demo_of(_default_controls(strict_emulator))
        settings.ONECRM_API_URL = strict_emulator.api_url
        # The installation's own stage keys too: the shipped stage settings name 1CRM's
        # standard stages, which the portal reads as this CRM's keys.
        fresh(strict_emulator, "strict")
    else:
        people = demo
        fresh(crm)
    person = getattr(people, who)
    settings.ONECRM_DATA_ACCESS = "portal_auth"
    sign_in(client, server.api_url, person)
    response = client.get(f"/statement/{query}")
    assert response.status_code == 200
    html = response.content.decode()
    span = named_period(period, TODAY)
    assert f'data-period-start="{span.start.isoformat()}"' in html
    want = expected(server, person.account_id, span.start, span.end)
    assert want.aging, "the comparison means something: the account has a statement"
    assert_statement_matches(html, want)
    assert "box-error" not in html and "statement-stopped" not in html
    # Oldest first.
    token = staff_token(server.api_url)
    for currency, part in shown(html).items():
        dates = [invoice_date(server.api_url, token, i) for i in part.order[:20]]
        assert dates == sorted(dates), currency
    if profile == "strict":
        strict_emulator.reset_controls("strict")


def invoice_date(api: str, token: str, invoice_id: str) -> str:
    record = staff_get(api, token, f"/data/Invoice/{invoice_id}", [("fields[]", "invoice_date")])
    return record["record"]["invoice_date"][:10]


def _default_controls(server):
    server.reset_controls("default")
    return server


# --- The PDF and the CSV: the same statement as the page -------------------------------


NUMBER = re.compile(r'<tr data-invoice="[^"]+"[^>]*>\s*<th[^>]*><a href="[^"]+">([^<]+)<')


def pdf_text(body: bytes) -> str:
    reader = PdfReader(io.BytesIO(body))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return " ".join(text.replace("\u00a0", " ").split())


def spaced(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split())


async def page_and_files(client, query: str = "") -> tuple[str, bytes, bytes]:
    page = await client.get(f"/statement/{query}")
    assert page.status_code == 200
    pdf = await client.get(f"/statement.pdf{query}")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"].startswith("attachment")
    csv_file = await client.get(f"/statement.csv{query}")
    assert csv_file.status_code == 200
    assert csv_file["Content-Type"] == "text/csv; charset=utf-8"
    assert csv_file["Content-Disposition"].startswith("attachment")
    return page.content.decode(), await streamed(pdf), await streamed(csv_file)


@pytest.mark.parametrize("query", ["", "?period=last_year"])
async def test_the_pdf_and_the_csv_say_what_the_page_says(
    async_contact_client, crm_pages, demo, query
):
    html, pdf, csv_bytes = await page_and_files(async_contact_client, query)
    token = staff_token(crm_pages.api_url)
    # The CRM's formats in the page's language (a CRM's base locale may differ).
    locale = locale_from_reply(
        staff_get(crm_pages.api_url, token, "/meta/locale", [], accept_language="en")
    )
    currencies = shown(html)
    assert currencies and any(part.order for part in currencies.values())

    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert demo.main.account_name in text
    assert "Statement of account" in text and re.search(r"Page 1 of \d+", text)
    numbers = set(
        re.findall(r'data-invoice="[^"]+"[^>]*>\s*<th[^>]*><a href="[^"]+">([^<]+)<', html)
    )
    assert numbers and all(number in text for number in numbers)
    for currency, part in currencies.items():
        for amount in [*part.aging.values(), part.totals["due"]]:
            assert spaced(format_money(amount, locale, currency)) in text, (currency, amount)

    currencies_reply = staff_get(
        crm_pages.api_url, token, "/data/Currency", [("fields[]", "iso4217")]
    )
    iso_codes = {c["id"]: c["iso4217"] for c in currencies_reply["records"]}
    assert csv_bytes.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
    assert rows and set(rows[0]) >= {"Type", "Number", "Date", "Currency", "Amount", "Amount due"}
    for row in rows:
        dt.date.fromisoformat(row["Date"])
        assert re.fullmatch(r"-?\d+\.\d{2}", row["Amount"]), row
    for currency, part in currencies.items():
        code = iso_codes.get(currency, currency)
        invoices = [r for r in rows if r["Type"] == "Invoice" and r["Currency"] == code]
        payments = [r for r in rows if r["Type"] == "Payment" and r["Currency"] == code]
        assert sum(Decimal(r["Amount due"]) for r in invoices) == part.totals["due"]
        assert sum((Decimal(r["Amount"]) for r in payments), Decimal(0)) == part.totals.get(
            "paid", Decimal(0)
        )
        assert {r["Number"] for r in invoices} <= numbers
        assert len(invoices) == len(part.order) and len(payments) == len(part.payments)


async def test_the_files_leave_activity_entries_with_their_line_counts(
    async_contact_client, crm_pages, demo
):
    html, _pdf, _csv = await page_and_files(async_contact_client, "?period=last_12_months")
    lines = sum(len(part.order) + len(part.payments) for part in shown(html).values())
    for kind in (
        ActivityKind.STATEMENT_VIEWED,
        ActivityKind.STATEMENT_PDF,
        ActivityKind.STATEMENT_CSV,
    ):
        event = await ActivityEvent.objects.filter(kind=kind).alatest("at")
        assert event.contact_id == demo.main.contact_id
        assert (event.record_model, event.record_id) == ("Account", demo.main.account_id)
        assert event.record_count == lines


async def test_on_the_strict_crm_the_pdf_has_the_account_and_its_address(
    strict_crm, settings, async_client, transactional_db
):
    """The strict CRM refuses the contact's token its Account: the name and billing
    address come from the contact's own account read with the portal's credential."""
    strict_crm.reset_controls("default")
    people = demo_of(strict_crm)
    strict_crm.reset_controls("strict")
    fresh(strict_crm)
    settings.ONECRM_DATA_ACCESS = "portal_auth"
    client = await signed_in_async(async_client, strict_crm, people.main)
    response = await client.get("/statement.pdf?period=last_12_months")
    assert response.status_code == 200
    text = pdf_text(await streamed(response))
    token = staff_token(strict_crm.api_url)
    account = staff_get(strict_crm.api_url, token, f"/data/Account/{people.main.account_id}", [])
    assert account["record"]["name"] in text
    assert account["record"]["billing_address_city"] in text
    refused = [e for e in crm_requests(strict_crm) if e["path"].startswith("/data/Account/")]
    assert [e["status"] for e in refused][:1] == [403]  # asked with the contact's token first


# --- Bad periods, failing parts, the cap ------------------------------------------------


def test_a_bad_date_is_an_error_that_keeps_what_was_typed(contact_client):
    response = contact_client.get("/statement/?period=custom&from=31.02.2026&to=2026-13-01")
    assert response.status_code == 400
    html = unescape(response.content.decode())
    assert 'value="31.02.2026"' in html and 'value="2026-13-01"' in html
    assert "“31.02.2026” is not a date we can read" in html
    assert 'aria-invalid="true" aria-describedby="statement-from-error"' in html
    assert 'id="statement-errors"' in html and "data-currency" not in html
    for path in ("/statement.pdf", "/statement.csv"):
        assert contact_client.get(f"{path}?from=yesterday").status_code == 400


def test_the_period_goes_to_the_files_and_htmx_gets_the_part(contact_client):
    response = contact_client.get(
        "/statement/?period=custom&from=2025-06-30&to=2025-01-01", HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and 'id="statement-form"' in html
    canonical = "period=custom&amp;from=2025-01-01&amp;to=2025-06-30"  # swapped
    assert f'href="/statement.pdf?{canonical}"' in html
    assert f'href="/statement.csv?{canonical}"' in html
    assert response["HX-Push-Url"] == "/statement/?period=custom&from=2025-01-01&to=2025-06-30"


def test_refused_payments_fail_their_box_and_the_statement_still_shows(contact_client, crm_pages):
    crm_pages.control(
        "POST", "faults", json={"path": "^/data/Payment$", "kind": "status", "status": 403}
    )
    response = contact_client.get("/statement/?period=last_12_months")
    assert response.status_code == 200
    html = response.content.decode()
    part = next(iter(shown(html).values()))
    assert part.order and "data-payment=" not in html
    assert 'hx-select="#statement-payments-1"' in html and "box-error" in html
    # The accountant's file is complete or not given; the PDF says what is missing.
    assert contact_client.get("/statement.csv?period=last_12_months").status_code == 502


async def test_the_pdf_says_when_payments_are_missing(async_contact_client, crm_pages):
    crm_pages.control(
        "POST", "faults", json={"path": "^/data/Payment$", "kind": "status", "status": 500}
    )
    response = await async_contact_client.get("/statement.pdf")
    assert response.status_code == 200
    assert "The payments could not be read just now" in pdf_text(await streamed(response))


def test_the_statement_stops_at_the_cap_and_says_so(contact_client, crm_pages):
    PortalSettings.objects.filter(pk=PortalSettings.SINGLETON_ID).update(statement_max_records=200)
    forget_portal_settings()
    try:
        response = contact_client.get("/statement/?period=last_12_months")
        asked = [
            e for e in crm_requests(crm_pages) if e["path"] in {"/data/Invoice", "/data/Payment"}
        ]
    finally:
        forget_portal_settings()
    assert response.status_code == 200
    assert 'id="statement-stopped"' in response.content.decode()
    assert "stopped after reading 200 records" in response.content.decode()
    limits = [int(parse_qs(e["query"])["limit"][0]) for e in asked]
    assert limits and sum(limits) <= 200 and max(limits) <= 200


def test_the_statement_is_off_with_its_switch_or_without_invoices(contact_client):
    assert 'href="/statement/"' in contact_client.get("/").content.decode()
    for switch in ("section_statement", "section_invoices"):
        PortalSettings.objects.filter(pk=PortalSettings.SINGLETON_ID).update(**{switch: False})
        forget_portal_settings()
        try:
            for path in ("/statement/", "/statement.pdf", "/statement.csv"):
                assert contact_client.get(path).status_code == 404, (switch, path)
            assert 'href="/statement/"' not in contact_client.get("/profile/").content.decode()
        finally:
            PortalSettings.objects.filter(pk=PortalSettings.SINGLETON_ID).update(**{switch: True})
            forget_portal_settings()


def test_the_dashboard_shows_the_aging_in_one_line(contact_client, crm_pages, demo):
    want = expected(crm_pages, demo.main.account_id, TODAY, TODAY)
    token = staff_token(crm_pages.api_url)
    # The CRM's formats in the page's language (a CRM's base locale may differ).
    locale = locale_from_reply(
        staff_get(crm_pages.api_url, token, "/meta/locale", [], accept_language="en")
    )
    html = contact_client.get("/").content.decode()
    for currency, aging in want.aging.items():
        if not want.open_items.get(currency):
            continue
        line = re.search(rf'<li data-aging="{currency}"><a href="/statement/">([^<]+)</a>', html)
        assert line, currency
        over_30 = aging["31_60"] + aging["61_90"] + aging["over_90"]
        # The test's locale has no currency symbols: the amount as the CRM formats it.
        text = spaced(unescape(line.group(1)))
        if over_30:
            assert text.endswith(f"{format_money(over_30, locale, currency)} over 30 days past due")
        balance = re.search(rf'data-currency="{currency}">([^<]+)<', html).group(1)
        assert spaced(balance).endswith(format_money(want.due(currency), locale, currency))
    assert "balance-stopped" not in html


async def signed_in_async(async_client, server, person):
    contact = signed_in_contact(server.api_url, person)
    store = import_module(django_settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = asdict(contact)
    await store.asave()
    async_client.cookies[django_settings.SESSION_COOKIE_NAME] = store.session_key
    return async_client


# --- The period, read strictly ----------------------------------------------------------


class Query(dict):
    def getlist(self, key):
        value = self.get(key)
        return [] if value is None else value if isinstance(value, list) else [value]


@pytest.mark.parametrize(
    ("query", "today", "start", "end"),
    [
        ({}, "2026-12-01", "2026-01-01", "2026-12-01"),
        ({"period": "last_year"}, "2026-12-01", "2025-01-01", "2025-12-31"),
        ({"period": "last_12_months"}, "2026-12-01", "2025-12-02", "2026-12-01"),
        ({"period": "last_12_months"}, "2028-02-29", "2027-03-01", "2028-02-29"),
        ({"from": "2026-05-01"}, "2026-12-01", "2026-05-01", "2026-12-01"),
        ({"period": "custom", "from": "2026-05-01", "to": "2026-02-01"}, "2026-12-01",
         "2026-02-01", "2026-05-01"),
        ({"period": "this_year", "from": "2020-01-01"}, "2026-12-01", "2026-01-01", "2026-12-01"),
    ],
)  # fmt: skip
def test_periods(query, today, start, end):
    form = read_period(Query(query), dt.date.fromisoformat(today))
    assert form.errors == {}
    assert (form.result.start.isoformat(), form.result.end.isoformat()) == (start, end)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"period": "forever"}, "period"),
        ({"period": "custom"}, "from"),
        ({"period": "custom", "from": "2026-02-30"}, "from"),
        ({"from": "2026-01-01", "to": "soon"}, "to"),
        ({"from": ["2026-01-01", "2026-02-01"]}, "from"),
        ({"from": "x" * 300}, "from"),
        ({"period[]": "this_year"}, "period"),
    ],
)
def test_bad_periods_keep_what_was_typed(query, field):
    form = read_period(Query(query), dt.date(2026, 12, 1))
    assert form.result is None and field in form.errors
    typed = query.get("from")
    if isinstance(typed, str) and len(typed) < 200:
        assert form.date_from == typed
