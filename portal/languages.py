"""Which language a page is in, and the contact's own choice of it.

The rule (docs/languages.md), first that applies:

1. a signed-in contact's own choice, kept in the portal's database by CRM contact id
   (`ContactLanguage`), so it follows them across sessions and devices;
2. the choice made with the language menu on this browser (the language cookie), e.g. on
   the sign-in page before anyone is known, or kept after signing out;
3. the browser's `Accept-Language`, among the languages staff offer;
4. the staff's default language.

Only languages staff offer (`PortalSettings.languages`) are ever chosen; a stored choice
of a language staff no longer offer falls through to the next rule. `language_middleware`
activates the language before any view runs, so pages, error pages, e-mails and the
`Accept-Language` the gateway sends the CRM (`portal.crm_data`) all agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.decorators import sync_and_async_middleware
from django.utils.translation.trans_real import parse_accept_lang_header

from portal import request_cache
from portal.models import ContactLanguage
from portal.signin.session import SESSION_KEY
from portal.site_settings import SiteSettings, aget_portal_settings, get_portal_settings

CACHE_PREFIX = "portal:contact-language:v1:"
CACHE_SECONDS = 24 * 3600
NO_CHOICE = "-"  # cached "this contact has not chosen", so the database is asked once


@dataclass(frozen=True)
class LanguageOption:
    code: str
    name: str  # in its own language ("Deutsch"), as language menus write them
    current: bool


def offered(site: SiteSettings) -> list[str]:
    """The languages staff offer, in the portal's order; the default is always offered."""
    chosen = set(site.languages) | {site.default_language}
    codes = [code for code, _name in settings.LANGUAGES if code in chosen]
    return codes or [settings.LANGUAGE_CODE]


def default_language(site: SiteSettings) -> str:
    codes = offered(site)
    return site.default_language if site.default_language in codes else codes[0]


def menu(site: SiteSettings, current: str) -> list[LanguageOption]:
    names = dict(settings.LANGUAGES)
    return [LanguageOption(code, names[code], code == current) for code in offered(site)]


def from_accept_language(header: str, codes: list[str]) -> str | None:
    """The browser's most preferred language among `codes` ("de-AT" matches "de")."""
    for tag, _quality in parse_accept_lang_header(header[:500]):
        tag = tag.lower()
        if tag == "*":
            return None
        for candidate in (tag, tag.split("-")[0]):
            if candidate in codes:
                return candidate
    return None


# --- The contact's stored choice ---------------------------------------------------------


def cache_key(contact_id: str) -> str:
    return f"{CACHE_PREFIX}{contact_id[:64]}"


def remembered(cached: object) -> tuple[bool, str | None]:
    """(whether the cache knew, the language or None for "has not chosen")."""
    if isinstance(cached, str):
        return True, None if cached == NO_CHOICE else cached
    return False, None


def stored_choice(contact_id: str) -> str | None:
    """The contact's own choice, from the cache, else the database (then cached)."""
    known, language = remembered(cache.get(cache_key(contact_id)))
    if known:
        return language
    row = ContactLanguage.objects.filter(contact_id=contact_id).first()
    # `add`: a choice stored since the read (remember_choice, maybe in another process)
    # must not be overwritten with what the read found (for a day).
    cache.add(cache_key(contact_id), row.language if row else NO_CHOICE, CACHE_SECONDS)
    return row.language if row else None


async def astored_choice(contact_id: str) -> str | None:
    known, language = remembered(await request_cache.aget(cache_key(contact_id)))
    if known:
        return language
    row = await ContactLanguage.objects.filter(contact_id=contact_id).afirst()
    await request_cache.aadd(  # as in stored_choice
        cache_key(contact_id), row.language if row else NO_CHOICE, CACHE_SECONDS
    )
    return row.language if row else None


async def remember_choice(contact_id: str, language: str) -> None:
    await ContactLanguage.objects.aupdate_or_create(
        contact_id=contact_id, defaults={"language": language}
    )
    await request_cache.aset(cache_key(contact_id), language, CACHE_SECONDS)


def _contact_id(session_data: object) -> str:
    return str(session_data.get("contact_id") or "") if isinstance(session_data, dict) else ""


def pick(request: HttpRequest, site: SiteSettings, stored: str | None) -> str:
    """The page's language by the rule above, given the contact's stored choice."""
    codes = offered(site)
    if stored is not None and stored in codes:
        return stored
    cookie = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    if cookie in codes:
        return cookie
    browser = from_accept_language(request.headers.get("Accept-Language", ""), codes)
    return browser or default_language(site)


def choose(request: HttpRequest, site: SiteSettings) -> str:
    session = getattr(request, "session", None)
    contact_id = _contact_id(session.get(SESSION_KEY)) if session is not None else ""
    return pick(request, site, stored_choice(contact_id) if contact_id else None)


async def achoose(request: HttpRequest, site: SiteSettings) -> str:
    session = getattr(request, "session", None)
    contact_id = _contact_id(await session.aget(SESSION_KEY)) if session is not None else ""
    return pick(request, site, await astored_choice(contact_id) if contact_id else None)


# Probes and assets render no text: they must not touch the cache or the database.
SKIP_PATHS = ("/healthz", "/readyz", "/static/", "/favicon.ico")


def _activate(request: HttpRequest, language: str) -> None:
    translation.activate(language)
    request.LANGUAGE_CODE = language  # type: ignore[attr-defined]


def _label(response: HttpResponse, language: str) -> HttpResponse:
    # Who is signed in (the session cookie), the menu's cookie and the browser decide.
    patch_vary_headers(response, ("Accept-Language", "Cookie"))
    response.headers.setdefault("Content-Language", language)
    return response


@sync_and_async_middleware
def language_middleware(get_response):
    """Activates the page's language (instead of Django's LocaleMiddleware, which knows
    neither the contact's stored choice nor the languages staff offer). It runs below
    portal/middleware.py's boundary, on the event loop, after the settings snapshot;
    process_view hooks (CSRF's refusal) and the views come after it, so even the CSRF
    failure page is in the page's language."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest):
            if request.path.startswith(SKIP_PATHS):
                return await get_response(request)
            site = getattr(request, "portal_settings", None) or await aget_portal_settings()
            language = await achoose(request, site)
            _activate(request, language)
            return _label(await get_response(request), language)

        return async_middleware

    def middleware(request: HttpRequest):
        if request.path.startswith(SKIP_PATHS):
            return get_response(request)
        site = getattr(request, "portal_settings", None) or get_portal_settings()
        language = choose(request, site)
        _activate(request, language)
        return _label(get_response(request), language)

    return middleware
