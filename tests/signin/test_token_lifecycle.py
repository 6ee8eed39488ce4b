"""Tokens through a session: refreshed mid-session, and a refusal ends the session."""

import time

import pytest
from django.test import Client

from portal.signin.session import SESSION_KEY
from tests.signin.crm_signin import (
    authorize_at_crm,
    demo_contacts,
    query_of,
    register_test_redirect_uri,
)

pytestmark = pytest.mark.django_db

TTL = 3  # seconds: short-lived access tokens, so the test sees one expire


@pytest.fixture
def signed_in(crm, settings) -> Client:
    """A contact signed in through OAuth, reading data with their own token."""
    settings.ONECRM_DATA_ACCESS = "contact_token"
    crm.control(
        "POST", "switches", json={"contact_token_reads_data": True, "access_token_ttl": TTL}
    )
    register_test_redirect_uri(crm)
    contact = demo_contacts(crm)[0]
    client = Client()
    authorize_url = client.get("/login/oauth/")["Location"]
    response = client.get(
        "/login/oauth/callback/", query_of(authorize_at_crm(authorize_url, contact.email))
    )
    assert response.status_code == 302
    assert client.session[SESSION_KEY]["data_access"] == "contact_token"
    return client


def test_an_expired_access_token_is_refreshed_mid_session(signed_in, crm):
    before = signed_in.session[SESSION_KEY]["tokens"]
    assert signed_in.get("/invoices/").status_code == 200
    time.sleep(TTL + 0.5)
    crm.control("DELETE", "requests")
    response = signed_in.get("/invoices/")
    assert response.status_code == 200
    after = signed_in.session[SESSION_KEY]["tokens"]
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"], "the rotated token is saved"
    log = crm.control("GET", "requests").json()["requests"]
    refreshes = [r for r in log if r["path"].endswith("/auth/contact/access_token")]
    assert len(refreshes) == 1


def test_a_refresh_token_the_crm_refuses_ends_the_session(signed_in):
    session = signed_in.session
    contact = session[SESSION_KEY]
    contact["tokens"] = {
        **contact["tokens"],
        "refresh_token": "revoked-refresh-token-0123456789",
        "expires_at": time.time() - 60,
        "renew_at": time.time() - 90,
    }
    session[SESSION_KEY] = contact
    session.save()
    response = signed_in.get("/invoices/?page=2")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=%2Finvoices%2F%3Fpage%3D2"
    assert SESSION_KEY not in signed_in.session
    page = signed_in.get(response["Location"])
    assert b"Your access has changed" in page.content


def test_an_htmx_request_after_the_session_ended_gets_hx_redirect(signed_in):
    signed_in.post("/logout/")
    response = signed_in.get("/invoices/?page=2", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith("/login/?next=")
