"""The sign-in link form answers the same whatever the mail relay does.

Django's real SMTP backend talks to a local SMTP server the test starts
(tests/signin/smtp_server.py): a slow one, whose greeting waits until the test releases
it, and a failing one, which refuses every message. No wall-clock threshold: the slow
relay shows the order of events (the known address's answer is there while the relay
still holds its connection, before it has the message), which a request that waited for
the relay could never produce.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from django.test import Client

from portal.models import ActivityEvent, SignInLink
from portal.signin_links import finish_queued_links
from tests.signin.crm_signin import DemoContact, demo_contacts
from tests.signin.smtp_server import SmtpServer

pytestmark = pytest.mark.django_db(transaction=True)

UNKNOWN = "nobody-we-know@example.org"
PER_RESPONSE = re.compile(r'((?:name="csrfmiddlewaretoken" value|nonce)=|"X-CSRFToken": )"[^"]*"')


@pytest.fixture
def contact(crm) -> DemoContact:
    return demo_contacts(crm)[0]


@pytest.fixture
def relay(request, settings) -> Iterator[SmtpServer]:
    server = SmtpServer(**getattr(request, "param", {})).start()
    settings.MAILERS = {"default": server.mailer()}
    yield server
    server.stop()
    finish_queued_links()


def ask_for_link(email: str):
    return Client().post("/login/email/", {"email": email})


def same_page(response, email: str) -> str:
    """The page with what differs on every response (CSRF token, CSP nonce) and the
    address the visitor typed taken out."""
    return PER_RESPONSE.sub(r'\1"-"', response.content.decode()).replace(email, "ADDRESS")


@pytest.mark.parametrize("relay", [{"hold": True}], indirect=True)
def test_a_known_address_is_answered_before_a_slow_relay_has_the_message(contact, relay):
    known = ask_for_link(contact.email)
    assert relay.messages == [], "the answer waited for the mail relay"
    unknown = ask_for_link(UNKNOWN)
    assert known.status_code == unknown.status_code == 200
    assert same_page(known, contact.email) == same_page(unknown, UNKNOWN)
    assert relay.connections <= 1  # the known address's link, still held

    relay.release()
    finish_queued_links()
    assert len(relay.messages) == 1
    message = relay.messages[0].decode()
    assert f"To: {contact.email}" in message
    assert "/login/email/" in message
    assert SignInLink.objects.filter(contact_id=contact.id, email=contact.email).count() == 1
    assert ActivityEvent.objects.filter(kind="sign_in_link_sent", contact_id=contact.id).exists()


@pytest.mark.parametrize("relay", [{"reject_data": True}], indirect=True)
def test_a_failing_relay_gives_a_known_address_the_same_answer_and_the_operator_a_log_line(
    contact, relay, caplog
):
    caplog.set_level(logging.INFO)
    known = ask_for_link(contact.email)
    unknown = ask_for_link(UNKNOWN)
    assert known.status_code == unknown.status_code == 200
    assert same_page(known, contact.email) == same_page(unknown, UNKNOWN)

    finish_queued_links()
    assert relay.connections == 1 and relay.messages == []
    failures = [
        record
        for record in caplog.records
        if record.name == "portal.signin_links" and record.levelno == logging.ERROR
    ]
    assert len(failures) == 1, caplog.text
    line = failures[0].getMessage()
    assert f"could not send a sign-in link to contact {contact.id}" in line
    assert "554" in line, "the relay's answer is in the log line"
    link = SignInLink.objects.get(contact_id=contact.id)
    assert "/login/email/" not in caplog.text and link.token_hash not in caplog.text
    assert not ActivityEvent.objects.filter(kind="sign_in_link_sent").exists()


def test_an_unknown_address_never_reaches_the_relay(crm, relay):
    assert ask_for_link(UNKNOWN).status_code == 200
    finish_queued_links()
    assert relay.connections == 0
