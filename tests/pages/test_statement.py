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

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.core.cache import cache

from crm_gateway import capabilities, forget_cached_tokens
from portal.models import DEFAULT_INVOICE_STAGES
from portal.site_settings import forget_portal_settings
from portal.statement.ledger import bucket_of
from portal.statement.period import named_period
from tests.pages.conftest import (
    demo_of,
    sign_in,
    staff_get,
    staff_token,
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


def expected(api: str, account_id: str, start: dt.date, end: dt.date) -> Expected:
    token = staff_token(api)
    out = Expected()
    fields = ["full_number", "invoice_date", "due_date", "amount_due", "currency_id",
              "cancelled", "shipping_stage", "billing_account_id"]  # fmt: skip
    for invoice in every(api, token, "Invoice", fields, billing_account_id=account_id):
        assert invoice["billing_account_id"] == account_id
        due = Decimal(str(invoice.get("amount_due") or "0"))
        if truthy(invoice.get("cancelled")) or due <= 0:
            continue
        if (
            invoice.get("shipping_stage")
            and invoice["shipping_stage"] not in DEFAULT_INVOICE_STAGES
        ):
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
        fresh(strict_emulator, "strict")
        # The stage settings name the demo's stage keys (issue 13): the strict profile's
        # own vocabulary would hide every invoice, on every page alike.
        strict_emulator.control("POST", "switches", json={"vocabulary": "demo"})
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
    want = expected(server.api_url, person.account_id, span.start, span.end)
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
