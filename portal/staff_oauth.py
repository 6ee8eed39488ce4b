"""Staff sign in to the admin with their 1CRM user account (OAuth 2.0 code + PKCE).

Off unless STAFF_ONECRM_SIGNIN is set; while it is off, every /admin/oauth/ path answers
404 and the admin login page offers no button.

The CRM proves who the person is (`/auth/user/authorize`, then `/me` with the token);
the portal decides whether they are staff, by the CRM user id alone: a staff member,
signed in with their password, links their own CRM user once (*Link my 1CRM user* under
*Your sign-in*: the same flow, which stores the id `/me` returns in `StaffCrmLink`), and
from then on that CRM user signs in as them. Never by e-mail address: a CRM user who may
edit their own e-mail in the CRM would otherwise become any staff user. Optionally the
CRM user must have one of STAFF_ONECRM_ROLES. Nobody becomes staff by signing in, and
the CRM tokens are used once and forgotten.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import alogin
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from crm_gateway import ContactCredential, CrmError, Me, exchange_user_authorization_code, me
from portal.models import StaffCrmLink
from portal.public_url import absolute_url
from portal.signin.oauth import states_match
from portal.staff_login import needs_second_factor

logger = logging.getLogger(__name__)

PENDING_KEY = "staff_oauth_pending"
PENDING_LIFETIME = 10 * 60
CALLBACK_PATH = "/admin/oauth/callback/"
# In the session of a staff member who signed in with the CRM, not with their password.
SIGNED_IN_WITH_CRM_KEY = "staff_signed_in_with_crm"
SIGN_IN, LINK = "sign_in", "link"


class StaffSignInError(Exception):
    pass


def _require_enabled() -> None:
    if not settings.STAFF_ONECRM_SIGNIN:
        raise Http404("staff sign-in with the CRM is off")


def _callback_uri(request: HttpRequest) -> str:
    return absolute_url(CALLBACK_PATH)


def _safe_next(request: HttpRequest, candidate: str) -> str:
    if candidate.startswith("/admin/") and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return "/admin/"


def _my_sign_in_url() -> str:
    return reverse("admin:my-sign-in")


def _begin(request: HttpRequest, purpose: str, next_url: str, user_id: Any = None) -> tuple:
    """The pending flow for the session, and the CRM's authorize URL to send the browser to."""
    state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    pending = {
        "state": state,
        "verifier": verifier,
        "next": next_url,
        "at": time.time(),
        "purpose": purpose,
        "user_id": user_id,
    }
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.ONECRM_CLIENT_ID,
            "redirect_uri": _callback_uri(request),
            "scope": "profile",
            "state": state,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    return pending, f"{settings.ONECRM_API_URL}/auth/user/authorize?{query}"


@never_cache
@require_GET
async def start(request: HttpRequest) -> HttpResponse:
    """Sign in: remember state and PKCE verifier in the session; send the browser to the CRM."""
    _require_enabled()
    next_url = _safe_next(request, request.GET.get("next", ""))
    pending, authorize_url = _begin(request, SIGN_IN, next_url)
    await request.session.aset(PENDING_KEY, pending)
    return HttpResponseRedirect(authorize_url)


@never_cache
@require_POST
def link(request: HttpRequest) -> HttpResponse:
    """*Link my 1CRM user*: the same flow, for the staff member signed in here."""
    _require_enabled()
    if not admin.site.has_permission(request):
        return HttpResponseRedirect(reverse("admin:login") + "?next=" + _my_sign_in_url())
    if request.session.get(SIGNED_IN_WITH_CRM_KEY):
        # A link is a staff member's own choice, made with their password.
        messages.error(request, _("Sign in with your password to link a 1CRM user."))
        return HttpResponseRedirect(_my_sign_in_url())
    pending, authorize_url = _begin(request, LINK, _my_sign_in_url(), request.user.pk)
    request.session[PENDING_KEY] = pending
    return HttpResponseRedirect(authorize_url)


async def _crm_identity(request: HttpRequest, code: str, verifier: str) -> Me:
    try:
        tokens = await exchange_user_authorization_code(code, _callback_uri(request), verifier)
        identity = await me(ContactCredential(tokens, kind="user"))
    except CrmError as error:
        raise StaffSignInError(type(error).__name__) from None
    if identity.kind != "Users" or not identity.record_id:
        raise StaffSignInError("/me is not a CRM user")
    return identity


