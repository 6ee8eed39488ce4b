"""Links that leave the request come from PORTAL_BASE_URL, never from the Host header
(issue 17, item 8).

Django refuses a Host outside ALLOWED_HOSTS, but an installation with a wildcard, or a
proxy that passes any Host on, lets a client choose it. A sign-in link mailed to a
contact, or the redirect_uri handed to the CRM, built from that header would send the
contact (and the link's token, or the authorization code) to the attacker's site.
"""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail

from portal.signin_links import finish_queued_links
from tests.signin.crm_signin import demo_contacts

pytestmark = pytest.mark.django_db

BASE = "https://portal.example.com"
FORGED = "evil.example"


@pytest.fixture(autouse=True)
def lenient_hosts(settings):
    """The forged name gets past the host check: only PORTAL_BASE_URL decides links."""
    settings.ALLOWED_HOSTS = ["*"]
    settings.USE_X_FORWARDED_HOST = True  # even if an operator turned it on
    settings.PORTAL_BASE_URL = BASE


FORGED_HEADERS = [{"HTTP_HOST": FORGED}, {"HTTP_X_FORWARDED_HOST": FORGED}]


def redirect_uri(location: str) -> str:
    [uri] = parse_qs(urlsplit(location).query)["redirect_uri"]
    return uri


@pytest.mark.parametrize("forged", FORGED_HEADERS)
def test_the_contact_oauth_redirect_uri_is_built_from_the_base_url(client, forged):
    response = client.get("/login/oauth/", {"next": "/"}, **forged)
    assert response.status_code == 302
    assert redirect_uri(response["Location"]) == f"{BASE}/login/oauth/callback/"


@pytest.mark.parametrize("forged", FORGED_HEADERS)
def test_the_staff_oauth_redirect_uri_is_built_from_the_base_url(client, settings, forged):
    settings.STAFF_ONECRM_SIGNIN = True
    response = client.get("/admin/oauth/start/", **forged)
    assert response.status_code == 302
    assert redirect_uri(response["Location"]) == f"{BASE}/admin/oauth/callback/"


# Transactional: the link is stored and mailed by a background thread, with its own
# database connection (portal.signin_links).
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("forged", FORGED_HEADERS)
def test_an_emailed_sign_in_link_is_built_from_the_base_url(client, crm, forged):
    contact = demo_contacts(crm)[0]
    response = client.post("/login/email/", {"email": contact.email}, **forged)
    assert response.status_code == 200
    finish_queued_links()
    [message] = mail.outbox
    assert f"{BASE}/login/email/" in message.body
    assert FORGED not in message.body
