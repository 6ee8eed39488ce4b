"""A contact's request to erase their personal data.

By default it becomes a support case for staff (`ErasureMode.CASE`); where cases are
off, a note on the contact and an e-mail to the support address (`NOTE`). Staff may
switch to direct erasure (`DIRECT`): the CRM's `/data/erase_personal` for the session's
own contact, for the fields staff listed and no others. What staff read is in English,
like the portal's other notes in the CRM.
"""

from __future__ import annotations

import datetime as dt

from crm_gateway import ContactGateway
from portal.models import ErasureMode
from portal.signin_links import queue_mail
from portal.site_settings import SiteSettings

SUBJECT = "Request to erase personal data (customer portal)"


def _description(who: str, contact_id: str) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"{who} (contact {contact_id}) asked in the customer portal at {when} UTC "
        "that their personal data be erased. Please act on it and answer them."
    )


async def request_erasure(gateway: ContactGateway, site: SiteSettings, who: str) -> str:
    """Do what staff chose for an erasure request; the mode that was used."""
    contact_id = gateway.scope.contact_id
    if site.erasure_mode == ErasureMode.DIRECT:
        await gateway.erase_own_personal_data(site.erasure_fields)
        return ErasureMode.DIRECT
    description = _description(who, contact_id)
    if site.erasure_mode == ErasureMode.NOTE:
        own = await gateway.own_contact()
        await gateway.add_note(own, name=SUBJECT, description=description)
        # The note in the CRM is the request; the mail goes out after the answer, and a
        # failed send is the operator's log line.
        queue_mail(
            SUBJECT,
            description,
            site.support_email,
            what="an erasure request to the support address",
            contact_id=contact_id,
        )
        return ErasureMode.NOTE
    await gateway.create_case(subject=SUBJECT, description=description)
    return ErasureMode.CASE
