"""The statement of account: `/statement/`, `/statement.pdf` and `/statement.csv`, all
three from the same query string (portal/statement/period.py) and the same reading
(portal/statement/ledger.py).

CRM calls: the open invoices and the period's payments, concurrently, page by page
(usually one call each); the PDF also reads the contact's own account (its name and
billing address, a part that may fail on its own). The PDF and the CSV take one of the
contact's download slots while they are read and made, count against the contact's PDF
rate, and leave an activity entry with the number of lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from crm_gateway import Account, CheckedRecord
from portal.activity import arecord_activity
from portal.branding import load_logo
from portal.crm_data import contact_gateway, page_locale
from portal.downloads import take_slot
from portal.errors import render_crm_unavailable, render_error, render_too_many_downloads
from portal.formatting import CrmLocale
from portal.models import ActivityKind
from portal.parts import part_failed
from portal.rendering import is_htmx, render_page
from portal.sections import INVOICES
from portal.sections.rows import today
from portal.security import pdf_printing_allowed
from portal.signin.session import contact_required
from portal.site_settings import SiteSettings
from portal.statement import files
from portal.statement.access import statement_settings
from portal.statement.ledger import BUCKETS, Statement, read_statement
from portal.statement.period import PERIOD_LABELS, PeriodForm, StatementPeriod, read_period


def _form(request: HttpRequest) -> PeriodForm:
    return read_period(request.GET, today(), query_length=len(request.META.get("QUERY_STRING", "")))


def _account_id(request: HttpRequest) -> str:
    return str(getattr(request.contact, "account_id", "") or "")  # type: ignore[attr-defined]


@require_GET
@contact_required
async def statement(request: HttpRequest) -> HttpResponse:
    site = await statement_settings()
    form = _form(request)
    context: dict[str, Any] = {
        "page_title": _("Statement of account"),
        "form": form,
        "periods": PERIOD_LABELS,
        "buckets": BUCKETS,
        "statement_path": reverse("statement"),
        "retry_url": request.get_full_path(),
    }
    if form.result is None:
        context["crm_locale"] = await page_locale()
        response = render_page(request, "portal/statement.html", context, partial="results")
        response.status_code = 400
        return response
    period = form.result
    result, locale = await asyncio.gather(
        read_statement(contact_gateway(request), site, period, today()), page_locale()
    )
    context.update(
        statement=result,
        crm_locale=locale,
        pdf_url=period.url(reverse("statement-pdf")),
        csv_url=period.url(reverse("statement-csv")),
        invoices_url=reverse(INVOICES.key),
    )
    if not is_htmx(request):
        await _record(request, ActivityKind.STATEMENT_VIEWED, result)
    return render_page(
        request,
        "portal/statement.html",
        context,
        partial="results",
        push_url=period.url(reverse("statement")),
    )


async def _statement_file(
    request: HttpRequest, period: StatementPeriod, site: SiteSettings, *, with_account: bool
) -> tuple[Statement, CrmLocale, CheckedRecord[Account] | None]:
    """The statement, the locale and (for the PDF) the contact's account, concurrently;
    the account is a part that may fail on its own (the PDF then names the account from
    the session, without its address)."""
    gateway = contact_gateway(request)
    account_part: Awaitable[CheckedRecord[Account] | None] = (
        gateway.own_account() if with_account and _account_id(request) else _nothing()
    )
    result, locale, account = await asyncio.gather(
        read_statement(gateway, site, period, today()),
        page_locale(),
        account_part,
        return_exceptions=True,
    )
    if isinstance(result, BaseException):
        raise result
    if isinstance(locale, BaseException):
        raise locale
    if part_failed(account, "statement account") or isinstance(account, BaseException):
        account = None
    return result, locale, account


async def _nothing() -> None:
    return None


async def _guarded(request: HttpRequest) -> HttpResponse | None:
    """The answer when the contact may not have one more statement file right now."""
    if not await pdf_printing_allowed(request):
        return render_error(request, 429)
    return None


async def _record(request: HttpRequest, kind: ActivityKind, result: Statement) -> None:
    await arecord_activity(
        request,
        kind,
        record_model="Account",
        record_id=_account_id(request),
        record_count=result.record_count,
    )


type FileMaker = Callable[
    [SiteSettings, Statement, CrmLocale, CheckedRecord[Account] | None],
    Awaitable[HttpResponseBase],
]


async def _statement_download(
    request: HttpRequest, *, with_account: bool, make: FileMaker
) -> HttpResponseBase:
    """The PDF's and the CSV's common road: the period read, the contact's PDF rate and
    one of their download slots taken, the statement read, then `make` turns it into the
    answer while the slot is still held."""
    site = await statement_settings()
    form = _form(request)
    if form.result is None:
        return render_error(request, 400)
    refused = await _guarded(request)
    if refused is not None:
        return refused
    slot = await take_slot(request.contact.contact_id)  # type: ignore[attr-defined]
    if slot is None:
        return render_too_many_downloads(request)
    try:
        result, locale, account = await _statement_file(
            request, form.result, site, with_account=with_account
        )
        return await make(site, result, locale, account)
    finally:
        await slot.release()


@require_GET
@contact_required
async def statement_pdf(request: HttpRequest) -> HttpResponseBase:
    async def make(
        site: SiteSettings,
        result: Statement,
        locale: CrmLocale,
        account: CheckedRecord[Account] | None,
    ) -> HttpResponseBase:
        logo = await sync_to_async(load_logo)() if site.has_logo else (b"", "")
        document = files.StatementDocument(
            statement=result,
            locale=locale,
            portal_name=site.display_name,
            logo=logo[0],
            account_name=(account.record.name if account else "")
            or getattr(request.contact, "account_name", "")  # type: ignore[attr-defined]
            or request.contact.name,  # type: ignore[attr-defined]
            address=files.address_lines(account.record) if account else [],
            contact_name=request.contact.name,  # type: ignore[attr-defined]
        )
        body = await sync_to_async(files.render_pdf, thread_sensitive=False)(document)
        await _record(request, ActivityKind.STATEMENT_PDF, result)
        return _download(_chunks([body]), "application/pdf", files.filename(result, "pdf"))

    return await _statement_download(request, with_account=True, make=make)


async def _chunks(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _download(content: AsyncIterator[bytes], content_type: str, name: str) -> HttpResponseBase:
    """A made file as an attachment (streamed from an async iterator, as ASGI wants)."""
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


@require_GET
@contact_required
async def statement_csv(request: HttpRequest) -> HttpResponseBase:
    async def make(
        site: SiteSettings,
        result: Statement,
        locale: CrmLocale,
        account: CheckedRecord[Account] | None,
    ) -> HttpResponseBase:
        if result.payments_failed:
            # An accountant's file is complete or it is not given: the CRM's trouble page.
            return render_crm_unavailable(request, status=502, retry_after=None)
        await _record(request, ActivityKind.STATEMENT_CSV, result)
        lines = (line.encode() for line in files.csv_lines(result, locale))
        return _download(_chunks(lines), "text/csv; charset=utf-8", files.filename(result, "csv"))

    return await _statement_download(request, with_account=False, make=make)
