"""Sign in with the CRM (OAuth 2.0 code + PKCE), end to end against the emulator."""

import base64
import hashlib
import logging

import pytest
from django.test import Client

from portal.models import ActivityEvent, ContactAccess
from portal.signin.session import SESSION_KEY
from tests.signin.crm_signin import (
    CALLBACK,
    authorize_at_crm,
    demo_contacts,
    query_of,
    register_test_redirect_uri,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(crm):
    register_test_redirect_uri(crm)
    return demo_contacts(crm)[0]


def start(client: Client, next_url: str = "/invoices/?page=2") -> str:
    response = client.get("/login/oauth/", {"next": next_url})
    assert response.status_code == 302
    return response["Location"]


def callback(client: Client, crm_redirect: str):
    assert crm_redirect.startswith(CALLBACK), crm_redirect
    return client.get("/login/oauth/callback/", query_of(crm_redirect))


def test_the_authorization_request_uses_pkce_state_and_the_registered_redirect(
    client, contact, crm
):
    authorize_url = start(client)
    params = query_of(authorize_url)
    assert authorize_url.startswith(f"{crm.api_url}/auth/contact/authorize?")
    assert params["response_type"] == "code"
    assert params["client_id"] == "demo-portal"
    assert params["redirect_uri"] == CALLBACK
    assert params["code_challenge_method"] == "S256"
    assert len(params["state"]) >= 32
    pending = client.session["portal_oauth_pending"]
    verifier_hash = hashlib.sha256(pending["code_verifier"].encode()).digest()
    expected = base64.urlsafe_b64encode(verifier_hash).rstrip(b"=").decode()
    assert params["code_challenge"] == expected
    assert pending["code_verifier"] not in authorize_url


def test_a_contact_signs_in_and_lands_on_next(client, contact, crm):
    old_session_key = client.session.session_key
    response = callback(client, authorize_at_crm(start(client), contact.email))
    assert response.status_code == 302
    assert response["Location"] == "/invoices/?page=2"
    session = client.session
    assert session.session_key != old_session_key
    stored = session[SESSION_KEY]
    assert stored["contact_id"] == contact.id
    assert stored["account_id"] == contact.account_id
    assert ContactAccess.objects.get(contact_id=contact.id).last_sign_in is not None
    assert ActivityEvent.objects.filter(kind="sign_in", contact_id=contact.id).exists()


def test_a_wrong_state_is_refused(client, contact):
    crm_redirect = authorize_at_crm(start(client), contact.email)
    params = query_of(crm_redirect)
    params["state"] = "not-the-state-we-sent-" + "x" * 20
    response = client.get("/login/oauth/callback/", params)
    assert response.status_code == 400
    assert SESSION_KEY not in client.session


def test_a_callback_without_a_started_flow_is_refused(client, contact):
    response = client.get("/login/oauth/callback/", {"code": "abc", "state": "def"})
    assert response.status_code == 400
    assert SESSION_KEY not in client.session


def test_a_replayed_code_is_refused(client, contact):
    crm_redirect = authorize_at_crm(start(client), contact.email)
    assert callback(client, crm_redirect).status_code == 302
    # An attacker replays the same code with a state of their own fresh flow.
    attacker = Client()
    fresh_state = query_of(start(attacker))["state"]
    replay = dict(query_of(crm_redirect), state=fresh_state)
    response = attacker.get("/login/oauth/callback/", replay)
    assert response.status_code == 400
    assert SESSION_KEY not in attacker.session


def test_a_denied_authorization_says_so(client, contact):
    state = query_of(start(client))["state"]
    response = client.get("/login/oauth/callback/", {"error": "access_denied", "state": state})
    assert response.status_code == 400
    assert b"cancelled" in response.content
    assert SESSION_KEY not in client.session


def test_a_blocked_contact_cannot_sign_in(client, contact):
    ContactAccess.objects.create(contact_id=contact.id, blocked=True)
    response = callback(client, authorize_at_crm(start(client), contact.email))
    assert response.status_code == 403
    assert SESSION_KEY not in client.session


def test_next_cannot_leave_the_portal(client, contact):
    authorize_url = start(client, next_url="https://evil.example/")
    response = callback(client, authorize_at_crm(authorize_url, contact.email))
    assert response["Location"] == "/"


def test_no_token_in_any_response_header_cookie_or_log(client, contact, caplog):
    caplog.set_level(logging.DEBUG)
    authorize_url = start(client)
    crm_redirect = authorize_at_crm(authorize_url, contact.email)
    caplog.clear()  # from here on, only the portal's own log lines
    response = callback(client, crm_redirect)
    tokens = client.session[SESSION_KEY]["tokens"]
    secrets = [value for value in tokens.values() if isinstance(value, str) and len(value) > 8]
    secrets += [query_of(crm_redirect)["code"], "demo-portal-secret"]
    pages = [response, client.get("/login/")]
    for secret in secrets:
        for page in pages:
            assert secret not in page.content.decode()
            assert all(secret not in value for value in page.headers.values())
        assert all(secret not in morsel.value for morsel in client.cookies.values())
        assert secret not in caplog.text


def test_sign_out_needs_post_and_a_csrf_token(contact, crm):
    browser = Client(enforce_csrf_checks=True)
    callback(browser, authorize_at_crm(start(browser), contact.email))
    assert SESSION_KEY in browser.session
    assert browser.get("/logout/").status_code == 405
    assert browser.post("/logout/").status_code == 403
    assert SESSION_KEY in browser.session
    token = browser.cookies["csrftoken"].value  # rotated at sign-in
    response = browser.post("/logout/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert SESSION_KEY not in browser.session
    assert b"signed out" in browser.get("/login/").content


@pytest.mark.parametrize("fault", [{"kind": "reset"}, {"kind": "status", "status": 502}])
def test_a_failing_crm_during_the_callback_gives_a_friendly_503(client, contact, crm, fault):
    crm_redirect = authorize_at_crm(start(client), contact.email)
    crm.control("POST", "faults", json={"path": "^/auth/contact/access_token$", **fault})
    response = callback(client, crm_redirect)
    assert response.status_code == 503
    assert b"not reachable right now" in response.content
    assert b"Traceback" not in response.content
    assert SESSION_KEY not in client.session
