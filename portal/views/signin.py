"""Sign-in and sign-out: /login/, the OAuth flow, e-mailed links, /logout/.

Paths are fixed: the CRM's registered redirect URI and e-mailed links point at them.
"""

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.validators import validate_email
from django.forms import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm_gateway.errors import CrmError, CrmUnavailable, ServerError
from portal.activity import arecord_activity
from portal.client_address import client_address
from portal.models import ActivityKind, ContactAccess
from portal.signin import crm, links, oauth, ratelimit
from portal.signin.safe_next import safe_next
from portal.signin.session import (
    SignedInContact,
    end_session,
    load_contact,
    pop_end_reason,
    start_session,
)
from portal.signin_links import queue_sign_in_link
from portal.site_settings import aget_portal_settings

logger = logging.getLogger(__name__)

CRM_DOWN = gettext_lazy("The CRM is not reachable right now. Please try again shortly.")
END_REASONS = {
    "expired": gettext_lazy("Your session has ended. Please sign in again."),
    "idle": gettext_lazy("You were signed out after a period of inactivity."),
    "revoked": gettext_lazy("Your access has changed. Please sign in again."),
    "deactivated": gettext_lazy(
        "Your portal access is no longer active. Please contact us if you think this is a mistake."
    ),
    "signed_out": gettext_lazy("You have signed out."),
}


async def _render_login(
    request: HttpRequest, *, status: int = 200, message: str = "", error: str = "", email=""
) -> HttpResponse:
    site = await aget_portal_settings()
    context = {
        "site": site,
        "next": safe_next(request.GET.get("next") or request.POST.get("next")),
        "message": message,
        "error": error,
        "email": email,
    }
    return await sync_to_async(render)(request, "portal/login.html", context, status=status)


@never_cache
@require_GET
async def login_page(request: HttpRequest) -> HttpResponse:
    if await load_contact(request) is not None:
        return HttpResponseRedirect(safe_next(request.GET.get("next")))
    reason = await pop_end_reason(request)
    return await _render_login(request, message=str(END_REASONS.get(reason, "")))


@never_cache
@require_GET
async def oauth_start(request: HttpRequest) -> HttpResponse:
    site = await aget_portal_settings()
    if not site.signin_oauth:
        return await _render_login(request, status=404, error=_("This sign-in is not offered."))
    if not await ratelimit.allow(ratelimit.SIGN_IN_PER_IP, client_address(request.META)):
        return await _render_login(
            request, status=429, error=_("Too many sign-in attempts. Please wait a few minutes.")
        )
    url = await oauth.begin(request, safe_next(request.GET.get("next")))
    return HttpResponseRedirect(url)


async def _failed(request: HttpRequest, error: str, status: int, why: str) -> HttpResponse:
    logger.info("contact sign-in failed: %s", why)
    await arecord_activity(request, ActivityKind.SIGN_IN_FAILED, contact_id="")
    return await _render_login(request, status=status, error=error)


async def _crm_failed(request: HttpRequest, error: CrmError, what: str) -> HttpResponse:
    """A CRM down is 503 and worth a retry; anything else ends this sign-in attempt."""
    logger.warning("contact sign-in: %s (%s)", what, type(error).__name__)
    if isinstance(error, CrmUnavailable | ServerError):
        return await _failed(request, str(CRM_DOWN), 503, "crm unavailable")
    return await _failed(request, _("Sign-in failed. Please try again."), 400, what)


@never_cache
@require_GET
async def oauth_callback(request: HttpRequest) -> HttpResponse:
    pending = await oauth.take_pending(request, request.GET.get("state", ""))
    if pending is None:
        return await _failed(
            request,
            _(
                "That sign-in could not be completed (it expired or did not start here). "
                "Please try again."
            ),
            400,
            "oauth state mismatch",
        )
    if "error" in request.GET or not request.GET.get("code"):
        return await _failed(request, _("Sign-in was cancelled."), 400, "oauth denied")
    try:
        tokens = await crm.exchange_code(
            request.GET["code"], oauth.redirect_uri(), pending.code_verifier
        )
        identity = await crm.read_identity(tokens)
    except CrmError as error:
        return await _crm_failed(request, error, "the OAuth code exchange or /me failed")
    return await _sign_in(request, identity, tokens, pending.next)


