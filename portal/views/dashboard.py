"""The dashboard: what the contact owes, what waits for them, what is new.

Three CRM calls run concurrently (asyncio.gather), each one page at most:
* the open invoices, as the statement reads them (portal/statement/ledger.py): not
  cancelled, ordered by amount due, page by page until the first paid invoice (one page
  of 200 is usually all there is) or the staff's `statement_max_records` cap (then the
  box says "at least" and where it stopped). The balance per currency, the overdue
  count and the aging line (linking to the statement) are exact below the cap. Their
  sums are kept per account in the cache for `DASHBOARD_BALANCE_TTL` (10 minutes;
  portal/statement/balance.py), so a visit within it makes no call for them and the box
  says "as of" when they were read;
* quotes awaiting the contact's decision and still valid (the first five, soonest to
  expire first);
* the latest five documents;
* the open cases box (portal/views/dashboard_cases.py: its own calls, counted there).
A box whose call failed shows its own error with a retry link; if every call failed
because the CRM is unreachable, the whole page is the friendly 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from crm_gateway import Document, Filter, Quote
from crm_gateway import ListQuery as CrmListQuery
from portal import crm_stages
from portal.crm_data import contact_gateway, page_locale
from portal.formatting import CrmLocale
from portal.listing import ListQuery
from portal.parts import part_failed
from portal.rendering import render_page
from portal.sections import CASES, DOCUMENTS, INVOICES, QUOTES
from portal.sections.documents import DocumentRow
from portal.sections.quotes import QuoteRow, stages_for, still_valid
from portal.sections.rows import today
from portal.signin.session import contact_required
from portal.site_settings import SiteSettings, aget_portal_settings
from portal.statement.access import statement_enabled
from portal.statement.balance import Balance, account_balance
from portal.statement.balance import ttl as balance_ttl
from portal.views.dashboard_cases import open_cases

RECENT = 5


async def _invoices(request: HttpRequest, saved: SiteSettings, site: SiteSettings) -> Balance:
    return await account_balance(request, contact_gateway(request), saved, site, today())


async def _quotes(request: HttpRequest, site: SiteSettings) -> dict[str, Any]:
    stages = stages_for("awaiting", site.quote_stages)
    if not stages:
        return {"rows": [], "total": 0}
    on = today()
    page = await contact_gateway(request).list_records(
        Quote,
        CrmListQuery(
            fields=(
                "name",
                "full_number",
                "quote_number",
                "quote_stage",
                "valid_until",
                "amount",
                "currency_id",
            ),
            filters=(Filter("quote_stage", list(stages)), still_valid(on)),
            order="valid_until ASC",
            limit=RECENT,
        ),
    )
    return {"rows": [QuoteRow.of(c.record, on) for c in page.records], "total": page.total}


async def _documents(request: HttpRequest) -> dict[str, Any]:
    page = await contact_gateway(request).list_records(
        Document,
        CrmListQuery(
            fields=(
                "document_name",
                "name",
                "filename",
                "file_mime_type",
                "date_entered",
                "date_modified",
            ),
            order="date_modified DESC",
            limit=RECENT,
        ),
    )
    return {"rows": [DocumentRow(c.record) for c in page.records], "total": page.total}


async def _nothing() -> None:
    return None


@require_GET
@contact_required
async def dashboard(request: HttpRequest) -> HttpResponse:
    site = saved = await aget_portal_settings()
    # The open cases box (portal/views/dashboard_cases.py) runs beside the others.
    cases_box = asyncio.ensure_future(open_cases(request) if CASES.enabled(site) else _nothing())
    if INVOICES.enabled(site) or QUOTES.enabled(site):
        site = await crm_stages.resolved(site)  # the stages as this CRM's keys
    calls: list[Awaitable[Any]] = [
        _invoices(request, saved, site) if INVOICES.enabled(site) else _nothing(),
        _quotes(request, site) if QUOTES.enabled(site) else _nothing(),
        _documents(request) if DOCUMENTS.enabled(site) else _nothing(),
        page_locale(),
    ]
    invoices, quotes, documents, locale = await asyncio.gather(*calls, return_exceptions=True)
    boxes = {"invoices": invoices, "quotes": quotes, "documents": documents}
    boxes["cases"] = (await asyncio.gather(cases_box, return_exceptions=True))[0]
    # Signing in again, or a bug, is raised for the whole page (middleware / 500 page).
    failed = {name: part_failed(box, name) for name, box in boxes.items()}
    failures = [boxes[name] for name, box_failed in failed.items() if box_failed]
    if failures and len(failures) == sum(box is not None for box in boxes.values()):
        raise failures[0]  # nothing to show at all: the friendly CRM-unavailable page
    invoices_url = reverse(INVOICES.key)
    context = {
        "page_title": _("Dashboard"),
        "invoices": invoices,
        "quotes": quotes,
        "documents": documents,
        "failed": failed,
        "overdue_url": ListQuery(status="overdue").url(invoices_url, INVOICES.spec),
        "open_url": ListQuery(status="open").url(invoices_url, INVOICES.spec),
        "statement_on": statement_enabled(site),
        "awaiting_url": ListQuery(status="awaiting").url(reverse(QUOTES.key), QUOTES.spec),
        "crm_locale": locale if isinstance(locale, CrmLocale) else CrmLocale(),
        "retry_url": request.get_full_path(),
        "balance_minutes": max(1, -(-balance_ttl() // 60)),  # whole minutes, rounded up
        "cases": boxes["cases"],
    }
    return render_page(request, "portal/dashboard.html", context)
