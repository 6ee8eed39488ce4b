"""A file attached to an invoice (a note staff marked for the portal).

The invoice's list, page and PDF are the generic section views (portal/views/sections.py).
"""

from __future__ import annotations

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from crm_gateway import Note, errors
from portal.crm_data import contact_gateway
from portal.downloads import logged_download
from portal.models import ActivityKind
from portal.sections.access import checked_record
from portal.sections.invoices import INVOICES
from portal.signin.session import contact_required


@require_GET
@contact_required
async def invoice_attachment(
    request: HttpRequest, invoice_id: str, note_id: str
) -> HttpResponseBase:
    gateway = contact_gateway(request)
    invoice, _site = await checked_record(request, INVOICES, invoice_id)
    note = await gateway.get_record(Note, note_id)
    if note.record.parent_id != invoice.id or not note.record.filename:
        raise errors.NotFound("not a file attached to this invoice")
    return await logged_download(
        request,
        gateway.download(note),
        filename=note.record.filename,
        kind=ActivityKind.DOCUMENT_DOWNLOAD,
        record_model="Note",
        record_id=note.id,
    )
