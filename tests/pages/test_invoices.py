"""The invoice pages against the emulator: list states, detail from the tally, PDF."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.utils.html import escape
from pypdf import PdfReader

from portal.formatting import format_money
from portal.listing import MAX_VALUE_LENGTH
from tests.pages.conftest import (
    counted_calls,
    crm_requests,
    locale_from_reply,
    staff_get,
    staff_token,
    streamed,
)

pytestmark = pytest.mark.django_db

SUMMARY = re.compile(r"Showing (\d+)\u2013(\d+) of (\d+)")
PAGE_OF = re.compile(r"page (\d+) of (\d+)")
ROW_LINK = re.compile(r'<th scope="row" data-label="Number"><a href="/invoices/([0-9a-f-]+)/">')
VISIBLE_STAGES = ("Pending", "Partially Shipped", "Shipped", "Delivered")


def account_invoices(crm, account_id: str) -> list[dict]:
    token = staff_token(crm.api_url)
    fields = ["full_number", "invoice_date", "due_date", "amount", "amount_due", "cancelled",
              "shipping_stage", "currency_id"]  # fmt: skip
    params = [("fields[]", f) for f in fields]
    params += [("filters[billing_account_id]", account_id), ("limit", "200")]
    records = staff_get(crm.api_url, token, "/data/Invoice", params)["records"]
    return [
        r
        for r in records
        if crm.demo_value("Invoice", "shipping_stage", r.get("shipping_stage")) in VISIBLE_STAGES
    ]


def summary(content: bytes) -> tuple[int, int, int]:
    match = SUMMARY.search(content.decode())
    assert match, "the page states how many invoices it shows"
    first, last, total = (int(n) for n in match.groups())
    return first, last, total


def row_ids(content: bytes) -> list[str]:
    return ROW_LINK.findall(content.decode())


def test_list_shows_the_first_page_with_the_total(contact_client, crm_pages, demo):
    expected = account_invoices(crm_pages, demo.main.account_id)
    response = contact_client.get("/invoices/")
    assert response.status_code == 200
    assert summary(response.content) == (1, 20, len(expected))
    ids = row_ids(response.content)
    assert len(ids) == 20
    newest = sorted(expected, key=lambda r: (r.get("invoice_date"), r["id"]), reverse=True)
    assert ids[0] in {r["id"] for r in newest if r.get("invoice_date") == newest[0]["invoice_date"]}
    assert response["Vary"] and "HX-Request" in response["Vary"]
    assert response["Cache-Control"] == "no-store"


def test_list_makes_one_bounded_list_call(contact_client, crm_pages):
    contact_client.get("/invoices/")  # warms the locale and the tokens
    crm_pages.control("DELETE", "requests")
    with counted_calls() as log:
        response = contact_client.get("/invoices/?sort=amount&dir=asc&page=2")
    assert response.status_code == 200
    assert log.count(path_prefix="/data/") == 1
    assert len(log) == 1
    for entry in crm_requests(crm_pages):
        limit = re.search(r"(?:^|&)limit=(\d+)", entry["query"])
        assert limit is None or int(limit.group(1)) <= 200


@pytest.mark.parametrize("status", ["open", "overdue", "paid", "cancelled"])
def test_status_filters(contact_client, crm_pages, demo, status):
    today = dt.datetime.now(dt.UTC).date().isoformat()
    invoices = account_invoices(crm_pages, demo.main.account_id)

    def matches(r: dict) -> bool:
        due = Decimal(r.get("amount_due") or "0")
        if status == "cancelled":
            return bool(r.get("cancelled"))
        if r.get("cancelled"):
            return False
        if status == "paid":
            return due == 0
        if status == "open":
            return due > 0
        return due > 0 and (r.get("due_date") or "9999") < today

    expected = {r["id"] for r in invoices if matches(r)}
    assert expected, f"the demo data has {status} invoices"
    contact_client.get("/invoices/")  # warms the tokens and what the gateway learned
    with counted_calls() as log:
        response = contact_client.get(f"/invoices/?status={status}")
    assert response.status_code == 200
    assert log.count(path_prefix="/data/Invoice") == 1  # local statuses: one page of 200
    assert summary(response.content)[2] == len(expected)
    assert set(row_ids(response.content)) <= expected
    if status == "overdue":
        assert response.content.count(b'class="badge badge--overdue"') == len(
            row_ids(response.content)
        )


def test_search_by_number(contact_client, crm_pages, demo):
    invoice = account_invoices(crm_pages, demo.main.account_id)[7]
    response = contact_client.get("/invoices/", {"q": invoice["full_number"]})
    assert response.status_code == 200
    assert invoice["id"] in row_ids(response.content)


def test_search_without_results_says_what_to_do(contact_client):
    response = contact_client.get("/invoices/", {"q": "no-such-invoice-anywhere"})
    assert response.status_code == 200
    assert b"No invoices match these filters" in response.content
    assert b'href="/invoices/"' in response.content


@pytest.mark.parametrize(
    ("query", "low", "high"),
    [
        ("period=this_year", "this_year_start", "today"),
        ("period=last_year", "last_year_start", "last_year_end"),
        ("from=2025-01-01&to=2025-06-30", "2025-01-01", "2025-06-30"),
        ("from=2026-01-01", "2026-01-01", "today"),
    ],
)
def test_date_filters(contact_client, crm_pages, demo, query, low, high):
    today = dt.datetime.now(dt.UTC).date()
    names = {
        "today": today,
        "this_year_start": dt.date(today.year, 1, 1),
        "last_year_start": dt.date(today.year - 1, 1, 1),
        "last_year_end": dt.date(today.year - 1, 12, 31),
    }
    start = names.get(low) or dt.date.fromisoformat(low)
    end = names.get(high) or dt.date.fromisoformat(high)
    invoices = account_invoices(crm_pages, demo.main.account_id)
    expected = {
        r["id"] for r in invoices if start <= dt.date.fromisoformat(r.get("invoice_date")) <= end
    }
    response = contact_client.get(f"/invoices/?{query}&sort=date&dir=asc")
    assert response.status_code == 200
    if expected:
        assert summary(response.content)[2] == len(expected)
        assert set(row_ids(response.content)) <= expected
    else:
        assert b"No invoices match these filters" in response.content


def test_sort_by_amount_due_descending(contact_client, crm_pages, demo):
    invoices = account_invoices(crm_pages, demo.main.account_id)
    highest = max(Decimal(r.get("amount_due") or "0") for r in invoices)
    response = contact_client.get("/invoices/?sort=balance&dir=desc")
    first = next(r for r in invoices if r["id"] == row_ids(response.content)[0])
    assert Decimal(first["amount_due"]) == highest
    assert b'aria-sort="descending"' in response.content


def test_paging_first_last_and_past_the_end(contact_client, crm_pages, demo):
    total = len(account_invoices(crm_pages, demo.main.account_id))
    pages = -(-total // 20)
    first = contact_client.get("/invoices/")
    second = contact_client.get("/invoices/?page=2")
    assert not set(row_ids(first.content)) & set(row_ids(second.content))
    assert b'rel="prev"' not in first.content and b'rel="next"' in first.content
    last = contact_client.get(f"/invoices/?page={pages}")
    assert summary(last.content) == ((pages - 1) * 20 + 1, total, total)
    assert b'rel="next"' not in last.content
    with counted_calls() as log:
        beyond = contact_client.get("/invoices/?page=999")
    assert beyond.status_code == 200
    assert row_ids(beyond.content) == row_ids(last.content)  # clamped to the last page
    assert log.count(path_prefix="/data/Invoice") == 2
    assert contact_client.get("/invoices/?page=0").status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "status=open&status=paid",
        "status[]=open",
        "page=abc",
        "status=everything",
        "from=2026-13-01",
        "q=" + "x" * (MAX_VALUE_LENGTH + 1),
        "q=" + "y" * 3000,
    ],
)
def test_unreadable_queries_get_the_400_page(contact_client, crm_pages, query):
    response = contact_client.get(f"/invoices/?{query}")
    assert response.status_code == 400
    assert b"could not be understood" in response.content
    assert not [e for e in crm_requests(crm_pages) if e["path"].startswith("/data/")]


def test_unknown_sort_falls_back_to_the_default(contact_client):
    default = contact_client.get("/invoices/")
    odd = contact_client.get("/invoices/?sort=password&dir=up")
    assert odd.status_code == 200
    assert row_ids(odd.content) == row_ids(default.content)


def test_htmx_gets_only_the_table_with_the_canonical_url(contact_client):
    response = contact_client.get(
        "/invoices/?q=&status=open&period=&from=&to=&sort=date&dir=desc", HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b"<form" not in response.content
    assert b'class="list-table"' in response.content
    assert response["HX-Push-Url"] == "/invoices/?status=open"
    assert "HX-Request" in response["Vary"]
    full = contact_client.get("/invoices/?status=open")
    assert b"<html" in full.content and b'id="list-results"' in full.content


def test_links_work_without_javascript(contact_client):
    content = contact_client.get("/invoices/?status=open").content.decode()
    assert '<form class="filters" id="list-filters" method="get" action="/invoices/"' in content
    for href, hx in re.findall(r'href="([^"]+)" hx-get="([^"]+)"', content):
        assert href == hx  # every htmx link is also a plain link
    assert "hx-on" not in content and "style=" not in content and "<style" not in content
    # The sort travels with the form, also without JavaScript.
    assert 'name="sort" value="date" form="list-filters"' in content


def test_detail_shows_the_tally(contact_client, crm_pages, demo):
    invoice_id = demo.own["Invoice"]
    token = staff_token(crm_pages.api_url)
    tally = staff_get(crm_pages.api_url, token, f"/tally/Invoice/{invoice_id}", [])
    contact_client.get(f"/invoices/{invoice_id}/")  # warm the locale cache
    with counted_calls() as log:
        response = contact_client.get(f"/invoices/{invoice_id}/")
    assert response.status_code == 200
    assert len(log) <= 4
    locale = locale_from_reply(staff_get(crm_pages.api_url, token, "/meta/locale", []))
    currency = tally["record"]["currency_id"]
    html = response.content.decode()
    total = format_money(tally["totals"]["total"], locale, "EUR")
    assert f'data-total="total">{total}' in html or currency != locale.base_currency.iso4217
    assert tally["record"]["full_number"] in html
    for group in tally["groups"]:
        for item in group["line_items"]:
            assert item["name"].replace("&", "&amp;") in html
    assert f'href="/invoices/{invoice_id}/pdf"' in html
    assert f'href="/invoices/{invoice_id}/pdf?download=1"' in html
    record = tally["record"]
    assert record["billing_address_city"], "the demo invoice has a billing address"
    for part in ("street", "postalcode", "city", "country"):
        assert escape(record[f"billing_address_{part}"]) in html


async def test_pdf_inline_and_download(async_contact_client, crm_pages, demo):
    invoice_id = demo.own["Invoice"]
    token = staff_token(crm_pages.api_url)
    number = staff_get(crm_pages.api_url, token, f"/data/Invoice/{invoice_id}", [])["record"][
        "full_number"
    ]
    with counted_calls() as log:
        inline = await async_contact_client.get(f"/invoices/{invoice_id}/pdf")
        body = await streamed(inline)
    assert inline.status_code == 200
    assert inline["Content-Type"] == "application/pdf"
    assert inline["Content-Disposition"].startswith("inline")
    assert body.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
    assert number in text
    assert log.count(path_prefix="/printer/pdf/Invoice/") == 1
    assert log.count(path_prefix="/data/Invoice/") == 1
    download = await async_contact_client.get(f"/invoices/{invoice_id}/pdf?download=1")
    assert download["Content-Disposition"].startswith("attachment")
    assert (await streamed(download)).startswith(b"%PDF")


@pytest.mark.parametrize(
    ("path", "box"), [("^/tally/Invoice/", "box-items"), ("/payments$", "box-more")]
)
def test_a_failing_part_of_the_detail_page_is_its_box(contact_client, crm_pages, demo, path, box):
    crm_pages.control("POST", "faults", json={"path": path, "kind": "status", "status": 500})
    response = contact_client.get(f"/invoices/{demo.own['Invoice']}/")
    assert response.status_code == 200  # the invoice itself was read
    html = response.content.decode()
    assert f'<section id="{box}" class="' in html and "Try again" in html
    assert 'id="facts-title"' in html  # the rest renders
    assert b"Traceback" not in response.content
