"""The staff-edited portal settings as a cached, read-only snapshot.

Every portal process reads the snapshot from Django's cache (Redis in production, so
shared): a save in the admin writes the new snapshot there once the transaction commits,
so every process sees it on its next request. The key carries a schema version, so a
deploy that adds fields never reads an old-shaped snapshot; entries also expire, so a
lost write heals by itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.cache import cache, caches
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import translation
from django.utils.decorators import sync_and_async_middleware

from portal import request_cache
from portal.models import DEFAULT_PORTAL_NAME, PortalSettings

SCHEMA = 6  # 2: contact_recheck_minutes; 3: profile (issue 16); 4: cases; 5: languages;
# 6: statement and zips (issue 15)
CACHE_KEY = f"portal:settings:v{SCHEMA}"
CACHE_SECONDS = 300


@dataclass(frozen=True)
class SiteSettings:
    portal_name: str
    primary_color: str
    support_email: str
    support_phone: str
    default_language: str
    languages: tuple[str, ...]
    signin_oauth: bool
    signin_email: bool
    contact_recheck_minutes: int
    section_invoices: bool
    section_quotes: bool
    section_documents: bool
    quotes_can_decide: bool
    invoice_stages: tuple[str, ...]
    quote_stages: tuple[str, ...]
    page_size: int
    activity_retention_days: int
    revision: int
    has_logo: bool
    logo_content_type: str = ""
    # The contact's profile and personal data (issue 16)
    profile_editable_fields: tuple[str, ...] = ()
    erasure_mode: str = "case"
    erasure_fields: tuple[str, ...] = ()
    # Support cases and the knowledge base (issue 14)
    section_cases: bool = True
    section_help: bool = True
    help_public: bool = False
    case_contact_fields: tuple[str, ...] = ("category", "priority")
    cases_can_close: bool = False
    cases_can_reopen: bool = False
    upload_max_mib: int = 10
    upload_max_files: int = 5
    upload_types: tuple[str, ...] = ()
    cases_per_hour: int = 10
    comments_per_hour: int = 30
    # The statement of account and downloads in bulk (issue 15)
    section_statement: bool = True
    statement_max_records: int = 5000
    zip_max_files: int = 200
    zip_concurrency: int = 4

    @property
    def sections(self) -> dict[str, bool]:
        return {
            "invoices": self.section_invoices,
            "quotes": self.section_quotes,
            "documents": self.section_documents,
            "cases": self.section_cases,
            "help": self.section_help,
            "statement": self.section_statement,
        }

    @property
    def display_name(self) -> str:
        """The portal's name; the untouched default reads in the page's language."""
        if not self.portal_name or self.portal_name == DEFAULT_PORTAL_NAME:
            return translation.gettext("Customer portal")
        return self.portal_name

    @property
    def branding_css_url(self) -> str:
        return f"{reverse('branding-css')}?v={self.revision}"

    @property
    def logo_url(self) -> str:
        return f"{reverse('branding-logo')}?v={self.revision}" if self.has_logo else ""

    @classmethod
    def from_model(cls, row: PortalSettings) -> SiteSettings:
        return cls(
            portal_name=row.portal_name,
            primary_color=row.primary_color,
            support_email=row.support_email,
            support_phone=row.support_phone,
            default_language=row.default_language,
            languages=tuple(row.languages or ()),
            signin_oauth=row.signin_oauth,
            signin_email=row.signin_email,
            contact_recheck_minutes=row.contact_recheck_minutes,
            section_invoices=row.section_invoices,
            section_quotes=row.section_quotes,
            section_documents=row.section_documents,
            quotes_can_decide=row.quotes_can_decide,
            invoice_stages=tuple(row.invoice_stages or ()),
            quote_stages=tuple(row.quote_stages or ()),
            page_size=row.page_size,
            activity_retention_days=row.activity_retention_days,
            revision=row.revision,
            has_logo=bool(row.logo_content_type),
            logo_content_type=row.logo_content_type,
            profile_editable_fields=tuple(row.profile_editable_fields or ()),
            erasure_mode=row.erasure_mode,
            erasure_fields=tuple(row.erasure_fields or ()),
            section_cases=row.section_cases,
            section_help=row.section_help,
            help_public=row.help_public,
            case_contact_fields=tuple(row.case_contact_fields or ()),
            cases_can_close=row.cases_can_close,
            cases_can_reopen=row.cases_can_reopen,
            upload_max_mib=row.upload_max_mib,
            upload_max_files=row.upload_max_files,
            upload_types=tuple(item.strip().lower() for item in row.upload_types or ()),
            cases_per_hour=row.cases_per_hour,
            comments_per_hour=row.comments_per_hour,
            section_statement=row.section_statement,
            statement_max_records=row.statement_max_records,
            zip_max_files=row.zip_max_files,
            zip_concurrency=row.zip_concurrency,
        )

    def as_dict(self) -> dict:
        return asdict(self)


def load_settings_row() -> PortalSettings:
    """The singleton row, created with defaults if a database somehow lacks it."""
    row, _created = PortalSettings.objects.defer("logo_data").get_or_create(
        pk=PortalSettings.SINGLETON_ID
    )
    return row


def _from_database(using: str) -> SiteSettings:
    snapshot = SiteSettings.from_model(load_settings_row())
    # `add`, not `set`: a reader that missed the cache may have read the row just before
    # staff saved a change, whose snapshot `publish_portal_settings` wrote since (on
    # commit). Overwriting it would serve the old settings for CACHE_SECONDS; a reader
    # that adds before that write is overwritten by it.
    caches[using].add(CACHE_KEY, snapshot, CACHE_SECONDS)
    return snapshot


def get_portal_settings(using: str = "default") -> SiteSettings:
    """The current settings: from the shared cache, else from the database.

    `using` names the cache alias (tests read through a second client of the same cache,
    as another process would).
    """
    snapshot = caches[using].get(CACHE_KEY)
    if isinstance(snapshot, SiteSettings):
        return snapshot
    return _from_database(using)


async def aget_portal_settings(using: str = "default") -> SiteSettings:
    if using != "default":
        snapshot = await caches[using].aget(CACHE_KEY)
    else:  # read once a request (portal/request_cache.py)
        snapshot = await request_cache.aget(CACHE_KEY)
    if isinstance(snapshot, SiteSettings):
        return snapshot
    snapshot = await sync_to_async(_from_database)(using)
    if using == "default":
        request_cache.note(CACHE_KEY, snapshot)
    return snapshot


def publish_portal_settings(row: PortalSettings) -> None:
    """Drop the cached snapshot now, and write the new one once the transaction commits.

    Dropping it at once means readers in this transaction see the change; writing it on
    commit means other processes never see a change that is rolled back (and any stale
    value another process cached in between is overwritten).
    """
    snapshot = SiteSettings.from_model(row)
    cache.delete(CACHE_KEY)
    request_cache.forget(CACHE_KEY)  # this request's own later reads ask the cache too
    transaction.on_commit(lambda: cache.set(CACHE_KEY, snapshot, CACHE_SECONDS))


def forget_portal_settings() -> None:
    cache.delete(CACHE_KEY)
    request_cache.forget(CACHE_KEY)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def settings_for_request(request: HttpRequest | None) -> SiteSettings:
    """The snapshot the middleware attached; else read it, without touching the
    database from inside an event loop (an async view rendering a template)."""
    snapshot = getattr(request, "portal_settings", None)
    if isinstance(snapshot, SiteSettings):
        return snapshot
    if not _in_event_loop():
        return get_portal_settings()
    cached = cache.get(CACHE_KEY)
    if isinstance(cached, SiteSettings):
        return cached
    return SiteSettings.from_model(PortalSettings())  # defaults, until the cache is warm


# Probes and assets never render a template: they must not touch the cache or database.
SKIP_PATHS = ("/healthz", "/readyz", "/static/", "/favicon.ico")


@sync_and_async_middleware
def portal_settings_middleware(get_response):
    """Attach `request.portal_settings` for templates.

    It is read before the view (one cache read a request), so a template rendered inside
    an event loop (an async view) never needs the database.
    """
    if iscoroutinefunction(get_response):
        from portal.request_state import read_request_state

        async def async_middleware(request: HttpRequest):
            if request.path.startswith(SKIP_PATHS):
                return await get_response(request)
            with request_cache.request_memo():
                # The snapshot, the session and what the session names, in one or two
                # cache round trips for the whole request (portal/request_cache.py).
                site = await read_request_state(request)
                request.portal_settings = site  # type: ignore[attr-defined]
                return await get_response(request)

        return async_middleware

    def middleware(request: HttpRequest):
        # Eager even here: an async view run under a sync handler renders in an event loop.
        if not request.path.startswith(SKIP_PATHS):
            site = get_portal_settings()
            request.portal_settings = site  # type: ignore[attr-defined]
        return get_response(request)

    return middleware
