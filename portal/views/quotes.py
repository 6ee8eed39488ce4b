"""Quotes: the list, one quote from its tally, its PDF, and (when staff allow it) the
contact's decision: accept, or decline with a reason.

A decision is a POST (CSRF-protected) to `/quotes/<id>/accept` or `/quotes/<id>/decline`.
The quote is first read through the gateway, which checks that it is this contact's;
only then is it written (see portal.crm_data.decide_quote), and the decision recorded
in the portal's activity log and as a note on the quote in the CRM.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from crm_gateway import errors
from crm_gateway.models import Quote
from crm_gateway.query import DateFilter, DateOperator, Filter
from crm_gateway.query import ListQuery as CrmListQuery
from crm_gateway.responses import stream_response
from crm_gateway.scope import CheckedRecord
from portal.activity import arecord_activity
from portal.crm_data import contact_gateway, decide_quote, page_locale, render_page
from portal.errors import render_error
from portal.listing import (
    AWAITING_QUOTE_STAGES,
    PERIODS,
    QUOTE_SPEC,
    QUOTE_STAGE_ACCEPTED,
    QUOTE_STAGE_DECLINED,
    BadListQuery,
    ListQuery,
    Paging,
    clamp_page,
    page_links,
    page_size_for,
    parse_list_query,
    quote_stages_for,
    sort_headers,
)
from portal.models import ActivityKind
from portal.security import pdf_printing_allowed
from portal.signin.session import contact_required
from portal.site_settings import SiteSettings, aget_portal_settings

LIST_PATH = "/quotes/"
LIST_FIELDS = (
    "name",
    "prefix",
    "quote_number",
    "full_number",
    "quote_stage",
    "valid_until",
    "amount",
    "currency_id",
    "date_entered",
)
REASON_MAX = 1000


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def is_awaiting(quote: Quote, on: dt.date) -> bool:
    """The quote waits for the customer's answer and has not expired."""
    expired = quote.valid_until is not None and quote.valid_until < on
    return quote.quote_stage in AWAITING_QUOTE_STAGES and not expired


def quote_row(record: Quote, on: dt.date) -> dict[str, Any]:
    row = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    row["number"] = record.full_number or record.quote_number or record.id
    row["url"] = f"{LIST_PATH}{record.id}/"
    row["awaiting"] = is_awaiting(record, on)
    row["expired"] = record.valid_until is not None and record.valid_until < on
    return row


async def fetch_quote_page(
    request: HttpRequest, query: ListQuery, page_size: int, stages: tuple[str, ...]
) -> tuple[list[dict[str, Any]], int, int]:
    if not stages:  # nothing staff let contacts see matches: no CRM call
        return [], 0, 1
    gateway = contact_gateway(request)
    on = today()
    filters: list[Filter | Any] = [Filter("quote_stage", list(stages))]
    date_filter = query.crm_date_filter(QUOTE_SPEC)
    if date_filter is None and query.status == "awaiting":
        # Awaiting means still valid, unless the visitor chose validity dates themselves.
        date_filter = DateFilter("valid_until", DateOperator.AFTER_DATE, on - dt.timedelta(1))
    if date_filter is not None:
        filters.append(date_filter)

    async def one(page_number: int) -> tuple[list[dict[str, Any]], int]:
        page = await gateway.list_records(
            Quote,
            CrmListQuery(
                fields=LIST_FIELDS,
                filters=tuple(filters),
                filter_text=query.q or None,
                order=query.crm_order(QUOTE_SPEC),
                offset=(page_number - 1) * page_size,
                limit=page_size,
            ),
        )
        return [quote_row(checked.record, on) for checked in page.records], page.total

    rows, total = await one(query.page)
    shown = clamp_page(query.page, total, page_size)
    if shown != query.page:
        rows, total = await one(shown)
    return rows, total, shown


@require_GET
@contact_required
async def quote_list(request: HttpRequest) -> HttpResponse:
    site = await aget_portal_settings()
    if not site.section_quotes:
        return render_error(request, 404)
    try:
        query = parse_list_query(
            request.GET, QUOTE_SPEC, query_length=len(request.META.get("QUERY_STRING", ""))
        )
    except BadListQuery:
        return render_error(request, 400)
    page_size = page_size_for(site.page_size)
    stages = quote_stages_for(query.status, site.quote_stages)
    (rows, total, shown), locale = await asyncio.gather(
        fetch_quote_page(request, query, page_size, stages), page_locale()
    )
    query = dataclasses.replace(query, page=shown)
    paging = Paging(page=shown, page_size=page_size, total=total)
    context = {
        "page_title": _("Quotes"),
        "rows": rows,
        "query": query,
        "paging": paging,
        "headers": sort_headers(query, QUOTE_SPEC, LIST_PATH),
        "statuses": QUOTE_SPEC.statuses,
        "periods": PERIODS,
        "page_links": page_links(query, QUOTE_SPEC, LIST_PATH, paging),
        "clear_url": LIST_PATH,
        "list_path": LIST_PATH,
        "date_label": QUOTE_SPEC.date_label,
        "crm_locale": locale,
    }
    return render_page(
        request,
        "portal/quotes/list.html",
        context,
        partial="table",
        push_url=query.url(LIST_PATH, QUOTE_SPEC),
    )


