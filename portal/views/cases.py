"""Support cases beyond the generic list and page: open one, comment, close, reopen, and
an attachment's download (issue 14).

Every write opens its case with `checked_record()` first (another account's case, a
missing or malformed id: the 404 page, before the form is even read), and writes through
the gateway's typed calls, which take the account and contact from the session. Uploads
go to the CRM before anything that refers to them: a new case is created only once every
attachment is uploaded, so a failure leaves no half-made case; when a note could not be
added afterwards, the contact is told exactly which files are missing.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm_gateway import (
    Case,
    CheckedRecord,
    ContactGateway,
    CrmError,
    NotFound,
)
from portal.activity import arecord_activity
from portal.crm_data import contact_gateway
from portal.downloads import logged_download
from portal.errors import render_error
from portal.models import ActivityKind
from portal.sections.access import checked_record, section_settings
from portal.sections.cases import CASES, CaseRow, can_close, can_reopen, case_choices
from portal.signin.session import contact_required
from portal.uploads import CheckedUpload, bounded_uploads, check_files, crm_source
from portal.views import case_forms
from portal.views.sections import render_record

logger = logging.getLogger(__name__)


def _contact_id(request: HttpRequest) -> str:
    return request.contact.contact_id  # type: ignore[attr-defined]


async def _upload_all(gateway: ContactGateway, files: list[CheckedUpload]) -> list[tuple[str, str]]:
    """(file name, upload id) for every file, in order; a CrmError if any fails."""
    uploaded = []
    for upload in files:
        upload_id = await gateway.upload_file(
            filename=upload.name,
            content_type=upload.media_type,
            size=upload.file.size or 0,
            content=crm_source(upload.file),
        )
        uploaded.append((upload.name, upload_id))
    return uploaded


async def _attach_all(
    gateway: ContactGateway, case: CheckedRecord[Case], uploaded: list[tuple[str, str]]
) -> list[str]:
    """Notes for the uploads; the names of those that could not be added."""
    missing = []
    for name, upload_id in uploaded:
        try:
            await gateway.add_case_note(case, name=name, description="", upload_id=upload_id)
        except CrmError as exc:
            logger.warning("could not attach an upload to a case: %s", type(exc).__name__)
            missing.append(name)
    return missing


def _tell_missing(request: HttpRequest, missing: list[str]) -> None:
    if missing:
        messages.warning(
            request,
            _("These files could not be attached: %(names)s. Please add them in a comment.")
            % {"names": ", ".join(missing)},
        )


# --- A new case ----------------------------------------------------------------------------


def _new_page(
    request: HttpRequest, form: Any, token: str, site: Any, problems: list[str], status: int = 200
) -> HttpResponse:
    context = {
        "page_title": _("Open a new case"),
        "form": form,
        "submission": token,
        "problems": problems,
        **case_forms.upload_context(site),
    }
    return render(request, "portal/cases/new.html", context, status=status)


@require_http_methods(["GET", "POST"])
@bounded_uploads
@contact_required
async def case_new(request: HttpRequest) -> HttpResponse:
    site = await section_settings(CASES)
    gateway = contact_gateway(request)
    choices = await case_choices(gateway)
    if request.method == "GET":
        form = case_forms.NewCaseForm(
            choices=choices, site=site, initial={"subject": request.GET.get("subject", "")[:255]}
        )
        return _new_page(request, form, case_forms.new_token(), site, [])
    form = case_forms.NewCaseForm(request.POST, choices=choices, site=site)
    files, problems = check_files(request)
    token = request.POST.get("submission", "")
    if not form.is_valid() or problems:
        return _new_page(request, form, token or case_forms.new_token(), site, problems, 400)
    contact_id = _contact_id(request)
    claimed, done = await case_forms.claim(contact_id, "case", token)
    if not claimed:
        if done:  # the same form again: the case it made
            messages.info(request, _("We had already received this case."))
            return HttpResponseRedirect(done)
        problem = (
            _("Please send the form again.")
            if done is None
            else _("This case is being sent. Please wait a moment, then look at your cases.")
        )
        return _new_page(request, form, case_forms.new_token(), site, [problem], 409)
    if not await case_forms.within_rate(site, contact_id, "case"):
        await case_forms.release(contact_id, "case", token)
        problem = _("You have opened many cases in the last hour. Please try again later.")
        return _new_page(request, form, token, site, [problem], 429)
    try:
        uploaded = await _upload_all(gateway, files)
        case = await gateway.create_case(
            subject=form.cleaned_data["subject"],
            description=form.cleaned_data["description"],
            fields=form.crm_fields(),
        )
    except CrmError as exc:
        await case_forms.release(contact_id, "case", token)
        logger.warning("a new case could not be created: %s", type(exc).__name__)
        problem = _("We could not send your case just now; nothing was saved. Please try again.")
        return _new_page(request, form, token, site, [problem], 503)
    url = CASES.record_url(case.id)
    await case_forms.settle(contact_id, "case", token, url)
    missing = await _attach_all(gateway, case, uploaded)
    await arecord_activity(
        request,
        ActivityKind.CASE_CREATED,
        contact_id=contact_id,
        record_model="aCase",
        record_id=case.id,
    )
    messages.success(request, _("Thank you. Your case is open; we will answer here."))
    _tell_missing(request, missing)
    return HttpResponseRedirect(url)


# --- A comment -----------------------------------------------------------------------------


@require_POST
@bounded_uploads
@contact_required
async def case_comment(request: HttpRequest, case_id: str) -> HttpResponse:
    checked, site = await checked_record(request, CASES, case_id)
    gateway = contact_gateway(request)
    form = case_forms.CommentForm(request.POST)
    files, problems = check_files(request)
    token = request.POST.get("submission", "")
    page = f"{CASES.record_url(checked.id)}#conversation"

    async def again(problems: list[str], status: int) -> HttpResponse:
        return await render_record(
            request,
            CASES,
            checked,
            site,
            status=status,
            comment_form=form,
            comment_token=token or case_forms.new_token(),
            problems=problems,
        )

    if not form.is_valid() or problems:
        return await again(problems, 400)
    contact_id = _contact_id(request)
    claimed, done = await case_forms.claim(contact_id, "comment", token)
    if not claimed:
        if done:
            return HttpResponseRedirect(done)
        return await again([_("Please send the form again.")], 409)
    if not await case_forms.within_rate(site, contact_id, "comment"):
        await case_forms.release(contact_id, "comment", token)
        return await again(
            [_("You have sent many messages in the last hour. Please try again later.")], 429
        )
    try:
        uploaded = await _upload_all(gateway, files)
        body = form.cleaned_data["body"]
        await gateway.add_case_note(checked, name=body.splitlines()[0][:80], description=body)
    except CrmError as exc:
        await case_forms.release(contact_id, "comment", token)
        logger.warning("a case comment could not be added: %s", type(exc).__name__)
        problem = _("We could not send your message just now; nothing was saved. Please try again.")
        return await again([problem], 503)
    await case_forms.settle(contact_id, "comment", token, page)
    missing = await _attach_all(gateway, checked, uploaded)
    await arecord_activity(
        request,
        ActivityKind.CASE_COMMENTED,
        contact_id=contact_id,
        record_model="aCase",
        record_id=checked.id,
    )
    messages.success(request, _("Thank you. Your message was added to the case."))
    _tell_missing(request, missing)
    return HttpResponseRedirect(page)


# --- Close and reopen ----------------------------------------------------------------------


async def _set_status(request: HttpRequest, case_id: str, close: bool) -> HttpResponse:
    checked, site = await checked_record(request, CASES, case_id)
    gateway = contact_gateway(request)
    row = CaseRow(checked.record, await case_choices(gateway))
    allowed = can_close(site, row) if close else can_reopen(site, row)
    if not allowed:
        return render_error(request, 403)
    await gateway.set_case_status(checked, closed=close)
    await arecord_activity(
        request,
        ActivityKind.CASE_CLOSED if close else ActivityKind.CASE_REOPENED,
        contact_id=_contact_id(request),
        record_model="aCase",
        record_id=checked.id,
    )
    messages.success(request, _("The case is closed.") if close else _("The case is open again."))
    return HttpResponseRedirect(CASES.record_url(checked.id))


@require_POST
@contact_required
async def case_close(request: HttpRequest, case_id: str) -> HttpResponse:
    return await _set_status(request, case_id, close=True)


@require_POST
@contact_required
async def case_reopen(request: HttpRequest, case_id: str) -> HttpResponse:
    return await _set_status(request, case_id, close=False)


# --- An attachment -------------------------------------------------------------------------


@require_GET
@contact_required
async def case_attachment(request: HttpRequest, case_id: str, note_id: str) -> HttpResponseBase:
    """After both checks: the case is this contact's, the note is a portal note of it."""
    case, _site = await checked_record(request, CASES, case_id)
    gateway = contact_gateway(request)
    note = await gateway.case_note(case, note_id)
    if not note.record.filename:
        raise NotFound("a note without a file")
    return await logged_download(
        request,
        gateway.download(note),
        filename=note.record.filename,
        kind=ActivityKind.DOCUMENT_DOWNLOAD,
        record_model="Note",
        record_id=note.id,
    )
