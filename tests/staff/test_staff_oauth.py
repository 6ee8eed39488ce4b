"""Staff may sign in to the admin with their 1CRM user account, if they already are staff."""

from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

CLIENT_ID = "portal-staff-tests"
CLIENT_SECRET = "portal-staff-tests-secret"
CRM_ADMIN_EMAIL = "admin@northwind-tools.example.com"
DEMO_PASSWORD = "demo-password"  # the emulator's published demo password


@pytest.fixture
def crm_client(crm, settings):
    """An OAuth client registered with the admin callback of the test server."""
    try:
        crm.control(
            "POST",
            "clients",
            json={
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": ["http://testserver/admin/oauth/callback/"],
            },
        )
    except httpx.HTTPStatusError as error:
        if error.response.status_code == 404:
            pytest.skip("the emulator has no /__emulator__/clients control yet")
        raise
    settings.ONECRM_CLIENT_ID, settings.ONECRM_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    return crm


def sign_in_at_the_crm(client, login="admin", next_url="/admin/portal/"):
    """Follow the flow as a browser would: portal → CRM sign-in form → portal callback."""
    start = client.get("/admin/oauth/start/", {"next": next_url})
    assert start.status_code == 302
    authorize_url = start["Location"]
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"][0]
    crm_answer = httpx.post(
        authorize_url, data={"login": login, "password": DEMO_PASSWORD}, follow_redirects=False
    )
    assert crm_answer.status_code == 302, crm_answer.text[:300]
    back = urlsplit(crm_answer.headers["Location"])
    assert back.path == "/admin/oauth/callback/"
    return client.get(back.path, parse_qs(back.query))


def test_an_existing_staff_user_signs_in_with_the_crm(client, crm_client):
    user = get_user_model().objects.create_user("ada", email=CRM_ADMIN_EMAIL.upper(), is_staff=True)
    response = sign_in_at_the_crm(client)
    assert response.status_code == 302 and response["Location"] == "/admin/portal/"
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get("/admin/").status_code == 200


def test_nobody_becomes_staff_by_signing_in(client, crm_client):
    get_user_model().objects.create_user("ada", email=CRM_ADMIN_EMAIL, is_staff=False)
    response = sign_in_at_the_crm(client)
    assert response["Location"] == "/admin/login/"
    assert "_auth_user_id" not in client.session
    assert get_user_model().objects.filter(is_staff=True).count() == 0


def test_a_forged_state_is_refused(client, crm_client):
    get_user_model().objects.create_user("ada", email=CRM_ADMIN_EMAIL, is_staff=True)
    client.get("/admin/oauth/start/")
    response = client.get("/admin/oauth/callback/", {"code": "anything", "state": "forged"})
    assert response["Location"] == "/admin/login/"
    assert "_auth_user_id" not in client.session


def test_next_may_only_point_into_the_admin(client, crm_client):
    get_user_model().objects.create_user("ada", email=CRM_ADMIN_EMAIL, is_staff=True)
    response = sign_in_at_the_crm(client, next_url="https://evil.example/")
    assert response["Location"] == "/admin/"


def test_the_admin_login_page_offers_it(client):
    page = client.get("/admin/login/?next=/admin/").content.decode()
    assert 'href="/admin/oauth/start/?next=/admin/"' in page
