"""Portal-managed sign-in: an e-mailed one-time link, end to end against the emulator.

Links go out from a background thread after the answer (portal.signin_links), so the
tests wait for it (`sent_mail()`) before looking at the outbox; the thread writes with its
own database connection, hence transactional tests.
"""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from portal.models import ContactAccess, SignInLink
from portal.signin.session import SESSION_KEY
from portal.signin_links import finish_queued_links
from tests.signin.crm_signin import demo_contacts

pytestmark = pytest.mark.django_db(transaction=True)

SAME_ANSWER = "a sign-in link is on its way"


@pytest.fixture
def contact(crm):
    return demo_contacts(crm)[0]


def ask_for_link(client: Client, email: str):
    return client.post("/login/email/", {"email": email})


def sent_mail() -> list:
    finish_queued_links()
    return mail.outbox


def link_in_mail() -> str:
    assert len(sent_mail()) == 1
    match = re.search(r"http://testserver(/login/email/[^/\s]+/)", mail.outbox[0].body)
    assert match, mail.outbox[0].body
    return match.group(1)


def test_a_known_contact_gets_a_link_that_signs_in_once(client, contact):
    response = ask_for_link(client, contact.email)
    assert response.status_code == 200
    assert SAME_ANSWER in response.content.decode()
    link = link_in_mail()
    assert mail.outbox[0].to == [contact.email]
    # GET only shows a button: a mail scanner's pre-fetch does not use the link up.
    assert client.get(link).status_code == 200
    assert client.get(link).status_code == 200
    response = client.post(link)
    assert response.status_code == 302
    assert client.session[SESSION_KEY]["contact_id"] == contact.id
    assert ContactAccess.objects.get(contact_id=contact.id).last_sign_in is not None
    # Used: a second POST, even from a fresh browser, does not sign in.
    other = Client()
    assert other.post(link).status_code == 400
    assert SESSION_KEY not in other.session


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, contact):
    known = ask_for_link(client, contact.email)
    sent_mail().clear()
    unknown = ask_for_link(Client(), "nobody-at-all@example.org")
    assert unknown.status_code == known.status_code == 200
    assert SAME_ANSWER in unknown.content.decode()
    assert sent_mail() == []
    assert not SignInLink.objects.filter(email="nobody-at-all@example.org").exists()


def test_an_expired_link_does_not_sign_in(client, contact):
    ask_for_link(client, contact.email)
    link = link_in_mail()
    SignInLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(link).status_code == 400
    assert client.post(link).status_code == 400
    assert SESSION_KEY not in client.session


def test_a_blocked_contact_gets_no_link_and_a_link_sent_before_fails(client, contact):
    ask_for_link(client, contact.email)
    link = link_in_mail()
    ContactAccess.objects.update_or_create(contact_id=contact.id, defaults={"blocked": True})
    mail.outbox.clear()
    ask_for_link(Client(), contact.email)
    assert sent_mail() == []
    assert client.post(link).status_code == 403
    assert SESSION_KEY not in client.session


def test_a_bad_address_is_a_clear_error(client, crm):
    response = ask_for_link(client, "not an address")
    assert response.status_code == 400
    assert b"valid e-mail address" in response.content


def test_link_requests_are_rate_limited_per_address(client, contact):
    answers = [ask_for_link(Client(), contact.email).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert len(sent_mail()) == 3


def test_no_token_in_any_response_header_cookie_or_log_of_the_link_flow(client, contact, caplog):
    import logging

    # The gateway's token cache is read to know every token minted: its own insides.
    from crm_gateway import credentials  # noqa: TID251

    caplog.set_level(logging.DEBUG)
    pages = [ask_for_link(client, contact.email)]
    link = link_in_mail()
    pages += [client.get(link), client.post(link), client.get("/login/")]
    minted = [tokens.access_token for tokens in credentials._process_tokens.values()]
    assert minted, "signing in minted a /portal/auth token (and the staff token)"
    link_token = link.rstrip("/").rsplit("/", 1)[1]
    for secret in [*minted, "demo-portal-secret"]:
        for page in pages:
            assert secret not in page.content.decode()
            assert all(secret not in value for value in page.headers.values())
        assert all(secret not in morsel.value for morsel in client.cookies.values())
        assert secret not in caplog.text
    # The link's own token is in the e-mail and its URL, never in a log line.
    assert link_token not in caplog.text
