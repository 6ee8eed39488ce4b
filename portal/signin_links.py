"""E-mail a contact a one-time sign-in link: from the sign-in form, or sent by staff."""

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.mail import send_mail
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse

from portal.activity import arecord_activity
from portal.models import ActivityKind, ContactAccess
from portal.public_url import absolute_url
from portal.signin import crm, links
from portal.site_settings import aget_portal_settings


async def mail_sign_in_link(request: HttpRequest, identity: crm.Identity, email: str) -> None:
    token = await links.create_link(identity.contact_id, email)
    url = absolute_url(reverse("login-email-follow", args=[token]))
    site = await aget_portal_settings()
    body = render_to_string(
        "portal/email/sign_in_link.txt", {"site": site, "url": url, "identity": identity}
    )
    await sync_to_async(send_mail)(
        f"Your sign-in link for {site.portal_name}", body, settings.DEFAULT_FROM_EMAIL, [email]
    )
    await arecord_activity(request, ActivityKind.SIGN_IN_LINK_SENT, contact_id=identity.contact_id)


async def send_sign_in_link(contact_id: str, request: HttpRequest) -> bool:
    """Staff invite: mail a link to the contact's address in the CRM. False when the CRM
    does not know the contact, has no address for them, or they may not come in."""
    identity = await crm.get_contact_identity(contact_id)
    if identity is None or not identity.allowed or not identity.email:
        return False
    if await ContactAccess.objects.ais_blocked(contact_id):
        return False
    await mail_sign_in_link(request, identity, identity.email)
    return True
