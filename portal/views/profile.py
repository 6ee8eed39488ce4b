"""The contact's own profile and personal data (issue 16). Paths are fixed:

* `/profile/` GET shows the contact's details, POST saves the ones staff let them edit;
* `/profile/email/` POST `email` sends a confirmation link to the new address, and
  `/profile/email/<token>/` (GET a button, POST the change) writes `email1`;
* `/profile/personal-data.pdf` streams the CRM's personal-data print;
* `/profile/erasure` POST asks for confirmation, then (with `confirm=yes`) makes the
  erasure request (a case, a note and an e-mail, or the direct erasure staff chose);
* `/profile/activity.json` is what the portal itself holds about the contact.

Every CRM call names only the session's own contact (the gateway builds the paths from
the scope); nothing in a form or a URL can point a write at another record.
"""

from __future__ import annotations

import json
import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm_gateway import PROFILE_PREFERENCE_FIELDS, StaffGateway, errors
from portal.activity import arecord_activity
from portal.crm_data import contact_gateway
from portal.downloads import logged_download
from portal.errors import render_error
from portal.models import ActivityKind
from portal.profile import email_change
from portal.profile.erasure import request_erasure
from portal.profile.export import portal_data
from portal.profile.form import ProfileForm, profile_form
from portal.rendering import render_page
from portal.security import pdf_printing_allowed
from portal.signin import ratelimit
from portal.signin.session import SESSION_KEY, contact_required
from portal.site_settings import aget_portal_settings

logger = logging.getLogger(__name__)

PREFERENCE_LABELS = {"email_opt_out": gettext_lazy("Send me no e-mails about offers and news")}


async def _preferences_offered() -> list[str]:
    """The e-mail preferences the CRM has (`/meta/fields/Contact`); none if it cannot say."""
    try:
        fields = await StaffGateway().model_fields("Contact")
    except errors.CrmError as exc:
        logger.info(
            "Contact fields unavailable, no e-mail preferences shown: %s", type(exc).__name__
        )
        return []
    return sorted(name for name in PROFILE_PREFERENCE_FIELDS if name in fields.fields)


async def _render_profile(
    request: HttpRequest,
    record: object,
    form: ProfileForm,
    offered: list[str],
    *,
    status: int = 200,
    email: str = "",
    email_error: str = "",
    typed_preferences: dict[str, bool] | None = None,
) -> HttpResponse:
    """The page; `typed_preferences`, when the form comes back with errors, are the boxes
    as the contact left them (not as the CRM has them)."""
    shown = typed_preferences or {}
    preferences = [
        {
            "name": name,
            "label": str(PREFERENCE_LABELS.get(name, name)),
            "checked": shown.get(name, bool(getattr(record, name, False))),
        }
        for name in offered
    ]
    context = {
        "page_title": _("Your profile"),
        "record": record,
        "form": form,
        "preferences": preferences,
        "email": email,
        "email_error": email_error,
    }
    response = render_page(request, "portal/profile/profile.html", context)
    response.status_code = status
    return response


@require_http_methods(["GET", "POST"])
@contact_required
async def profile(request: HttpRequest) -> HttpResponse:
    site = await aget_portal_settings()
    gateway = contact_gateway(request)
    own = await gateway.own_contact()
    offered = await _preferences_offered()
    record = own.record
    if request.method == "GET":
        return await _render_profile(
            request, record, profile_form(record, site.profile_editable_fields), offered
        )
    form = profile_form(record, site.profile_editable_fields, request.POST)
    typed: dict[str, bool] = {}
    if request.POST.get("preferences") == "1":  # the preferences were on the form
        typed = {name: request.POST.get(name) == "on" for name in offered}
    if not form.is_valid:
        messages.error(request, _("Please check the fields marked below."))
        return await _render_profile(
            request, record, form, offered, status=400, typed_preferences=typed
        )
    preferences = {
        name: wanted
        for name, wanted in typed.items()
        if wanted != bool(getattr(record, name, False))
    }
    if not form.changes and not preferences:
        messages.info(request, _("Nothing was changed."))
        return HttpResponseRedirect(reverse("profile"))
    await gateway.update_own_contact(form.changes)
    await gateway.set_own_preferences(preferences)
    await arecord_activity(
        request, ActivityKind.PROFILE_UPDATED, record_model="Contact", record_id=own.id
    )
    messages.success(request, _("Your details were saved."))
    return HttpResponseRedirect(reverse("profile"))


