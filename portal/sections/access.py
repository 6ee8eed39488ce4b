"""The one access rule for a section's record: the gateway's ownership check (NotFound
for another account's id, a missing or a malformed one) plus the section's own rule
from the staff settings (switched off, a stage contacts do not see). Every view that
opens a record (detail, PDF, download, quote decision, invoice attachment) asks here.
A `NotFound` is turned into the 404 page once, by portal.errors.CrmErrorMiddleware.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from crm_gateway import CheckedRecord, errors
from portal import crm_stages
from portal.crm_data import contact_gateway
from portal.sections.declaration import Section
from portal.site_settings import SiteSettings, aget_portal_settings

# Sections whose staff settings name CRM stages (portal.crm_stages).
STAGED = frozenset({"invoices", "quotes"})


async def section_settings(section: Section, *, resolve: bool = True) -> SiteSettings:
    """The staff settings, if the section is switched on; NotFound if it is off. The
    stages contacts see come as this CRM's keys."""
    site = await aget_portal_settings()
    if not section.enabled(site):
        raise errors.NotFound(f"the {section.key} section is off")
    if resolve and section.key in STAGED:  # the stages contacts see, in this CRM's keys
        return await crm_stages.resolved(site)
    return site


async def checked_record(
    request: HttpRequest, section: Section, record_id: str
) -> tuple[CheckedRecord[Any], SiteSettings]:
    """The record, checked for this contact and this section, and the settings."""
    site = await section_settings(section, resolve=False)
    checked = await contact_gateway(request).get_record(section.model, record_id)
    if section.key in STAGED:  # a malformed or foreign id stops before this call
        site = await crm_stages.resolved(site)
    if not section.visible(site, checked.record):
        raise errors.NotFound(f"a {section.model.MODEL} contacts do not see")
    return checked, site
