"""The dashboard: what the contact owes, what waits for them, what is new.

Three CRM calls run concurrently (asyncio.gather), each one page at most:
* invoices not cancelled, ordered by amount due (one page of 200): every invoice with a
  balance comes first, so the balance per currency and the overdue count are exact
  unless more than 200 invoices are open (then the page says "at least");
* quotes awaiting the contact's decision and still valid (the first five, soonest to
  expire first);
* the latest five documents.
A box whose call failed shows its own error with a retry link; if every call failed
because the CRM is unreachable, the whole page is the friendly 503.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from crm_gateway import errors
from crm_gateway.models import Document, Invoice, Quote
from crm_gateway.query import PAGE_LIMIT, DateFilter, DateOperator, Filter
from crm_gateway.query import ListQuery as CrmListQuery
from portal.crm_data import contact_gateway, page_locale, render_page
from portal.formatting import CrmLocale
from portal.listing import (
    AWAITING_QUOTE_STAGES,
    INVOICE_SPEC,
    ListQuery,
    quote_stages_for,
)
from portal.signin.session import contact_required
from portal.site_settings import aget_portal_settings
from portal.views.documents import document_row
from portal.views.invoices import stage_filter
from portal.views.quotes import quote_row

RECENT = 5


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def summarize_invoices(records: list[Invoice], total: int, on: dt.date) -> dict[str, Any]:
    """Balance per currency (Decimal sums, never float) and the overdue count."""
    balances: dict[str, Decimal] = {}
    overdue = 0
    open_count = 0
    for invoice in records:
        due = invoice.amount_due
        if due is None or due <= 0 or invoice.cancelled:
            continue
        open_count += 1
        key = invoice.currency_id or ""
        balances[key] = balances.get(key, Decimal(0)) + due
        if invoice.due_date is not None and invoice.due_date < on:
            overdue += 1
    return {
        "balances": sorted(balances.items()),
        "overdue": overdue,
        "open": open_count,
        # All 200 fetched still had a balance: there may be more than we counted.
        "at_least": total > len(records) and open_count == len(records),
    }


async def _invoices(request: HttpRequest, stages: tuple[str, ...]) -> dict[str, Any]:
    page = await contact_gateway(request).list_records(
        Invoice,
        CrmListQuery(
            fields=("amount_due", "due_date", "currency_id", "cancelled"),
            filters=(*stage_filter(stages), Filter("cancelled", "0")),
            order="amount_due DESC",
            limit=PAGE_LIMIT,
        ),
    )
    return summarize_invoices([c.record for c in page.records], page.total, today())


async def _quotes(request: HttpRequest, stages: tuple[str, ...]) -> dict[str, Any]:
    if not stages:
        return {"rows": [], "total": 0}
    page = await contact_gateway(request).list_records(
        Quote,
        CrmListQuery(
            fields=(
                "name",
                "full_number",
                "quote_number",
                "quote_stage",
                "valid_until",
                "amount",
                "currency_id",
            ),
            filters=(
                Filter("quote_stage", list(stages)),
                # Still valid today (after_date is strict, so from yesterday on).
                DateFilter("valid_until", DateOperator.AFTER_DATE, today() - dt.timedelta(1)),
            ),
            order="valid_until ASC",
            limit=RECENT,
        ),
    )
    on = today()
    return {"rows": [quote_row(c.record, on) for c in page.records], "total": page.total}


async def _documents(request: HttpRequest) -> dict[str, Any]:
    page = await contact_gateway(request).list_records(
        Document,
        CrmListQuery(
            fields=(
                "document_name",
                "name",
                "filename",
                "file_mime_type",
                "date_entered",
                "date_modified",
            ),
            order="date_modified DESC",
            limit=RECENT,
        ),
    )
    return {"rows": [document_row(c.record, None) for c in page.records], "total": page.total}


async def _nothing() -> None:
    return None


@require_GET
@contact_required
async def dashboard(request: HttpRequest) -> HttpResponse:
    site = await aget_portal_settings()
    awaiting = quote_stages_for("awaiting", site.quote_stages)
    calls: list[Awaitable[Any]] = [
        _invoices(request, site.invoice_stages) if site.section_invoices else _nothing(),
        _quotes(request, awaiting) if site.section_quotes else _nothing(),
        _documents(request) if site.section_documents else _nothing(),
        page_locale(),
    ]
    invoices, quotes, documents, locale = await asyncio.gather(*calls, return_exceptions=True)
    boxes = [invoices, quotes, documents]
    failures = [box for box in boxes if isinstance(box, BaseException)]
    for failure in failures:
        # Signing in again, or a bug, is for the whole page (middleware / 500 page).
        if not isinstance(failure, errors.CrmError) or isinstance(
            failure, errors.ReauthenticationRequired
        ):
            raise failure
    if failures and len(failures) == sum(box is not None for box in boxes):
        raise failures[0]  # nothing to show at all: the friendly CRM-unavailable page
    overdue_url = ListQuery(status="overdue").url("/invoices/", INVOICE_SPEC)
    context = {
        "page_title": _("Dashboard"),
        "invoices": invoices,
        "quotes": quotes,
        "documents": documents,
        "failed": {
            "invoices": isinstance(invoices, BaseException),
            "quotes": isinstance(quotes, BaseException),
            "documents": isinstance(documents, BaseException),
        },
        "awaiting_stages": AWAITING_QUOTE_STAGES,
        "overdue_url": overdue_url,
        "open_url": ListQuery(status="open").url("/invoices/", INVOICE_SPEC),
        "crm_locale": locale if isinstance(locale, CrmLocale) else CrmLocale(),
        "retry_url": request.get_full_path(),
    }
    return render_page(request, "portal/dashboard.html", context)