@require_POST
@contact_required
async def email_request(request: HttpRequest) -> HttpResponse:
    contact = request.contact  # type: ignore[attr-defined]
    site = await aget_portal_settings()
    gateway = contact_gateway(request)
    email = request.POST.get("email", "").strip()[:254]
    problem = ""
    try:
        validate_email(email)
    except ValidationError:
        problem = _("Please enter a valid e-mail address.")
    own = await gateway.own_contact()
    current = own.record.email1 or ""
    if not problem and email.casefold() == current.casefold():
        problem = _("This is already your e-mail address.")
    if not problem and not await ratelimit.allow(
        ratelimit.EMAIL_CHANGE_PER_CONTACT, contact.contact_id
    ):
        problem = _("Too many e-mail changes were asked for. Please wait 15 minutes.")
    if not problem and await email_change.used_by_another_contact(email, contact.contact_id):
        problem = _("This address cannot be used for your profile. Please choose another one.")
    if problem:
        form = profile_form(own.record, site.profile_editable_fields)
        return await _render_profile(
            request,
            own.record,
            form,
            await _preferences_offered(),
            status=400,
            email=email,
            email_error=problem,
        )
    token = await email_change.start_change(contact.contact_id, current, email)
    email_change.queue_confirmation(site, contact.contact_id, contact.name, email, token)
    await arecord_activity(
        request, ActivityKind.EMAIL_CHANGE_REQUESTED, record_model="Contact", record_id=own.id
    )
    messages.success(
        request,
        _(
            "We sent a link to %(email)s. Your address changes when you follow it "
            "(within 15 minutes)."
        )
        % {"email": email},
    )
    return HttpResponseRedirect(reverse("profile"))


@require_http_methods(["GET", "POST"])
@contact_required
async def email_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (mail scanners pre-fetch links), POST changes the address."""
    contact = request.contact  # type: ignore[attr-defined]
    if request.method == "GET":
        change = await email_change.find_usable_change(token, contact.contact_id)
        if change is None:
            return _link_invalid(request)
        context = {"page_title": _("Confirm your new e-mail address"), "change": change}
        return render_page(request, "portal/profile/email_confirm.html", context | {"token": token})
    change = await email_change.consume_change(token, contact.contact_id)
    if change is None:
        return _link_invalid(request)
    if await email_change.used_by_another_contact(change.new_email, contact.contact_id):
        messages.error(
            request, _("This address cannot be used for your profile. Please choose another one.")
        )
        return HttpResponseRedirect(reverse("profile"))
    await contact_gateway(request).set_own_email(change.new_email)
    contact.email = change.new_email
    session = request.session
    stored = dict(await session.aget(SESSION_KEY) or {})
    await session.aset(SESSION_KEY, {**stored, "email": change.new_email})
    site = await aget_portal_settings()
    email_change.queue_notice(
        site, contact.contact_id, contact.name, change.old_email, change.new_email
    )
    await arecord_activity(
        request, ActivityKind.EMAIL_CHANGED, record_model="Contact", record_id=contact.contact_id
    )
    messages.success(
        request, _("Your e-mail address is now %(email)s.") % {"email": change.new_email}
    )
    return HttpResponseRedirect(reverse("profile"))


def _link_invalid(request: HttpRequest) -> HttpResponse:
    response = render_page(
        request,
        "portal/profile/email_link_invalid.html",
        {"page_title": _("This link does not work any more")},
    )
    response.status_code = 400
    return response


@require_GET
@contact_required
async def personal_data_pdf(request: HttpRequest) -> HttpResponseBase:
    gateway = contact_gateway(request)
    own = await gateway.own_contact()
    if not await pdf_printing_allowed(request):
        return render_error(request, 429)
    return await logged_download(
        request,
        gateway.personal_data_pdf(own),
        filename=_("Personal data") + ".pdf",
        kind=ActivityKind.PERSONAL_DATA_PDF,
        record_model="Contact",
        record_id=own.id,
    )


@require_POST
@contact_required
async def erasure(request: HttpRequest) -> HttpResponse:
    """Without `confirm=yes`: the confirmation step. With it: the request itself."""
    site = await aget_portal_settings()
    if request.POST.get("confirm") != "yes":
        context = {
            "page_title": _("Erase your personal data?"),
            "direct": site.erasure_mode == "direct",
        }
        return render_page(request, "portal/profile/erasure_confirm.html", context)
    contact = request.contact  # type: ignore[attr-defined]
    who = f"{contact.name} <{contact.email}>" if contact.email else contact.name
    mode = await request_erasure(contact_gateway(request), site, who)
    kind = ActivityKind.PERSONAL_DATA_ERASED if mode == "direct" else ActivityKind.ERASURE_REQUESTED
    await arecord_activity(request, kind, record_model="Contact", record_id=contact.contact_id)
    context = {"page_title": _("We received your request"), "direct": mode == "direct"}
    return render_page(request, "portal/profile/erasure_done.html", context)


@require_GET
@contact_required
async def activity_json(request: HttpRequest) -> HttpResponse:
    contact = request.contact  # type: ignore[attr-defined]
    data = await portal_data(contact.contact_id)
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = 'attachment; filename="portal-activity.json"'
    response["Cache-Control"] = "no-store"
    return response
