"""The signed-in contact, kept server-side in the Django session.

The session (database-backed, cached) holds who the contact is and the CRM tokens the
portal acts with; the browser holds only the session cookie. A session ends after
SESSION_COOKIE_AGE (8 hours) from sign-in, or SESSION_IDLE_TIMEOUT (30 minutes) idle,
when staff block the contact, when the CRM refuses to renew its tokens, or when the CRM
no longer lets the contact use the portal (re-checked every few minutes, see
`recheck_with_crm`).
"""

import logging
import time
from dataclasses import asdict, dataclass, field
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import rotate_token

from crm_gateway import errors
from portal.models import ContactAccess
from portal.signin import crm
from portal.site_settings import aget_portal_settings

logger = logging.getLogger(__name__)

SESSION_KEY = "portal_contact"
ENDED_KEY = "portal_session_ended"
# Writing last_seen on every request would write the session row every request.
LAST_SEEN_GRANULARITY = 60
# A re-check the CRM could not answer is tried again this much later, not on every
# request: while the CRM is down, pages would otherwise wait for two failing calls.
RECHECK_RETRY_SECONDS = 60


@dataclass
class SignedInContact:
    contact_id: str
    account_id: str
    name: str
    account_name: str
    email: str
    # How the portal reads this contact's data: "contact_token", "portal_auth" or "staff".
    data_access: str
    # {"access_token", "refresh_token", "expires_at", "kind"}; empty in staff mode.
    tokens: dict = field(default_factory=dict, repr=False)
    signed_in_at: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.time)
    # When the CRM last confirmed portal_active and the account (recheck_with_crm).
    checked_at: float = field(default_factory=time.time)

    def __repr__(self) -> str:  # never show tokens, even in a debugger or a log line
        return f"SignedInContact(contact_id={self.contact_id!r}, account_id={self.account_id!r})"


async def start_session(request: HttpRequest, contact: SignedInContact) -> None:
    """Begin a contact session on a new session key (no fixation)."""
    await request.session.aflush()
    await request.session.acycle_key()
    rotate_token(request)
    await request.session.aset(SESSION_KEY, asdict(contact))
    request.contact = contact  # type: ignore[attr-defined]


async def save_tokens(request: HttpRequest, tokens: dict) -> None:
    """Save rotated tokens back into the session (the gateway's refresh callback)."""
    contact = getattr(request, "contact", None)
    if contact is None:
        return
    contact.tokens = dict(tokens)
    await request.session.aset(SESSION_KEY, asdict(contact))


async def end_session(request: HttpRequest, reason: str = "") -> None:
    await request.session.aflush()
    if reason:
        await request.session.aset(ENDED_KEY, reason)
    request.contact = None  # type: ignore[attr-defined]


async def load_contact(request: HttpRequest) -> SignedInContact | None:
    """The session's contact if the session is still within its lifetimes."""
    data = await request.session.aget(SESSION_KEY)
    if not data:
        return None
    try:
        contact = SignedInContact(**data)
    except TypeError:  # a session written by an older release: start over
        await end_session(request)
        return None
    now = time.time()
    if now - contact.signed_in_at > settings.SESSION_COOKIE_AGE:
        await end_session(request, "expired")
        return None
    if now - contact.last_seen > settings.SESSION_IDLE_TIMEOUT:
        await end_session(request, "idle")
        return None
    if now - contact.last_seen > LAST_SEEN_GRANULARITY:
        contact.last_seen = now
        await request.session.aset(SESSION_KEY, asdict(contact))
    return contact


async def recheck_with_crm(request: HttpRequest, contact: SignedInContact) -> bool:
    """Ask the CRM again, at most every `contact_recheck_minutes`, whether the contact may
    still use the portal and which account they belong to. False (and the session ended)
    when the CRM switched them off or no longer knows them; a contact moved to another
    account has the session re-scoped to it, so every later call and check uses the new
    account. A CRM that cannot answer keeps the session: its pages fail on their own,
    and the check is tried again a minute later.
    """
    # The middleware's snapshot when there is one: no second cache read on every page.
    site = getattr(request, "portal_settings", None) or await aget_portal_settings()
    now = time.time()
    if now - contact.checked_at < site.contact_recheck_minutes * 60:
        return True
    try:
        identity = await crm.get_contact_identity(contact.contact_id)
    except errors.CrmError as error:
        logger.warning(
            "could not re-check contact %s with the CRM (%s); retrying in %d s",
            contact.contact_id,
            type(error).__name__,
            RECHECK_RETRY_SECONDS,
        )
        contact.checked_at = now - site.contact_recheck_minutes * 60 + RECHECK_RETRY_SECONDS
        await request.session.aset(SESSION_KEY, asdict(contact))
        return True
    if identity is None or not identity.allowed:
        logger.info(
            "contact %s is no longer portal-active in the CRM: signed out", contact.contact_id
        )
        await end_session(request, "deactivated")
        return False
    if identity.account_id != contact.account_id:
        logger.info(
            "contact %s moved from account %s to %s in the CRM: session re-scoped",
            contact.contact_id,
            contact.account_id or "-",
            identity.account_id or "-",
        )
        contact.account_id = identity.account_id
        try:
            contact.account_name = await crm.account_name(identity)
        except errors.CrmError:
            contact.account_name = ""
        await ContactAccess.objects.arecord_account(contact.contact_id, identity.account_id)
    contact.checked_at = now
    await request.session.aset(SESSION_KEY, asdict(contact))
    return True


async def pop_end_reason(request: HttpRequest) -> str:
    return await request.session.apop(ENDED_KEY, "")


def sign_in_redirect(request: HttpRequest) -> HttpResponse:
    """Send the visitor to sign in, then back here. htmx gets HX-Redirect, not a
    sign-in page swapped into a fragment."""
    target = request.get_full_path() if request.method == "GET" else "/"
    url = settings.LOGIN_URL + "?" + urlencode({"next": target})
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


def contact_required(view):
    """Guard an async view: it runs only for a signed-in contact (request.contact).

    A contact blocked by staff, switched off in the CRM, or whose CRM tokens can no
    longer be renewed, is signed out here and sent to the sign-in page with a short
    explanation.
    """

    @wraps(view)
    async def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        contact = await load_contact(request)
        if contact is not None and await ContactAccess.objects.ais_blocked(contact.contact_id):
            await end_session(request, "revoked")
            contact = None
        if contact is not None and not await recheck_with_crm(request, contact):
            contact = None
        if contact is None:
            return sign_in_redirect(request)
        request.contact = contact  # type: ignore[attr-defined]
        try:
            response = await view(request, *args, **kwargs)
        except errors.ReauthenticationRequired:
            await end_session(request, "revoked")
            return sign_in_redirect(request)
        # Pages with a contact's data are private: never cached by a proxy or the back button.
        response.setdefault("Cache-Control", "no-store")
        return response

    return guarded
