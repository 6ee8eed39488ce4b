"""A staff invite whose mail relay fails: staff read why in the admin, the operator gets
one log line to act on, never a 500.

Django's real SMTP backend talks to the test's own SMTP server (tests/signin/smtp_server.py),
as the contact's own sign-in link does in tests/signin/test_link_mail_relay.py: a relay
that refuses the message, one that never greets (the backend's own timeout, set short;
nothing here measures time), and a port where nothing listens.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from portal.models import ActivityEvent, ContactAccess, SignInLink
from tests.emulator_server import free_port
from tests.signin.crm_signin import DemoContact, demo_contacts
from tests.signin.smtp_server import SmtpServer

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/portal/contactaccess/"
FIND = "/admin/portal/contactaccess/find-contact/"

# kind of failure -> (what staff read, what the operator's line holds besides the relay)
FAILURES = {
    "rejects": ("refused the message (554)", "SMTPDataError: (554"),
    "silent": ("did not answer in time", "timed out"),
    "refused": ("refused the connection", "ConnectionRefusedError"),
}


@pytest.fixture
def contact(crm) -> DemoContact:
    return demo_contacts(crm)[0]


@pytest.fixture(params=sorted(FAILURES))
def failing_relay(request, settings) -> Iterator[tuple[str, int]]:
    """A relay that fails in one of the ways above; (the kind, its port)."""
    kind = request.param
    if kind == "refused":
        port = free_port()  # nothing listens there
        server = None
    else:
        server = SmtpServer(reject_data=kind == "rejects", hold=kind == "silent").start()
        port = server.port
    mailer = {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {"host": "127.0.0.1", "port": port, "use_tls": False, "timeout": 0.5},
    }
    settings.MAILERS = {"default": mailer}
    yield kind, port
    if server is not None:
        server.stop()


def said(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def relay_lines(caplog, contact_id: str) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "portal.signin_links" and contact_id in record.getMessage()
    ]


def assert_told_and_logged(response, caplog, contact: DemoContact, kind: str, port: int) -> None:
    staff_sentence, relay_answer = FAILURES[kind]
    assert response.status_code == 200
    assert "Traceback" not in response.content.decode()
    messages = said(response)
    assert any(m.startswith("No sign-in link sent:") and staff_sentence in m for m in messages), (
        messages
    )
    (line,) = relay_lines(caplog, contact.id)
    text = line.getMessage()
    assert line.levelno == logging.ERROR and line.exc_info is None
    assert f"staff invite (sign-in link) to contact {contact.id}" in text
    assert relay_answer in text, text
    assert f"relay 127.0.0.1:{port}" in text and "EMAIL_HOST" in text
    # Never the link: not its URL, not its token's hash.
    link = SignInLink.objects.get(contact_id=contact.id)
    assert "/login/email/" not in caplog.text and link.token_hash not in caplog.text
    assert ContactAccess.objects.get(contact_id=contact.id).invited_at is None
    assert not ActivityEvent.objects.filter(kind="sign_in_link_sent").exists()


def test_the_send_link_action_says_why_the_relay_failed(admin_client, crm, failing_relay, caplog):
    kind, port = failing_relay
    # Two contacts the CRM knows, with addresses: the action takes them by contact id.
    first, second = sorted(demo_contacts(crm)[:2], key=lambda c: c.id)
    accesses = [ContactAccess.objects.create(contact_id=c.id) for c in (first, second)]
    caplog.set_level(logging.INFO)
    response = admin_client.post(
        CHANGELIST,
        {"action": "send_link", "_selected_action": [a.pk for a in accesses]},
        follow=True,
    )
    assert_told_and_logged(response, caplog, first, kind, port)
    assert "0 sign-in link(s) sent." in said(response)
    # The second contact would meet the same relay: the action stopped at the first.
    assert not SignInLink.objects.filter(contact_id=second.id).exists()


def test_send_link_from_find_contact_says_why_the_relay_failed(
    admin_client, contact, failing_relay, caplog
):
    kind, port = failing_relay
    caplog.set_level(logging.INFO)
    response = admin_client.post(
        FIND,
        {"contact_id": contact.id, "account_id": "", "action": "send_link", "q": contact.email},
        follow=True,
    )
    assert_told_and_logged(response, caplog, contact, kind, port)
    assert "Sign-in link sent." not in said(response)
