"""How the statement reads: page by page within the budget, stopping at the first paid
invoice when the CRM orders as asked, reading on when it does not (a stand-in gateway:
the emulator always orders as asked; the pages themselves are tested against it in
test_statement.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from crm_gateway import ContactScope, Invoice, Page, Payment
from crm_gateway.scope import seal  # noqa: TID251 (the stand-in seals as the gateway does)
from portal.models import PortalSettings
from portal.site_settings import SiteSettings
from portal.statement.ledger import Budget, read_open_items, read_payments
from portal.statement.period import StatementPeriod

TODAY = dt.date(2026, 12, 1)
SCOPE = ContactScope(contact_id="c", account_id="a")


class StandIn:
    """`list_records` over a fixed list of records, honouring offset and limit."""

    def __init__(self, records: list[dict]) -> None:
        self.records = records
        self.limits: list[int] = []

    async def list_records(self, cls, query):
        self.limits.append(query.limit)
        assert query.limit <= 200
        chunk = self.records[query.offset : query.offset + query.limit]
        checked = [seal(cls, dict(data), SCOPE) for data in chunk]
        return Page(checked, len(self.records), query.offset, query.limit, len(self.records),
                    len(chunk))  # fmt: skip


def invoices(amounts: list[str]) -> list[dict]:
    return [
        {"id": f"i{n}", "full_number": f"INV-{n}", "amount_due": amount, "currency_id": "EUR",
         "invoice_date": "2026-01-01", "due_date": "2026-02-01", "billing_account_id": "a"}
        for n, amount in enumerate(amounts)
    ]  # fmt: skip


def site() -> SiteSettings:
    """The default settings (an unsaved row: no database needed)."""
    return SiteSettings.from_model(PortalSettings())


async def read(records, cap=5000):
    gateway = StandIn(records)
    budget = Budget(cap)
    reading = await read_open_items(gateway, site(), TODAY, budget)  # type: ignore[arg-type]
    return reading, gateway, budget


async def test_reading_stops_at_the_first_page_that_reaches_a_paid_invoice():
    records = invoices(["900"] * 250 + ["5"] * 100 + ["0"] * 1000)
    reading, gateway, budget = await read(records)
    assert len(reading.items) == 350 and not reading.stopped
    assert gateway.limits == [200, 200]  # the second page reached the paid ones
    assert budget.read == 400
    assert sum((item.amount_due for item in reading.items), Decimal(0)) == 250 * 900 + 500


async def test_a_crm_that_does_not_order_is_read_to_its_end():
    records = invoices(["0", "10"] * 300)
    reading, gateway, _ = await read(records)
    assert len(reading.items) == 300 and len(gateway.limits) == 3


async def test_the_budget_caps_every_call_and_says_it_stopped():
    records = invoices(["10"] * 1000)
    reading, gateway, budget = await read(records, cap=450)
    assert reading.stopped and len(reading.items) == 450
    assert gateway.limits == [200, 200, 50] and budget.read == 450


async def test_an_exact_fit_is_not_a_stop():
    reading, _, _ = await read(invoices(["10"] * 400), cap=400)
    assert not reading.stopped and len(reading.items) == 400


async def test_payments_outside_the_period_or_twice_are_left_out():
    period = StatementPeriod("custom", dt.date(2026, 1, 1), dt.date(2026, 6, 30))
    records = [
        {"id": "p1", "payment_date": "2026-01-01", "amount": "10", "account_id": "a"},
        {"id": "p2", "payment_date": "2026-07-01", "amount": "20", "account_id": "a"},
        {"id": "p1", "payment_date": "2026-01-01", "amount": "10", "account_id": "a"},
        {"id": "p3", "amount": "30", "account_id": "a"},
    ]
    reading = await read_payments(StandIn(records), period, Budget(5000))  # type: ignore[arg-type]
    assert [item.id for item in reading.items] == ["p1"]


def test_payment_and_invoice_types_are_the_gateways():
    assert Invoice.MODEL == "Invoice" and Payment.MODEL == "Payment"
