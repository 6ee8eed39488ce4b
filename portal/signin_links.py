"""E-mail a contact a one-time sign-in link: from the sign-in form, or sent by staff;
and the portal's other mails to contacts, through the same queue (`queue_mail`).

From the form the link goes out in the background (`queue_sign_in_link`): the answer
must not tell a known address from an unknown one, and a mail relay that is slow or
fails would, if the request waited for it (a slower answer, or a 500 for known addresses
only). A small pool of threads sends it after the request has been answered; a failed
send is logged for the operator. Staff invites are sent at once, so staff see a failure:
the same log line, and `MailNotSent` for the admin to tell them (never a 500).

The profile's mails (the e-mail change's confirmation link and the notice to the old
address, an erasure request to the support address) are rendered in the request, in its
language, and only handed to the same threads to send (`queue_mail`): a slow relay never
holds a page, and a failed send is a log line naming the mail and the contact.
"""

import logging
import smtplib
from concurrent import futures

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.mail import send_mail
from django.db import close_old_connections
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from portal import languages
from portal.activity import record_activity
from portal.models import ActivityKind, ContactAccess
from portal.public_url import absolute_url
from portal.signin import crm, links
from portal.site_settings import SiteSettings, aget_portal_settings

logger = logging.getLogger(__name__)

# Threads, not asyncio tasks: a task that outlives its request may no longer use the ORM
# (asgiref refuses thread-sensitive calls from it), it dies with a short-lived event loop
# (WSGI, the test client), and its loop is the one serving pages; SMTP blocks anyway.
# At exit the interpreter waits for queued links to go out. Two threads bound the
# connections to the relay; the rate limits bound the queue.
_mail_threads = futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="sign-in-mail")
_queued: set[futures.Future] = set()

# What a failing mail relay raises: the socket's errors (connection refused, timed out,
# host unknown) and smtplib's (a refusal, a dropped conversation; SMTPException is an
# OSError too, named for the reader). Every send here catches the same ones.
MAIL_RELAY_ERRORS: tuple[type[Exception], ...] = (smtplib.SMTPException, OSError)


class MailNotSent(Exception):
    """A staff invite the mail relay refused; the operator's log line is written.
    `error` is the relay's own error, for the sentence staff see."""

    def __init__(self, error: Exception) -> None:
        super().__init__(type(error).__name__)
        self.error = error


def _relay() -> str:
    """Where the mail went, for the log line: the SMTP relay's `host:port` and the
    settings that name it; empty for other backends (the console in development)."""
    mailer = getattr(settings, "MAILERS", {}).get("default", {})
    if not str(mailer.get("BACKEND", "")).endswith("smtp.EmailBackend"):
        return ""
    options = mailer.get("OPTIONS", {})
    where = f"{options.get('host', 'localhost')}:{options.get('port', 25)}"
    return f"; relay {where} (EMAIL_HOST, EMAIL_PORT)"


def log_relay_failure(what: str, error: Exception) -> None:
    """One line an operator can act on: what was not sent to whom, the relay's answer
    (an SMTP code and text, or the socket's errno) and which relay. Never the mail: it
    may hold a link."""
    logger.error(
        "could not send %s: the mail relay failed (%s: %s)%s",
        what,
        type(error).__name__,
        error,
        _relay(),
    )


def mail_language(contact_id: str, site: SiteSettings, page_language: str | None) -> str:
    """The contact's own choice if they made one (a staff invite is sent from the admin,
    in the staff member's language), else the language of the page that asked."""
    stored = languages.stored_choice(contact_id)
    if stored is not None and stored in languages.offered(site):
        return stored
    return page_language or languages.default_language(site)


def mail_sign_in_link(
    request: HttpRequest,
    identity: crm.Identity,
    email: str,
    site: SiteSettings,
    page_language: str | None = None,
) -> None:
    """Store a link, mail it, record it (blocking: database, template, SMTP)."""
    token = links.new_link(identity.contact_id, email)
    url = absolute_url(reverse("login-email-follow", args=[token]))
    page_language = page_language or translation.get_language()
    with translation.override(mail_language(identity.contact_id, site, page_language)):
        context = {"site": site, "site_name": site.display_name, "url": url, "identity": identity}
        body = render_to_string("portal/email/sign_in_link.txt", context)
        subject = _("Your sign-in link for %(portal)s") % {"portal": site.display_name}
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email])
    record_activity(request, ActivityKind.SIGN_IN_LINK_SENT, contact_id=identity.contact_id)


def queue_sign_in_link(
    request: HttpRequest, identity: crm.Identity, email: str, site: SiteSettings
) -> None:
    """Send the link after the request is answered; return at once, whatever the relay.
    The worker thread has no request: the page's language goes along."""
    language = translation.get_language()
    queued = _mail_threads.submit(_send_queued_link, request, identity, email, site, language)
    _queued.add(queued)
    queued.add_done_callback(_queued.discard)


def _send_queued_link(
    request: HttpRequest,
    identity: crm.Identity,
    email: str,
    site: SiteSettings,
    language: str | None,
) -> None:
    close_old_connections()
    try:
        # Asked here, not in the request: known addresses do no extra work there.
        if ContactAccess.objects.is_blocked(identity.contact_id):
            return
        mail_sign_in_link(request, identity, email, site, language)
    except MAIL_RELAY_ERRORS as error:
        # Nobody waits for this thread: the operator's log is the only place a failed
        # send can show. The contact id and the relay's answer, never the link.
        log_relay_failure(f"a sign-in link to contact {identity.contact_id}", error)
    except Exception:
        logger.exception("could not send a sign-in link to contact %s", identity.contact_id)
    finally:
        close_old_connections()


def queue_mail(subject: str, body: str, to: str, *, what: str, contact_id: str) -> None:
    """Send a mail rendered in the request after the request is answered; return at once.
    `what` names it in the log line of a failed send (never its body: it may hold a link).
    """
    queued = _mail_threads.submit(_send_queued_mail, subject, body, to, what, contact_id)
    _queued.add(queued)
    queued.add_done_callback(_queued.discard)


def _send_queued_mail(subject: str, body: str, to: str, what: str, contact_id: str) -> None:
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
    except MAIL_RELAY_ERRORS as error:
        log_relay_failure(f"{what} for contact {contact_id}", error)
    except Exception:
        logger.exception("could not send %s for contact %s", what, contact_id)


def finish_queued_links(timeout: float = 30) -> None:
    """Wait until the mails queued so far are sent or have failed (tests; shutdown)."""
    futures.wait(list(_queued), timeout=timeout)


finish_queued_mail = finish_queued_links


async def send_sign_in_link(contact_id: str, request: HttpRequest) -> bool:
    """Staff invite: mail a link to the contact's address in the CRM. False when the CRM
    does not know the contact, has no address for them, or they may not come in;
    `MailNotSent` (logged here) when the mail relay fails."""
    identity = await crm.get_contact_identity(contact_id)
    if identity is None or not identity.allowed or not identity.email:
        return False
    if await ContactAccess.objects.ais_blocked(contact_id):
        return False
    site = await aget_portal_settings()
    try:
        await sync_to_async(mail_sign_in_link)(request, identity, identity.email, site)
    except MAIL_RELAY_ERRORS as error:
        # The link stays stored unused (it expires like any other); nothing says sent.
        log_relay_failure(f"a staff invite (sign-in link) to contact {contact_id}", error)
        raise MailNotSent(error) from None
    return True
