"""Documents linked to the contact or their account: list, details, preview and download.

CRM calls: the list makes one list call plus one file-info call per row shown (for size
and type; at most `FILE_INFO_CONCURRENCY` at once, a failing one only blanks its cell);
the detail page two (record, file info); a download two (record, bytes).
Inline preview is offered, and served inline, only for `PREVIEW_TYPES`; everything else
is an attachment (the gateway's stream_response enforces its own safe list as well).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET

from crm_gateway import errors
from crm_gateway.models import Document, FileInfo
from crm_gateway.query import ListQuery as CrmListQuery
from crm_gateway.responses import stream_response
from crm_gateway.scope import CheckedRecord
from crm_gateway.streaming import safe_media_type
from portal.activity import arecord_activity
from portal.crm_data import bounded_gather, contact_gateway, page_locale, render_page
from portal.errors import render_error
from portal.listing import (
    DOCUMENT_SPEC,
    PERIODS,
    BadListQuery,
    ListQuery,
    Paging,
    clamp_page,
    page_links,
    page_size_for,
    parse_list_query,
    sort_headers,
)
from portal.models import ActivityKind
from portal.signin.session import contact_required
from portal.site_settings import aget_portal_settings

LIST_PATH = "/documents/"
LIST_FIELDS = (
    "document_name",
    "name",
    "filename",
    "file_mime_type",
    "category_id",
    "status_id",
    "date_entered",
    "date_modified",
)
FILE_INFO_CONCURRENCY = 8
PREVIEW_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp"})
IMAGE_TYPES = frozenset(t for t in PREVIEW_TYPES if t.startswith("image/"))
OOXML = "application/vnd.openxmlformats-officedocument"
TYPE_LABELS = {
    "application/pdf": _lazy("PDF"),
    "image/png": _lazy("PNG image"),
    "image/jpeg": _lazy("JPEG image"),
    "image/gif": _lazy("GIF image"),
    "image/webp": _lazy("WebP image"),
    "text/plain": _lazy("Text"),
    "text/csv": _lazy("CSV table"),
    f"{OOXML}.wordprocessingml.document": _lazy("Word document"),
    f"{OOXML}.spreadsheetml.sheet": _lazy("Excel workbook"),
    "application/zip": _lazy("ZIP archive"),
}


def type_label(media_type: str, filename: str | None) -> str:
    label = TYPE_LABELS.get(media_type)
    if label:
        return str(label)
    extension = (filename or "").rpartition(".")[2]
    return extension.upper() if extension and extension != filename else _("File")


def document_row(record: Document, info: FileInfo | None) -> dict[str, Any]:
    row = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    media = safe_media_type((info.mimetype if info else None) or record.file_mime_type)
    filename = (info.name if info else None) or record.filename
    row.update(
        title=record.document_name or record.name or filename or record.id,
        filename=filename,
        media_type=media,
        type_label=type_label(media, filename),
        size=info.size if info else None,
        modified=record.date_modified or record.date_entered,
        previewable=media in PREVIEW_TYPES,
        is_image=media in IMAGE_TYPES,
        url=f"{LIST_PATH}{record.id}/",
        download_url=f"{LIST_PATH}{record.id}/download",
        preview_url=f"{LIST_PATH}{record.id}/download?inline=1",
    )
    return row


async def fetch_document_page(
    request: HttpRequest, query: ListQuery, page_size: int
) -> tuple[list[dict[str, Any]], int, int]:
    gateway = contact_gateway(request)
    filters = []
    date_filter = query.crm_date_filter(DOCUMENT_SPEC)
    if date_filter is not None:
        filters.append(date_filter)

    async def one(page_number: int) -> tuple[list[CheckedRecord[Document]], int]:
        page = await gateway.list_records(
            Document,
            CrmListQuery(
                fields=LIST_FIELDS,
                filters=tuple(filters),
                filter_text=query.q or None,
                order=query.crm_order(DOCUMENT_SPEC),
                offset=(page_number - 1) * page_size,
                limit=page_size,
            ),
        )
        return page.records, page.total

    records, total = await one(query.page)
    shown = clamp_page(query.page, total, page_size)
    if shown != query.page:
        records, total = await one(shown)
    infos = await bounded_gather(
        (gateway.file_info(checked) for checked in records), FILE_INFO_CONCURRENCY
    )
    rows = [document_row(c.record, info) for c, info in zip(records, infos, strict=True)]
    return rows, total, shown


@require_GET
@contact_required
async def document_list(request: HttpRequest) -> HttpResponse:
    site = await aget_portal_settings()
    if not site.section_documents:
        return render_error(request, 404)
    try:
        query = parse_list_query(
            request.GET, DOCUMENT_SPEC, query_length=len(request.META.get("QUERY_STRING", ""))
        )
    except BadListQuery:
        return render_error(request, 400)
    page_size = page_size_for(site.page_size)
    (rows, total, shown), locale = await asyncio.gather(
        fetch_document_page(request, query, page_size), page_locale()
    )
    query = dataclasses.replace(query, page=shown)
    paging = Paging(page=shown, page_size=page_size, total=total)
    context = {
        "page_title": _("Documents"),
        "rows": rows,
        "query": query,
        "paging": paging,
        "headers": sort_headers(query, DOCUMENT_SPEC, LIST_PATH),
        "periods": PERIODS,
        "page_links": page_links(query, DOCUMENT_SPEC, LIST_PATH, paging),
        "clear_url": LIST_PATH,
        "list_path": LIST_PATH,
        "date_label": DOCUMENT_SPEC.date_label,
        "crm_locale": locale,
    }
    return render_page(
        request,
        "portal/documents/list.html",
        context,
        partial="table",
        push_url=query.url(LIST_PATH, DOCUMENT_SPEC),
    )


async def _checked_document(request: HttpRequest, document_id: str) -> CheckedRecord[Document]:
    site = await aget_portal_settings()
    if not site.section_documents:
        raise errors.NotFound("the documents section is off")
    return await contact_gateway(request).get_record(Document, document_id)


@require_GET
@contact_required
async def document_detail(request: HttpRequest, document_id: str) -> HttpResponse:
    try:
        checked = await _checked_document(request, document_id)
    except errors.NotFound:
        return render_error(request, 404)
    info, locale = await asyncio.gather(contact_gateway(request).file_info(checked), page_locale())
    row = document_row(checked.record, info)
    context = {
        "page_title": row["title"],
        "document": checked.record,
        "row": row,
        "crm_locale": locale,
    }
    return render_page(request, "portal/documents/detail.html", context)


@require_GET
@contact_required
async def document_download(request: HttpRequest, document_id: str) -> HttpResponseBase:
    try:
        checked = await _checked_document(request, document_id)
    except errors.NotFound:
        return render_error(request, 404)
    document = checked.record
    media = safe_media_type(document.file_mime_type)
    inline = request.GET.get("inline") == "1" and media in PREVIEW_TYPES
    response = await stream_response(
        contact_gateway(request).download(checked),
        filename=document.filename or document.document_name or "document",
        disposition="inline" if inline else "attachment",
    )
    if not inline:
        await arecord_activity(
            request,
            ActivityKind.DOCUMENT_DOWNLOAD,
            contact_id=request.contact.contact_id,  # type: ignore[attr-defined]
            record_model="Document",
            record_id=document.id,
        )
    return response
