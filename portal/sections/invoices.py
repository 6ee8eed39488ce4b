"""Invoices: the declaration, the row with its status, and the invoice-only extras.

Status (open, overdue, paid, cancelled) is computed here, once, from the typed record;
the list's badges and filter, the detail page and the dashboard's balance all use it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from crm_gateway import (
    PAGE_LIMIT,
    CheckedRecord,
    ContactGateway,
    DateFilter,
    DateOperator,
    Filter,
    Invoice,
    ListQuery,
    Note,
    Payment,
)
from portal import crm_stages
from portal.listing import ListQuery as PageQuery
from portal.listing import ListSpec, SortKey, StatusPlan
from portal.models import ActivityKind
from portal.sections import cells
from portal.sections.declaration import Bulk, Column, Filters, Section, Texts, fields
from portal.site_settings import SiteSettings

SPEC = ListSpec(
    sorts={
        "number": SortKey("invoice_number", _("Number"), "number"),
        "subject": SortKey("name", _("Subject")),
        "date": SortKey("invoice_date", _("Date"), "date"),
        "due": SortKey("due_date", _("Due"), "date"),
        "amount": SortKey("amount", _("Amount"), "number"),
        "balance": SortKey("amount_due", _("Amount due"), "number"),
    },
    default_sort="date",
    default_dir="desc",
    statuses={
        "open": _("Open"),
        "overdue": _("Overdue"),
        "paid": _("Paid"),
        "cancelled": _("Cancelled"),
    },
    date_field="invoice_date",
    date_label=_("Invoice date"),
)


def has_balance(invoice: Invoice) -> bool:
    return invoice.amount_due is not None and invoice.amount_due > 0


def invoice_status(invoice: Invoice, today: dt.date) -> str:
    """open, overdue, paid or cancelled."""
    if invoice.cancelled:
        return "cancelled"
    if not has_balance(invoice):
        return "paid"
    due = invoice.due_date
    return "overdue" if due is not None and due < today else "open"


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    record: Invoice
    status: str  # see invoice_status

    @classmethod
    def of(cls, record: Invoice, today: dt.date) -> InvoiceRow:
        return cls(record, invoice_status(record, today))

    @property
    def title(self) -> str:
        return self.record.full_number or self.record.invoice_number or self.record.id

    @property
    def url(self) -> str:
        return reverse("invoice", args=[self.record.id])

    @property
    def is_open(self) -> bool:
        """Still to be paid (overdue or not)."""
        return self.status in {"open", "overdue"}

    @property
    def badge(self) -> SafeString:
        return cells.badge_html(self.status, SPEC.statuses[self.status])

    @property
    def stage_label(self) -> str:
        """The shipping stage as the CRM labels it in the page's language."""
        return crm_stages.label(*crm_stages.INVOICE_STAGE, self.record.shipping_stage)


def _is_open(row: InvoiceRow) -> bool:
    return row.is_open


def status_plan(status: str, today: dt.date) -> StatusPlan:
    """How a status filter reaches the CRM; open and overdue ("amount due above zero":
    the CRM's number filters only test equality) also keep rows locally."""
    not_cancelled = Filter("cancelled", "0")
    if status == "cancelled":
        return StatusPlan((Filter("cancelled", "1"),))
    if status == "paid":
        return StatusPlan((not_cancelled, Filter("amount_due", "0")))
    if status == "open":
        return StatusPlan((not_cancelled,), _is_open, "amount_due DESC")
    if status == "overdue":
        overdue = DateFilter("due_date", DateOperator.BEFORE_DATE, today)
        return StatusPlan((not_cancelled, overdue), _is_open, "amount_due DESC")
    return StatusPlan()


def stage_filters(site: SiteSettings) -> Filters:
    """Only the shipping stages staff let contacts see (none set: all of them)."""
    stages = site.invoice_stages
    return (Filter("shipping_stage", list(stages)),) if stages else ()


def list_filters(site: SiteSettings, query: PageQuery, today: dt.date) -> Filters:
    return stage_filters(site)


def visible(site: SiteSettings, invoice: Invoice) -> bool:
    stage = invoice.shipping_stage
    return not (site.invoice_stages and stage and stage not in site.invoice_stages)


async def detail_extra(
    gateway: ContactGateway, checked: CheckedRecord[Invoice], site: SiteSettings
) -> dict[str, Any]:
    """Payments applied to the invoice, and files staff attached for the portal."""
    payments, notes = await asyncio.gather(
        gateway.related(checked, "payments", Payment, ListQuery(limit=PAGE_LIMIT)),
        gateway.related(checked, "notes", Note, ListQuery(limit=50)),
    )
    return {
        "payments": [p.record for p in payments.records],
        "attachments": [
            n.record for n in notes.records if n.record.filename and n.record.portal_flag
        ],
    }


INVOICES = Section(
    key="invoices",
    one="invoice",
    model=Invoice,
    texts=Texts(
        title=_("Invoices"),
        caption=_("Your invoices"),
        search_hint=_("Number, subject or purchase order"),
        all_records=_("All invoices"),
        record_title=_("Invoice %(number)s"),
        no_match=_("No invoices match these filters"),
        no_match_hint=_("Try other words, another status or a wider date range."),
        show_all=_("Show all invoices"),
        empty=_("No invoices yet"),
        empty_hint=_(
            "When we send you an invoice, it appears here. "
            "Expecting one? Contact us and we will look into it."
        ),
    ),
    list_fields=fields(
        "name prefix invoice_number full_number invoice_date"
        " due_date amount amount_due currency_id cancelled shipping_stage"
    ),
    spec=SPEC,
    columns=(
        Column(_("Number"), cells.title_link, sort="number"),
        Column(_("Subject"), cells.text("name"), sort="subject"),
        Column(_("Date"), cells.date("invoice_date"), sort="date", css="date"),
        Column(_("Due"), cells.date("due_date"), sort="due", css="date"),
        Column(_("Status"), cells.badge),
        Column(_("Amount"), cells.money("amount"), sort="amount", css="num"),
        Column(_("Amount due"), cells.money("amount_due"), sort="balance", css="num"),
    ),
    row=InvoiceRow.of,
    list_filters=list_filters,
    visible=visible,
    tally=True,
    pdf="Invoice",
    bulk=Bulk("invoices.zip", lambda row: f"{row.title}.pdf", ActivityKind.INVOICES_ZIP),
    local_status=status_plan,
    detail_extra=detail_extra,
)
