"""The statement of account: what the contact's account owes, since when, and what it paid.

Reading (every call through the gateway: the contact's scope on every list call, every
record checked against the contact's account):
* **open items**: invoices not cancelled, `amount_due DESC`, page by page (200 a call).
  Every invoice with a balance comes before the paid ones, so reading stops at the first
  page that reaches a paid invoice; a statement of a large account costs its open
  invoices plus at most one page. (If the CRM's order is not what was asked, reading
  goes on to the end rather than trust it.) Kept locally, whatever the CRM's filters
  did: not cancelled, an amount due above zero, a shipping stage staff show, an
  invoice date on or before the period's end;
* **payments**: `Payment` records with a payment date within the period
  (`payment_date ASC`), page by page; kept locally only within those dates.
Both read concurrently against one budget of `statement_max_records` records: no call
asks for more than is left of it, and reaching it marks the statement as stopped (the
page says so). Only a compact row of each kept record stays in memory; the CRM's pages
are dropped as they are read.

Computing (pure, Decimal throughout): per currency, the open items oldest first with
their days past due (as of today), the payments, the aging buckets (not yet due, 1 to 30,
31 to 60, 61 to 90, over 90 days past due) and the totals.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

from crm_gateway import (
    PAGE_LIMIT,
    ContactGateway,
    DateFilter,
    DateOperator,
    Filter,
    Invoice,
    ListQuery,
    Payment,
    errors,
)
from portal.parts import part_failed
from portal.sections.invoices import visible
from portal.site_settings import SiteSettings
from portal.statement.period import StatementPeriod

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
BUCKETS: tuple[tuple[str, Any], ...] = (
    ("current", _("Not yet due")),
    ("1_30", _("1\u201330 days")),
    ("31_60", _("31\u201360 days")),
    ("61_90", _("61\u201390 days")),
    ("over_90", _("Over 90 days")),
)
BUCKET_KEYS = tuple(key for key, _label in BUCKETS)
BUCKET_LABELS = dict(BUCKETS)
INVOICE_FIELDS = (
    "prefix",
    "invoice_number",
    "full_number",
    "name",
    "invoice_date",
    "due_date",
    "amount",
    "amount_due",
    "currency_id",
    "cancelled",
    "shipping_stage",
)
PAYMENT_FIELDS = ("full_number", "payment_type", "amount", "payment_date", "currency_id")


def bucket_of(days_past_due: int) -> str:
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "1_30"
    if days_past_due <= 60:
        return "31_60"
    if days_past_due <= 90:
        return "61_90"
    return "over_90"


@dataclass(frozen=True, slots=True)
class OpenItem:
    id: str
    number: str
    subject: str
    invoice_date: dt.date | None
    due_date: dt.date | None
    amount: Decimal
    amount_due: Decimal
    currency: str  # the invoice's currency_id ("" when it has none)
    days_past_due: int  # 0 when not yet due (or no due date)

    @property
    def bucket(self) -> str:
        return bucket_of(self.days_past_due)

    @property
    def bucket_label(self) -> Any:
        return BUCKET_LABELS[self.bucket]


@dataclass(frozen=True, slots=True)
class PaymentItem:
    id: str
    number: str
    date: dt.date | None
    payment_type: str
    amount: Decimal
    currency: str


def open_item(invoice: Invoice, today: dt.date) -> OpenItem:
    due = invoice.due_date
    return OpenItem(
        id=invoice.id,
        number=invoice.full_number or invoice.invoice_number or invoice.id,
        subject=(invoice.name or "")[:120],
        invoice_date=invoice.invoice_date,
        due_date=due,
        amount=invoice.amount if invoice.amount is not None else ZERO,
        amount_due=invoice.amount_due or ZERO,
        currency=invoice.currency_id or "",
        days_past_due=max(0, (today - due).days) if due is not None else 0,
    )


def payment_item(payment: Payment) -> PaymentItem:
    return PaymentItem(
        id=payment.id,
        number=payment.full_number or payment.name or payment.id,
        date=payment.payment_date,
        payment_type=payment.payment_type or "",
        amount=payment.amount if payment.amount is not None else ZERO,
        currency=payment.currency_id or "",
    )


# --- Reading --------------------------------------------------------------------------


class Budget:
    """How many records a statement may still read (`statement_max_records`), shared by
    its concurrent readers: each call asks for at most what is left (and 200)."""

    def __init__(self, cap: int) -> None:
        self.cap = max(0, cap)
        self.left = self.cap
        self.read = 0

    def take(self) -> int:
        count = min(PAGE_LIMIT, self.left)
        self.left -= count
        return count

    def used(self, asked: int, got: int) -> None:
        self.read += got
        self.left += max(0, asked - got)


@dataclass
class Reading[T]:
    items: list[T] = field(default_factory=list)
    stopped: bool = False  # the budget ran out before the CRM's last record


async def read_open_items(
    gateway: ContactGateway,
    site: SiteSettings,
    today: dt.date,
    budget: Budget,
    *,
    until: dt.date | None = None,
) -> Reading[OpenItem]:
    """Every open invoice of the contact (dated on or before `until`), page by page."""
    filters: list[Filter | DateFilter] = [Filter("cancelled", "0")]
    if until is not None and until < today:
        filters.append(
            DateFilter("invoice_date", DateOperator.BEFORE_DATE, until + dt.timedelta(1))
        )
    reading: Reading[OpenItem] = Reading()
    seen: set[str] = set()
    offset, ordered, previous = 0, True, None
    while True:
        limit = budget.take()
        if not limit:
            reading.stopped = True
            break
        page = await gateway.list_records(
            Invoice,
            ListQuery(
                fields=INVOICE_FIELDS,
                filters=tuple(filters),
                order="amount_due DESC",
                offset=offset,
                limit=limit,
            ),
        )
        budget.used(limit, page.crm_count)
        reached_paid = False
        for checked in page.records:
            invoice = checked.record
            due = invoice.amount_due if invoice.amount_due is not None else ZERO
            if previous is not None and due > previous:
                ordered = False
            previous = due
            if due <= 0:
                reached_paid = True
                continue
            if invoice.cancelled or not visible(site, invoice) or invoice.id in seen:
                continue
            if until is not None and invoice.invoice_date and invoice.invoice_date > until:
                continue
            seen.add(invoice.id)
            reading.items.append(open_item(invoice, today))
        offset += page.crm_count
        if not page.crm_count or offset >= page.crm_total or (reached_paid and ordered):
            break
    if not ordered:
        logger.info("the CRM did not order invoices by amount due: read them all")
    reading.items.sort(key=_oldest_first)
    return reading


def _oldest_first(item: OpenItem) -> tuple[dt.date, dt.date, str]:
    far = dt.date.max
    return (item.invoice_date or far, item.due_date or far, item.number)


async def read_payments(
    gateway: ContactGateway, period: StatementPeriod, budget: Budget
) -> Reading[PaymentItem]:
    """The account's payments dated within the period, oldest first, page by page."""
    within = DateFilter("payment_date", DateOperator.BETWEEN_DATES, period.start, end=period.end)
    reading: Reading[PaymentItem] = Reading()
    seen: set[str] = set()
    offset = 0
    while True:
        limit = budget.take()
        if not limit:
            reading.stopped = True
            break
        page = await gateway.list_records(
            Payment,
            ListQuery(
                fields=PAYMENT_FIELDS,
                filters=(within,),
                order="payment_date ASC",
                offset=offset,
                limit=limit,
            ),
        )
        budget.used(limit, page.crm_count)
        for checked in page.records:
            payment = checked.record
            day = payment.payment_date
            if day is None or not period.start <= day <= period.end or payment.id in seen:
                continue
            seen.add(payment.id)
            reading.items.append(payment_item(payment))
        offset += page.crm_count
        if not page.crm_count or offset >= page.crm_total:
            break
    reading.items.sort(key=lambda item: (item.date or dt.date.max, item.number))
    return reading