async def _checked_quote(
    request: HttpRequest, quote_id: str
) -> tuple[CheckedRecord[Quote], SiteSettings]:
    site = await aget_portal_settings()
    if not site.section_quotes:
        raise errors.NotFound("the quotes section is off")
    checked = await contact_gateway(request).get_record(Quote, quote_id)
    stage = checked.record.quote_stage
    if site.quote_stages and stage not in site.quote_stages:
        raise errors.NotFound("a quote in a stage contacts do not see")
    return checked, site


@require_GET
@contact_required
async def quote_detail(request: HttpRequest, quote_id: str) -> HttpResponse:
    try:
        checked, site = await _checked_quote(request, quote_id)
    except errors.NotFound:
        return render_error(request, 404)
    tally, locale = await asyncio.gather(contact_gateway(request).tally(checked), page_locale())
    quote = checked.record
    row = quote_row(quote, today())
    context = {
        "page_title": _("Quote %(number)s") % {"number": row["number"]},
        "quote": quote,
        "row": row,
        "tally": tally,
        "currency": quote.currency_id,
        "crm_locale": locale,
        "pdf_url": f"{LIST_PATH}{quote.id}/pdf",
        "can_decide": site.quotes_can_decide and row["awaiting"],
        "reason_max": REASON_MAX,
    }
    return render_page(request, "portal/quotes/detail.html", context)


@require_GET
@contact_required
async def quote_pdf(request: HttpRequest, quote_id: str) -> HttpResponseBase:
    try:
        checked, _site = await _checked_quote(request, quote_id)
    except errors.NotFound:
        return render_error(request, 404)
    if not await pdf_printing_allowed(request):
        return render_error(request, 429)
    quote = checked.record
    number = quote.full_number or quote.quote_number or quote.id
    download = request.GET.get("download") == "1"
    response = await stream_response(
        contact_gateway(request).pdf(checked),
        filename=f"Quote {number}.pdf",
        disposition="attachment" if download else "inline",
    )
    await arecord_activity(
        request,
        ActivityKind.PDF_DOWNLOAD,
        contact_id=request.contact.contact_id,  # type: ignore[attr-defined]
        record_model="Quote",
        record_id=quote.id,
    )
    return response


async def _decide(request: HttpRequest, quote_id: str, accept: bool) -> HttpResponse:
    try:
        checked, site = await _checked_quote(request, quote_id)
    except errors.NotFound:
        return render_error(request, 404)
    if not site.quotes_can_decide or not is_awaiting(checked.record, today()):
        return render_error(request, 403)
    reason = " ".join(request.POST.get("reason", "").split())
    if not accept and (not reason or len(reason) > REASON_MAX):
        messages.error(
            request,
            _("Please tell us why you decline (at most %(max)d characters).") % {"max": REASON_MAX},
        )
        return HttpResponseRedirect(f"{LIST_PATH}{checked.id}/#decide")
    contact = request.contact  # type: ignore[attr-defined]
    await decide_quote(
        contact_gateway(request),
        checked,
        stage=QUOTE_STAGE_ACCEPTED if accept else QUOTE_STAGE_DECLINED,
        who=f"{contact.name} <{contact.email}>" if contact.email else contact.name,
        decision="Accepted" if accept else "Declined",
        reason=reason,
    )
    await arecord_activity(
        request,
        ActivityKind.QUOTE_ACCEPTED if accept else ActivityKind.QUOTE_DECLINED,
        contact_id=contact.contact_id,
        record_model="Quote",
        record_id=checked.id,
    )
    messages.success(
        request,
        _("Thank you: you accepted this quote.")
        if accept
        else _("You declined this quote. Thank you for telling us why."),
    )
    return HttpResponseRedirect(f"{LIST_PATH}{checked.id}/")


@require_POST
@contact_required
async def quote_accept(request: HttpRequest, quote_id: str) -> HttpResponse:
    return await _decide(request, quote_id, accept=True)


@require_POST
@contact_required
async def quote_decline(request: HttpRequest, quote_id: str) -> HttpResponse:
    return await _decide(request, quote_id, accept=False)
