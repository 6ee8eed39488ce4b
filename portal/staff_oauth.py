"""Staff sign in to the admin with their 1CRM user account (OAuth 2.0 code + PKCE).

The CRM proves who the person is (`/auth/user/authorize`, then `/me` with the token);
the portal decides whether they are staff: only an existing, active Django staff user
whose e-mail address matches the CRM user's (exactly one such user) is signed in.
Nobody becomes staff by signing in, and the CRM tokens are used once and forgotten.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from urllib.parse import urlencode

import httpx2 as httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import alogin, get_user_model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from crm_gateway.client import get_http_client

logger = logging.getLogger(__name__)

PENDING_KEY = "staff_oauth_pending"
PENDING_LIFETIME = 10 * 60
CALLBACK_PATH = "/admin/oauth/callback/"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class StaffSignInError(Exception):
    pass


def _callback_uri(request: HttpRequest) -> str:
    return request.build_absolute_uri(CALLBACK_PATH)


def _safe_next(request: HttpRequest, candidate: str) -> str:
    if candidate.startswith("/admin/") and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return "/admin/"


@never_cache
@require_GET
async def start(request: HttpRequest) -> HttpResponse:
    """Remember state and PKCE verifier in the session; send the browser to the CRM."""
    state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    await request.session.aset(
        PENDING_KEY,
        {
            "state": state,
            "verifier": verifier,
            "next": _safe_next(request, request.GET.get("next", "")),
            "at": time.time(),
        },
    )
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
    return HttpResponseRedirect(f"{settings.ONECRM_API_URL}/auth/user/authorize?{query}")


async def _crm_identity(request: HttpRequest, code: str, verifier: str) -> dict:
    client = get_http_client()
    try:
        token_response = await client.post(
            f"{settings.ONECRM_API_URL}/auth/user/access_token",
            json={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": _callback_uri(request),
                "client_id": settings.ONECRM_CLIENT_ID,
                "client_secret": settings.ONECRM_CLIENT_SECRET,
                "code_verifier": verifier,
            },
            timeout=TIMEOUT,
        )
        if token_response.status_code != 200:
            raise StaffSignInError(f"token endpoint answered {token_response.status_code}")
        token = token_response.json().get("access_token")
        if not isinstance(token, str) or not token:
            raise StaffSignInError("no access_token in the token response")
        me = await client.get(
            f"{settings.ONECRM_API_URL}/me",
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )
        if me.status_code != 200:
            raise StaffSignInError(f"/me answered {me.status_code}")
        identity = me.json()
    except (httpx.HTTPError, ValueError) as error:
        raise StaffSignInError(type(error).__name__) from None
    if not isinstance(identity, dict) or not str(identity.get("id", "")).startswith("Users:"):
        raise StaffSignInError("/me is not a CRM user")
    return identity


def _refuse(request: HttpRequest, why: str) -> HttpResponse:
    logger.warning("staff sign-in with the CRM refused: %s", why)
    messages.error(
        request,
        _(
            "Signing in with your 1CRM account did not work. Only people who already have "
            "a staff account here, with the same e-mail address, can use it."
        ),
    )
    return HttpResponseRedirect("/admin/login/")


@never_cache
@require_GET
async def callback(request: HttpRequest) -> HttpResponse:
    pending = await request.session.apop(PENDING_KEY, None)
    returned_state = request.GET.get("state", "")
    if (
        not isinstance(pending, dict)
        or not returned_state
        or not hmac.compare_digest(str(pending.get("state", "")), returned_state)
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
    email = str(identity.get("email") or "").strip()
    if not email:
        return _refuse(request, "the CRM user has no e-mail address")
    users = [
        user
        async for user in get_user_model().objects.filter(
            email__iexact=email, is_active=True, is_staff=True
        )[:2]
    ]
    if len(users) != 1:
        return _refuse(request, f"{len(users)} staff users match the CRM user's e-mail")
    await alogin(request, users[0], backend="django.contrib.auth.backends.ModelBackend")
    logger.info("staff user %s signed in with the CRM", users[0].pk)
    return HttpResponseRedirect(str(pending.get("next") or "/admin/"))
