"""Whether the statement is on: its own staff switch, and the invoices it is made of
(a portal that hides invoices has no statement to show); the invoice stages it shows,
in this CRM's keys."""

from __future__ import annotations

from crm_gateway import errors
from portal import crm_stages
from portal.site_settings import SiteSettings, aget_portal_settings


def statement_enabled(site: SiteSettings) -> bool:
    return bool(site.sections.get("statement") and site.sections.get("invoices"))


async def statement_settings() -> SiteSettings:
    """The staff settings, if the statement is switched on; NotFound if it is off. The
    invoice stages contacts see come as this CRM's keys (`crm_stages.resolved`), as on
    the invoice list: an installation with its own keys would otherwise show an empty
    statement."""
    site = await aget_portal_settings()
    if not statement_enabled(site):
        raise errors.NotFound("the statement is off")
    return await crm_stages.resolved(site)