# --- Computing ------------------------------------------------------------------------


@dataclass
class CurrencyStatement:
    currency: str
    open_items: list[OpenItem] = field(default_factory=list)
    payments: list[PaymentItem] = field(default_factory=list)
    aging: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(BUCKET_KEYS, ZERO))

    @property
    def total_due(self) -> Decimal:
        return sum(self.aging.values(), ZERO)

    @property
    def total_paid(self) -> Decimal:
        return sum((item.amount for item in self.payments), ZERO)

    @property
    def past_due(self) -> Decimal:
        return self.total_due - self.aging["current"]

    @property
    def over_30(self) -> Decimal:
        return self.aging["31_60"] + self.aging["61_90"] + self.aging["over_90"]

    @property
    def buckets(self) -> list[tuple[str, Any, Decimal]]:
        return [(key, label, self.aging[key]) for key, label in BUCKETS]


def by_currency(
    open_items: Iterable[OpenItem], payments: Iterable[PaymentItem] = ()
) -> list[CurrencyStatement]:
    """Per currency (sorted by its id): items, payments and the aging sums."""
    found: dict[str, CurrencyStatement] = {}
    for item in open_items:
        part = found.setdefault(item.currency, CurrencyStatement(item.currency))
        part.open_items.append(item)
        part.aging[item.bucket] += item.amount_due
    for payment in payments:
        found.setdefault(payment.currency, CurrencyStatement(payment.currency)).payments.append(
            payment
        )
    return [found[key] for key in sorted(found)]


