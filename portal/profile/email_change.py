"""Changing the contact's e-mail address, the key of e-mail sign-in.

The new address gets a one-time link (the sign-in links' pattern: a random token, only
its SHA-256 stored, 15 minutes, used once even under concurrent clicks); only following
it writes `email1` in the CRM, and the old address then gets a notice. An address
another contact already has is refused without saying whose. Both mails are rendered in
the page's language and sent from the sign-in links' mail queue (`portal.signin_links`),
after the page is answered.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_gateway import StaffGateway
from portal.models import EmailChange
from portal.public_url import absolute_url
from portal.signin.links import LINK_LIFETIME, hash_token
from portal.signin_links import queue_mail
from portal.site_settings import SiteSettings


@dataclass(frozen=True)
class Refusal:
    message: str


async def used_by_another_contact(email: str, contact_id: str) -> bool:
    """Whether a contact other than this one has the address (as email1 or email2)."""
    found = await StaffGateway().find_contacts_by_email(email)
    return any(contact.id != contact_id for contact in found)


async def start_change(contact_id: str, old_email: str, new_email: str) -> str:
    """Store a pending change and return its token (the only clear copy)."""
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    await EmailChange.objects.acreate(
        token_hash=hash_token(token),
        contact_id=contact_id,
        old_email=old_email,
        new_email=new_email,
        created_at=now,
        expires_at=now + LINK_LIFETIME,
    )
    return token


async def find_usable_change(token: str, contact_id: str) -> EmailChange | None:
    if not 20 <= len(token) <= 100:
        return None
    return await EmailChange.objects.filter(
        token_hash=hash_token(token),
        contact_id=contact_id,
        used_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).afirst()


async def consume_change(token: str, contact_id: str) -> EmailChange | None:
    """Mark the change used, exactly once; None if it is not usable (or not theirs)."""
    change = await find_usable_change(token, contact_id)
    if change is None:
        return None
    claimed = await EmailChange.objects.filter(pk=change.pk, used_at__isnull=True).aupdate(
        used_at=timezone.now()
    )
    return change if claimed == 1 else None


def queue_confirmation(
    site: SiteSettings, contact_id: str, name: str, new_email: str, token: str
) -> None:
    """Mail the link to the new address, in the page's language, from the mail queue: the
    page does not wait for the relay (a failed send is the operator's log line; the
    contact can ask again)."""
    url = absolute_url(reverse("profile-email-confirm", args=[token]))
    body = render_to_string(
        "portal/email/email_change_confirm.txt", {"site": site, "url": url, "name": name}
    )
    subject = _("Confirm your new e-mail address for %(portal)s") % {"portal": site.portal_name}
    queue_mail(subject, body, new_email, what="an e-mail change link", contact_id=contact_id)


def queue_notice(
    site: SiteSettings, contact_id: str, name: str, old_email: str, new_email: str
) -> None:
    """Tell the old address that the portal now uses another one (from the mail queue)."""
    if not old_email:
        return
    body = render_to_string(
        "portal/email/email_changed_notice.txt",
        {"site": site, "name": name, "new_email": new_email},
    )
    subject = _("Your e-mail address for %(portal)s was changed") % {"portal": site.portal_name}
    queue_mail(subject, body, old_email, what="the e-mail change notice", contact_id=contact_id)
