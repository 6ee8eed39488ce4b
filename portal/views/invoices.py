"""Invoices: the list (search, status, dates, sort, paging), one invoice from its tally,
and its PDF.

CRM calls per page (counted in tests): the list makes one list call (two when the page
asked for is past the last one), the detail page four at most (record, then tally,
payments and attachments concurrently; the locale comes from the cache), the PDF two
(record, then the bytes). Ids from URLs go only to the gateway, which refuses anything
not shaped like an id and anything that is not this contact's (NotFound: the same 404
page as for an id that does not exist), before any call with the portal's credential.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from crm_gateway import errors
from crm_gateway.models import Invoice, Note, Payment
from crm_gateway.query import PAGE_LIMIT, Filter
from crm_gateway.query import ListQuery as CrmListQuery
from crm_gateway.responses import stream_response
from crm_gateway.scope import CheckedRecord
from portal.activity import arecord_activity
from portal.crm_data import contact_gateway, page_locale, render_page
from portal.errors import render_error
from portal.listing import (
    INVOICE_SPEC,
    PERIODS,
    BadListQuery,
    ListQuery,
    Paging,
    clamp_page,
    invoice_status,
    invoice_status_plan,
    page_links,
    page_size_for,
    parse_list_query,
    sort_headers,
    sort_records,
)
from portal.models import ActivityKind
from portal.security import pdf_printing_allowed
from portal.signin.session import contact_required
from portal.site_settings import aget_portal_settings

LIST_PATH = "/invoices/"
LIST_FIELDS = (
    "name",
    "prefix",
    "invoice_number",
    "full_number",
    "invoice_date",
    "due_date",
    "amount",
    "amount_due",
    "currency_id",
    "cancelled",
    "shipping_stage",
)


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def invoice_row(record: Invoice, on: dt.date) -> dict[str, Any]:
    """A row for the templates, keyed by CRM field names (local sorting reads them)."""
    row = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    row["status"] = invoice_status(row, on)
    row["number"] = record.full_number or record.invoice_number or record.id
    row["url"] = f"{LIST_PATH}{record.id}/"
    return row


def stage_filter(stages: tuple[str, ...]) -> list[Filter]:
    return [Filter("shipping_stage", list(stages))] if stages else []


async def fetch_invoice_page(
    request: HttpRequest, query: ListQuery, page_size: int, stages: tuple[str, ...]
) -> tuple[list[dict[str, Any]], int, int, bool]:
    """(rows, total, page shown, truncated) for a list state."""
    gateway = contact_gateway(request)
    on = today()
    plan = invoice_status_plan(query.status, on)
    filters = [*stage_filter(stages), *plan.filters]
    date_filter = query.crm_date_filter(INVOICE_SPEC)
    if date_filter is not None:
        filters.append(date_filter)
    text = query.q or None

    if plan.local:
        # One page of 200 ordered by amount due: every invoice with a balance comes first.
        page = await gateway.list_records(
            Invoice,
            CrmListQuery(
                fields=LIST_FIELDS,
                filters=tuple(filters),
                filter_text=text,
                order=plan.prefetch_order,
                limit=PAGE_LIMIT,
            ),
        )
        rows = [invoice_row(checked.record, on) for checked in page.records]
        assert plan.keep is not None
        kept = [row for row in rows if plan.keep(row)]
        truncated = page.total > len(rows) and len(kept) == len(rows)
        ordered = sort_records(kept, INVOICE_SPEC.sorts[query.sort], query.dir == "desc")
        shown = clamp_page(query.page, len(ordered), page_size)
        start = (shown - 1) * page_size
        return [dict(r) for r in ordered[start : start + page_size]], len(ordered), shown, truncated

    async def one(page_number: int) -> tuple[list[dict[str, Any]], int]:
        page = await gateway.list_records(
            Invoice,
            CrmListQuery(
                fields=LIST_FIELDS,
                filters=tuple(filters),
                filter_text=text,
                order=query.crm_order(INVOICE_SPEC),
                offset=(page_number - 1) * page_size,
                limit=page_size,
            ),
        )
        return [invoice_row(checked.record, on) for checked in page.records], page.total

    rows, total = await one(query.page)
    shown = clamp_page(query.page, total, page_size)
    if shown != query.page:  # past the last page: show the last one
        rows, total = await one(shown)
    return rows, total, shown, False


@require_GET
@contact_required
async def invoice_list(request: HttpRequest) -> HttpResponse:
    site = await aget_portal_settings()
    if not site.section_invoices:
        return render_error(request, 404)
    try:
        query = parse_list_query(
            request.GET, INVOICE_SPEC, query_length=len(request.META.get("QUERY_STRING", ""))
        )
    except BadListQuery:
        return render_error(request, 400)
    page_size = page_size_for(site.page_size)
    (rows, total, shown, truncated), locale = await asyncio.gather(
        fetch_invoice_page(request, query, page_size, site.invoice_stages), page_locale()
    )
    query = dataclasses.replace(query, page=shown)
    paging = Paging(page=shown, page_size=page_size, total=total)
    context = {
        "page_title": _("Invoices"),
        "rows": rows,
        "query": query,
        "paging": paging,
        "truncated": truncated,
        "headers": sort_headers(query, INVOICE_SPEC, LIST_PATH),
        "statuses": INVOICE_SPEC.statuses,
        "periods": PERIODS,
        "page_links": page_links(query, INVOICE_SPEC, LIST_PATH, paging),
        "clear_url": LIST_PATH,
        "list_path": LIST_PATH,
        "date_label": INVOICE_SPEC.date_label,
        "crm_locale": locale,
    }
    return render_page(
        request,
        "portal/invoices/list.html",
        context,
        partial="table",
        push_url=query.url(LIST_PATH, INVOICE_SPEC),
    )


async def _checked_invoice(request: HttpRequest, invoice_id: str) -> CheckedRecord[Invoice]:
    site = await aget_portal_settings()
    if not site.section_invoices:
        raise errors.NotFound("the invoices section is off")
    checked = await contact_gateway(request).get_record(Invoice, invoice_id)
    stage = checked.record.shipping_stage
    if site.invoice_stages and stage and stage not in site.invoice_stages:
        raise errors.NotFound("an invoice in a stage contacts do not see")
    return checked


@require_GET
@contact_required
async def invoice_detail(request: HttpRequest, invoice_id: str) -> HttpResponse:
    try:
        checked = await _checked_invoice(request, invoice_id)
    except errors.NotFound:
        return render_error(request, 404)
    gateway = contact_gateway(request)
    tally, payments, notes, locale = await asyncio.gather(
        gateway.tally(checked),
        gateway.related(checked, "payments", Payment, CrmListQuery(limit=PAGE_LIMIT)),
        gateway.related(checked, "notes", Note, CrmListQuery(limit=50)),
        page_locale(),
    )
    invoice = checked.record
    row = invoice_row(invoice, today())
    attachments = [n.record for n in notes.records if n.record.filename and n.record.portal_flag]
    context = {
        "page_title": _("Invoice %(number)s") % {"number": row["number"]},
        "invoice": invoice,
        "row": row,
        "tally": tally,
        "payments": [p.record for p in payments.records],
        "attachments": attachments,
        "currency": invoice.currency_id,
        "crm_locale": locale,
        "pdf_url": f"{LIST_PATH}{invoice.id}/pdf",
    }
    return render_page(request, "portal/invoices/detail.html", context)


@require_GET
@contact_required
async def invoice_pdf(request: HttpRequest, invoice_id: str) -> HttpResponseBase:
    try:
        checked = await _checked_invoice(request, invoice_id)
    except errors.NotFound:
        return render_error(request, 404)
    if not await pdf_printing_allowed(request):
        return render_error(request, 429)
    download = request.GET.get("download") == "1"
    invoice = checked.record
    number = invoice.full_number or invoice.invoice_number or invoice.id
    response = await stream_response(
        contact_gateway(request).pdf(checked),
        filename=f"Invoice {number}.pdf",
        disposition="attachment" if download else "inline",
    )
    await arecord_activity(
        request,
        ActivityKind.PDF_DOWNLOAD,
        contact_id=request.contact.contact_id,  # type: ignore[attr-defined]
        record_model="Invoice",
        record_id=invoice.id,
    )
    return response


@require_GET
@contact_required
async def invoice_attachment(
    request: HttpRequest, invoice_id: str, note_id: str
) -> HttpResponseBase:
    """A file attached to the invoice (a note staff marked for the portal)."""
    gateway = contact_gateway(request)
    try:
        checked = await _checked_invoice(request, invoice_id)
        note = await gateway.get_record(Note, note_id)
    except errors.NotFound:
        return render_error(request, 404)
    if note.record.parent_id != checked.id or not note.record.filename:
        return render_error(request, 404)
    response = await stream_response(
        gateway.download(note), filename=note.record.filename, disposition="attachment"
    )
    await arecord_activity(
        request,
        ActivityKind.DOCUMENT_DOWNLOAD,
        contact_id=request.contact.contact_id,  # type: ignore[attr-defined]
        record_model="Note",
        record_id=note.id,
    )
    return response