@dataclass
class Statement:
    period: StatementPeriod
    today: dt.date
    currencies: list[CurrencyStatement]
    cap: int
    records_read: int
    invoices_stopped: bool
    payments_stopped: bool
    # What stopped the payments part, when it failed (its box says so; the CSV raises it).
    payments_error: errors.CrmError | None = None

    @property
    def payments_failed(self) -> bool:
        return self.payments_error is not None

    @property
    def stopped(self) -> bool:
        return self.invoices_stopped or self.payments_stopped

    @property
    def open_count(self) -> int:
        return sum(len(part.open_items) for part in self.currencies)

    @property
    def payment_count(self) -> int:
        return sum(len(part.payments) for part in self.currencies)

    @property
    def record_count(self) -> int:
        """Lines on the statement: its open items and its payments."""
        return self.open_count + self.payment_count


async def read_statement(
    gateway: ContactGateway, site: SiteSettings, period: StatementPeriod, today: dt.date
) -> Statement:
    """The whole statement. Open items failing fails it (the caller's friendly page);
    payments failing fails only their part (`payments_failed`: their box says so)."""
    budget = Budget(site.statement_max_records)
    invoices, payments = await asyncio.gather(
        read_open_items(gateway, site, today, budget, until=period.end),
        read_payments(gateway, period, budget),
        return_exceptions=True,
    )
    if isinstance(invoices, BaseException):
        raise invoices
    failure = payments if part_failed(payments, "statement payments") else None
    paid: Reading[PaymentItem] = Reading() if isinstance(payments, BaseException) else payments
    return Statement(
        period=period,
        today=today,
        currencies=by_currency(invoices.items, paid.items),
        cap=budget.cap,
        records_read=budget.read,
        invoices_stopped=invoices.stopped,
        payments_stopped=paid.stopped,
        payments_error=failure if isinstance(failure, errors.CrmError) else None,
    )


__all__ = [
    "BUCKETS",
    "Budget",
    "CurrencyStatement",
    "OpenItem",
    "PaymentItem",
    "Statement",
    "by_currency",
    "read_open_items",
    "read_payments",
    "read_statement",
]
