"""The cache entries a page needs, read at its start in one round trip
(portal/request_cache.py says how; tests/pages/test_cache_trips.py counts them).

What a signed-in page reads: the settings snapshot, the session (its key is the
cookie), and what the session names: the contact's language choice, the blocked check,
the CRM's locale and the cases' labels in the page's language, and on the dashboard the
account's cached balance (portal/statement/balance.py). These are keyed by the contact
id (the balance by the account id), which is inside the session (and the language,
which the contact's choice decides), so a first request of a session reads in two
round trips: the session, then the contact's entries. A session key names one contact
for its whole life (signing in, and out, always starts a new key), so the process
keeps, for the sessions it served lately, which contact, account and language that was
(under a digest of the key, never the key itself), and the next request of that
session asks for everything at once. The hint only chooses what to prefetch: every
reader still asks for the keys of the contact actually in the session, and a stale or
missing hint costs one more round trip, never a wrong answer.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from django.conf import settings
from django.http import HttpRequest

from portal import languages, request_cache, site_settings
from portal.formatting import locale_cache_key
from portal.models import blocked_cache_key
from portal.sections.cases import case_choices_cache_key
from portal.sections.declaration import today
from portal.sessions import cache_key_for, uses_request_cache
from portal.signin.session import SESSION_KEY
from portal.statement import balance
from portal.statement.balance import BalanceScope

KNOWN_SESSIONS = 10_000  # a few MB per process at most
# digest of a session key -> (contact id, the language of its last page, the balance's scope)
_known: OrderedDict[bytes, tuple[str, str, BalanceScope | None]] = OrderedDict()
# The settings snapshot of this process's last page (the balance's key names settings,
# which the first round trip reads beside it).
_last_site: list[site_settings.SiteSettings] = []


def _session_key(request: HttpRequest) -> str:
    if not uses_request_cache():  # sessions in a cache of their own: not prefetched
        return ""
    key = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
    # The store's own rule for a usable key (SessionBase._validate_session_key): anything
    # shorter is a new, empty session.
    return key if len(key) >= 8 else ""


def _digest(session_key: str) -> bytes:
    return hashlib.blake2b(session_key.encode(), digest_size=16).digest()


def _contact_keys(contact_id: str, language: str) -> list[str]:
    return [
        languages.cache_key(contact_id),
        blocked_cache_key(contact_id),
        locale_cache_key(language),
        case_choices_cache_key(language),  # the dashboard's and the cases' labels
    ]


def _session_contact(session_data: object) -> dict:
    contact = session_data.get(SESSION_KEY) if isinstance(session_data, dict) else None
    return contact if isinstance(contact, dict) else {}


def _balance_scope(contact: dict) -> BalanceScope | None:
    return BalanceScope.of(
        str(contact.get("contact_id") or ""),
        str(contact.get("account_id") or ""),
        str(contact.get("data_access") or ""),
    )


async def read_request_state(request: HttpRequest) -> site_settings.SiteSettings:
    """Prefetch this request's cache entries (above); the settings snapshot."""
    session_key = _session_key(request)
    digest = _digest(session_key) if session_key else b""
    keys = [site_settings.CACHE_KEY]
    if session_key:
        keys.append(cache_key_for(session_key))
        hint = _known.get(digest)
        if hint is not None:
            keys += _contact_keys(hint[0], hint[1])
            if _last_site:  # the settings it was made with: those of this process's last page
                keys.append(balance.prefetch_key(request.path, _last_site[0], hint[2], today()))
    found = await request_cache.prefetch([key for key in keys if key])
    site = found.get(site_settings.CACHE_KEY)
    if not isinstance(site, site_settings.SiteSettings):
        site = await site_settings.aget_portal_settings()  # the database, then cached
    _last_site[:] = [site]
    contact = _session_contact(found.get(cache_key_for(session_key))) if session_key else {}
    contact_id = str(contact.get("contact_id") or "")
    if not contact_id:
        return site
    # The page's language: the contact's choice when this read already holds it, else
    # the cookie's, the browser's or the default (a different choice costs its page one
    # more round trip, for its locale, and is remembered for the next).
    known, stored = languages.remembered(request_cache.peek(languages.cache_key(contact_id))[1])
    likely = languages.pick(request, site, stored if known else None)
    scope = _balance_scope(contact)
    balance_key = balance.prefetch_key(request.path, site, scope, today())
    keys = [*_contact_keys(contact_id, likely), balance_key]
    await request_cache.prefetch([key for key in keys if key])  # nothing, if hinted
    _known[digest] = (contact_id, likely, scope)
    _known.move_to_end(digest)
    if len(_known) > KNOWN_SESSIONS:
        _known.popitem(last=False)
    return site


def forget_sessions() -> None:
    """This process's hints (tests)."""
    _known.clear()
    _last_site.clear()
