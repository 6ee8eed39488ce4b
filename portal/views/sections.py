"""The views every section shares: its list, one record, its PDF, its file.

portal/urls.py routes each section's paths here with its declaration
(`{"section": INVOICES}`); see portal/sections/ for what a declaration says.

CRM calls per page (counted in tests): the list one list call (two when the page asked
for is past the last one) plus its section's per-row extra (documents: file info); the
detail page the record, then the tally and the section's extras concurrently (the locale
comes from the cache); a PDF or a file the record, then its bytes. An id from a URL goes
only to the gateway, which refuses anything not shaped like an id and anything that is
not this contact's (NotFound: the same 404 page as for an id that does not exist) before
any call with the portal's credential.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.views.decorators.http import require_GET

from crm_gateway import CheckedRecord, ZipMember, zip_names
from portal.crm_data import contact_gateway, page_locale
from portal.downloads import logged_download, logged_zip
from portal.errors import render_error
from portal.listing import (
    PERIODS,
    BadListQuery,
    ListQuery,
    Paging,
    page_links,
    page_size_for,
    parse_list_query,
)
from portal.models import ActivityKind
from portal.parts import part_failed
from portal.rendering import render_page
from portal.sections import Section
from portal.sections.access import checked_record, section_settings
from portal.sections.rows import all_rows, column_heads, fetch_rows, table_cells, today
from portal.security import pdf_printing_allowed
from portal.signin.session import contact_required
from portal.site_settings import SiteSettings


@require_GET
@contact_required
async def record_list(request: HttpRequest, section: Section) -> HttpResponse:
    site = await section_settings(section)
    try:
        query = parse_list_query(
            request.GET, section.spec, query_length=len(request.META.get("QUERY_STRING", ""))
        )
    except BadListQuery:
        return render_error(request, 400)
    page_size = page_size_for(site.page_size)
    gateway = contact_gateway(request)
    options = await section.filter_options(gateway) if section.filter_options else {}
    if not choices_offered(query, options):
        return render_error(request, 400)
    page, locale = await asyncio.gather(
        fetch_rows(gateway, section, site, query, page_size), page_locale()
    )
    query = dataclasses.replace(query, page=page.number)
    paging = Paging(page=page.number, page_size=page_size, total=page.total)
    path = section.list_url()
    columns = column_heads(section, query, path)
    context = {
        "page_title": section.texts.title,
        "section": section,
        "columns": columns,
        "table": table_cells(section.columns, columns, page.rows, locale),
        "rows": page.rows,
        "query": query,
        "paging": paging,
        "truncated": page.truncated,
        "statuses": section.spec.statuses,
        "blank_status_label": section.spec.blank_status_label,
        "periods": PERIODS,
        "page_links": page_links(query, section.spec, path, paging),
        "list_path": path,
        "date_label": section.spec.date_label,
        "choice_selects": choice_selects(section, query, options),
        "crm_locale": locale,
        "zip": zip_offer(section, site, query, page.total),
    }
    return render_page(
        request,
        "portal/sections/list.html",
        context,
        partial="table",
        push_url=query.url(path, section.spec),
    )


@dataclasses.dataclass(frozen=True)
class ChoiceSelect:
    """One choice filter as the filter form shows it."""

    name: str
    label: Any
    blank_label: Any
    options: Sequence[tuple[str, str]]
    current: str


def choices_offered(query: ListQuery, options: Mapping[str, Sequence[tuple[str, str]]]) -> bool:
    """Whether every choice asked for is one the CRM offers (when it said which)."""
    for name, value in query.choices:
        offered = options.get(name)
        if offered and value not in {option for option, _label in offered}:
            return False
    return True


def choice_selects(
    section: Section, query: ListQuery, options: Mapping[str, Sequence[tuple[str, str]]]
) -> list[ChoiceSelect]:
    """The selects of the filter form: only for filters the CRM gave options for (and
    one it did not, when a value was asked for, so the form still shows it)."""
    selects = []
    for name, choice in section.spec.choice_filters.items():
        offered = list(options.get(name) or ())
        current = query.choice(name)
        if current and current not in {value for value, _label in offered}:
            offered.append((current, current))
        if offered:
            selects.append(ChoiceSelect(name, choice.label, choice.blank_label, offered, current))
    return selects


def zip_offer(
    section: Section, site: SiteSettings, query: ListQuery, total: int
) -> dict[str, Any] | None:
    """The list's "Download all (zip)": its URL with the list's filters (every page, so
    no page number), how many files, or that there are too many for one zip."""
    if section.bulk is None or not total:
        return None
    return {
        "url": query.url(reverse(f"{section.key}-zip"), section.spec, page=1),
        "count": total,
        "max": site.zip_max_files,
        "too_many": total > site.zip_max_files,
    }


@require_GET
@contact_required
async def record_zip(request: HttpRequest, section: Section) -> HttpResponseBase:
    """`/<key>/download.zip?<the list's query>`: the PDFs or files of every record the
    list shows for that query (all its pages), in one zip streamed as it is built. Only
    records of the contact's list are fetched: the query string filters that list, it
    never names a record. Too many for one zip, or none: a page that says so."""
    site = await section_settings(section)
    bulk = section.bulk
    if bulk is None:  # routed only for sections that offer a zip
        return render_error(request, 404)
    try:
        query = parse_list_query(
            request.GET, section.spec, query_length=len(request.META.get("QUERY_STRING", ""))
        )
    except BadListQuery:
        return render_error(request, 400)
    gateway = contact_gateway(request)
    options = await section.filter_options(gateway) if section.filter_options else {}
    if not choices_offered(query, options):  # what the list refuses, the zip refuses
        return render_error(request, 400)
    found = await all_rows(gateway, section, site, query, site.zip_max_files)
    if found.total > site.zip_max_files or not found.rows:
        return zip_refused(request, section, site, query, found.total)
    names = zip_names((bulk.member_name(row) for _checked, row in found.rows), section.one)
    fetch = gateway.pdf if section.pdf else gateway.download
    members = [
        ZipMember(name, functools.partial(fetch, checked))
        for (checked, _row), name in zip(found.rows, names, strict=True)
    ]
    return await logged_zip(
        request,
        members,
        filename=bulk.filename,
        concurrency=site.zip_concurrency,
        kind=bulk.activity,
        record_model=section.model.MODEL,
    )


def zip_refused(
    request: HttpRequest, section: Section, site: SiteSettings, query: ListQuery, total: int
) -> HttpResponse:
    """No zip: too many records for one (422: narrow the period), or none (404)."""
    too_many = total > site.zip_max_files
    context = {
        "page_title": section.texts.title,
        "section": section,
        "count": total,
        "max": site.zip_max_files,
        "too_many": too_many,
        "list_url": query.url(section.list_url(), section.spec, page=1),
    }
    response = render_page(request, "portal/sections/zip_refused.html", context)
    response.status_code = 422 if too_many else 404
    return response


async def _nothing() -> Any:
    return None


async def _no_extra() -> dict[str, Any]:
    return {}


@require_GET
@contact_required
async def record_detail(request: HttpRequest, section: Section, record_id: str) -> HttpResponse:
    checked, site = await checked_record(request, section, record_id)
    return await render_record(request, section, checked, site)


async def render_record(
    request: HttpRequest,
    section: Section,
    checked: CheckedRecord[Any],
    site: SiteSettings,
    *,
    status: int = 200,
    **answer: Any,
) -> HttpResponse:
    """One record's page, also as the answer to a form on it (a quote decision refused:
    `answer` carries its error and what was typed back into the page)."""
    gateway = contact_gateway(request)
    detail_extra = section.detail_extra
    tally, more, locale = await asyncio.gather(
        gateway.tally(checked) if section.tally else _nothing(),
        detail_extra(gateway, checked, site) if detail_extra else _no_extra(),
        page_locale(),
        return_exceptions=True,
    )
    # The record itself was read: a part that failed is marked, the page still answers.
    tally_failed = part_failed(tally, "items")
    more_failed = part_failed(more, "related records")
    if isinstance(locale, BaseException):
        raise locale  # page_locale answers a default itself; anything else is a bug
    record = checked.record
    row = section.row(record, today())
    context = {
        "section": section,
        "record": record,
        "row": row,
        "tally": None if tally_failed else tally,
        "tally_failed": tally_failed,
        "more_failed": more_failed,
        "retry_url": request.get_full_path(),
        "currency": getattr(record, "currency_id", None),
        "crm_locale": locale,
        "pdf_url": section.record_url(record.id, "pdf") if section.pdf else "",
        **({} if more_failed else more),
    }
    title = section.texts.record_title
    context["page_title"] = (
        title % {"number": context["row"].title} if title else context["row"].title
    )
    response = render_page(request, section.template, {**context, **answer})
    response.status_code = status
    return response


@require_GET
@contact_required
async def record_pdf(request: HttpRequest, section: Section, record_id: str) -> HttpResponseBase:
    checked, _site = await checked_record(request, section, record_id)
    if not await pdf_printing_allowed(request):
        return render_error(request, 429)
    row = section.row(checked.record, today())
    download = request.GET.get("download") == "1"
    return await logged_download(
        request,
        contact_gateway(request).pdf(checked),
        filename=f"{section.pdf} {row.title}.pdf",
        disposition="attachment" if download else "inline",
        kind=ActivityKind.PDF_DOWNLOAD,
        record_model=section.model.MODEL,
        record_id=checked.id,
    )


@require_GET
@contact_required
async def record_download(
    request: HttpRequest, section: Section, record_id: str
) -> HttpResponseBase:
    """The record's file: inline (`?inline=1`) only for types a browser previews safely."""
    checked, _site = await checked_record(request, section, record_id)
    row = section.row(checked.record, today())
    inline = request.GET.get("inline") == "1" and row.previewable
    return await logged_download(
        request,
        contact_gateway(request).download(checked),
        filename=row.download_name,
        disposition="inline" if inline else "attachment",
        kind=None if inline else ActivityKind.DOCUMENT_DOWNLOAD,  # a preview is not a download
        record_model=section.model.MODEL,
        record_id=checked.id,
    )