async def _sign_in(
    request: HttpRequest, identity: crm.Identity, oauth_tokens: dict | None, next_url: str
) -> HttpResponse:
    if not identity.allowed or await ContactAccess.objects.ais_blocked(identity.contact_id):
        return await _failed(
            request, _("Your portal access is not active. Please contact us."), 403, "blocked"
        )
    try:
        data_access, tokens = await crm.data_credential(identity, oauth_tokens)
        account_name = await crm.account_name(identity)
    except CrmError as error:
        return await _crm_failed(request, error, "the contact's data credential failed")
    contact = SignedInContact(
        contact_id=identity.contact_id,
        account_id=identity.account_id,
        name=identity.name,
        account_name=account_name,
        email=identity.email,
        data_access=data_access,
        tokens=tokens,
    )
    await start_session(request, contact)
    await ContactAccess.objects.arecord_sign_in(identity.contact_id, identity.account_id)
    await arecord_activity(request, ActivityKind.SIGN_IN, contact_id=contact.contact_id)
    return HttpResponseRedirect(safe_next(next_url))


@never_cache
@require_POST
async def email_request(request: HttpRequest) -> HttpResponse:
    """Ask for a sign-in link. The answer is the same whether or not the address is known."""
    started = time.monotonic()
    site = await aget_portal_settings()
    if not site.signin_email:
        return await _render_login(request, status=404, error=_("This sign-in is not offered."))
    email = request.POST.get("email", "").strip()[:254]
    try:
        validate_email(email)
    except ValidationError:
        return await _render_login(
            request, status=400, error=_("Please enter a valid e-mail address."), email=email
        )
    ip = client_address(request.META)
    # An address's budget is spent only by clients within their own: a client past its
    # limit cannot use up everyone else's addresses.
    allowed = await ratelimit.allow(ratelimit.LINK_PER_IP, ip)
    allowed = allowed and await ratelimit.allow(ratelimit.LINK_PER_ADDRESS, email)
    if not allowed:
        return await _render_login(
            request,
            status=429,
            error=_("Too many sign-in links were requested. Please wait 15 minutes."),
            email=email,
        )
    try:
        identity = await crm.find_contact_by_email(email)
    except CrmError as error:
        # The same for every address: the lookup failed before anything was known.
        logger.warning("e-mail sign-in: the contact lookup failed (%s)", type(error).__name__)
        status = 503 if isinstance(error, CrmUnavailable | ServerError) else 502
        return await _render_login(request, status=status, error=str(CRM_DOWN), email=email)
    if identity is not None and identity.allowed:
        # Sent after the answer, so the mail relay's speed or failure cannot tell known
        # addresses apart; the block list is checked there too, for the same reason.
        queue_sign_in_link(request, identity, email, site)
    # Answer no sooner than a fixed time, so timing does not tell known addresses apart.
    remaining = settings.SIGNIN_LINK_MIN_SECONDS - (time.monotonic() - started)
    if remaining > 0:
        await asyncio.sleep(remaining)
    return await _render_login(
        request,
        message=_(
            "If %(email)s belongs to one of our contacts, a sign-in link is on its way. "
            "It works once, for 15 minutes."
        )
        % {"email": email},
    )


@never_cache
@require_http_methods(["GET", "POST"])
async def email_follow(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button; POST signs in. Mail scanners that pre-fetch links with GET
    therefore cannot use up a single-use link."""
    if request.method == "GET":
        link = await links.find_usable_link(token)
        template = "portal/link_confirm.html" if link else "portal/link_invalid.html"
        site = await aget_portal_settings()
        return await sync_to_async(render)(
            request, template, {"site": site, "token": token}, status=200 if link else 400
        )
    link = await links.consume_link(token)
    if link is None:
        site = await aget_portal_settings()
        await arecord_activity(request, ActivityKind.SIGN_IN_FAILED, contact_id="")
        return await sync_to_async(render)(
            request, "portal/link_invalid.html", {"site": site}, status=400
        )
    try:
        identity = await crm.get_contact_identity(link.contact_id)
    except CrmUnavailable:
        return await _render_login(request, status=503, error=str(CRM_DOWN))
    if identity is None:
        return await _failed(
            request, _("Your portal access is not active."), 403, "unknown contact"
        )
    return await _sign_in(request, identity, None, "/")


@require_POST
async def logout(request: HttpRequest) -> HttpResponse:
    contact = await load_contact(request)
    if contact is not None:
        await arecord_activity(request, ActivityKind.SIGN_OUT, contact_id=contact.contact_id)
    await end_session(request, "signed_out")
    return HttpResponseRedirect(settings.LOGIN_URL)