def _refuse(request: HttpRequest, why: str, message: str = "") -> HttpResponse:
    logger.warning("staff sign-in with the CRM refused: %s", why)
    messages.error(
        request,
        message
        or _(
            "Signing in with your 1CRM account did not work. It works only for a 1CRM user "
            "that a staff member linked to their account here (sign in with your password, "
            "then choose “Link my 1CRM user” under “Your sign-in”)."
        ),
    )
    return HttpResponseRedirect("/admin/login/")


@never_cache
@require_GET
async def callback(request: HttpRequest) -> HttpResponse:
    _require_enabled()
    pending = await request.session.apop(PENDING_KEY, None)
    returned_state = request.GET.get("state", "")
    if (
        not isinstance(pending, dict)
        or not returned_state
        or not states_match(str(pending.get("state", "")), returned_state)
        or time.time() - float(pending.get("at", 0)) > PENDING_LIFETIME
    ):
        return _refuse(request, "state missing, wrong or expired")
    code = request.GET.get("code", "")
    if not code:
        return _refuse(request, f"no code ({request.GET.get('error', 'no error given')[:40]})")
    try:
        identity = await _crm_identity(request, code, str(pending["verifier"]))
    except StaffSignInError as error:
        return _refuse(request, str(error))
    if pending.get("purpose") == LINK:
        return await _link(request, pending, identity)
    return await _sign_in(request, pending, identity)


async def _sign_in(request: HttpRequest, pending: dict, identity: Me) -> HttpResponse:
    """Sign in the staff user who linked this CRM user id, if they may use the admin."""
    link = (
        await StaffCrmLink.objects.select_related("user")
        .filter(crm_user_id=identity.record_id)
        .afirst()
    )
    if link is None:
        return _refuse(request, f"CRM user {identity.record_id} is linked to no staff user")
    user = link.user
    if not (user.is_active and user.is_staff):
        return _refuse(request, f"staff user {user.pk} is inactive or no longer staff")
    allowed_roles = settings.STAFF_ONECRM_ROLES
    if allowed_roles and (identity.role or "").lower() not in allowed_roles:
        return _refuse(request, f"CRM user {identity.record_id} has the role {identity.role!r}")
    if await sync_to_async(needs_second_factor)(user):
        # The CRM is one factor; the admin's own login form asks for the one-time code.
        return _refuse(
            request,
            f"staff user {user.pk} needs a one-time code",
            _("Your account needs a one-time code: sign in with your password and code."),
        )
    await alogin(request, user, backend="django.contrib.auth.backends.ModelBackend")
    await request.session.aset(SIGNED_IN_WITH_CRM_KEY, True)
    logger.info("staff user %s signed in with the CRM", user.pk)
    return HttpResponseRedirect(str(pending.get("next") or "/admin/"))


async def _link(request: HttpRequest, pending: dict, identity: Me) -> HttpResponse:
    """Record the CRM user id for the staff member who started the link, and nobody else."""
    user = await request.auser()
    if not user.is_authenticated or user.pk != pending.get("user_id") or not user.is_staff:
        return _refuse(request, "a link finished by someone other than who started it")
    crm_user_id = identity.record_id
    taken = StaffCrmLink.objects.filter(crm_user_id=crm_user_id).exclude(user=user)
    try:
        if await taken.aexists():
            raise IntegrityError("linked to another staff user")
        await StaffCrmLink.objects.aupdate_or_create(
            user=user,
            defaults={
                "crm_user_id": crm_user_id,
                "crm_user_name": (identity.name or "")[:150],
                "linked_at": timezone.now(),
            },
        )
    except IntegrityError:
        logger.warning("CRM user %s is linked to another staff user already", crm_user_id)
        messages.error(request, _("That 1CRM user is linked to another staff account already."))
        return HttpResponseRedirect(_my_sign_in_url())
    logger.info("staff user %s linked CRM user %s", user.pk, crm_user_id)
    messages.success(
        request,
        _("Your 1CRM user %(name)s is linked: you may sign in with it.")
        % {"name": identity.name or crm_user_id},
    )
    return HttpResponseRedirect(_my_sign_in_url())
