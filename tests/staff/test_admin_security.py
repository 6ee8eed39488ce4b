"""Only staff reach the admin, and the admin keeps the portal's CSP and security headers."""

import re

import pytest
from django.contrib.auth import get_user_model

from portal.models import ActivityEvent, ContactAccess, SignInLink
from tests.shell.html import parse

pytestmark = pytest.mark.django_db

ADMIN_PAGES = [
    "/admin/",
    "/admin/portal/portalsettings/1/change/",
    "/admin/portal/portalsettings/test-connection/",
    "/admin/portal/contactaccess/",
    "/admin/portal/contactaccess/find-contact/",
    "/admin/portal/activityevent/",
    "/admin/portal/signinlink/",
    "/admin/portal/settingschange/",
    "/admin/portal/staffcrmlink/",
    "/admin/my-sign-in/",
    "/admin/otp_totp/totpdevice/",
    "/admin/otp_static/staticdevice/",
]


@pytest.fixture
def some_records():
    from django.utils import timezone

    ContactAccess.objects.create(contact_id="c-1", account_id="a-1")
    ActivityEvent.objects.create(kind="sign_in", contact_id="c-1")
    SignInLink.objects.create(
        token_hash="a" * 64,
        contact_id="c-1",
        email="c@example.com",
        expires_at=timezone.now(),
    )


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_anonymous_visitors_are_sent_to_the_admin_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_users_who_are_not_staff_get_no_admin_access(client, url):
    user = get_user_model().objects.create_user("customer", password="pw-123456789")
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_signed_in_contact_is_not_staff(client):
    session = client.session
    session["portal_contact"] = {"contact_id": "c-1", "account_id": "a-1", "name": "Zoë"}
    session.save()
    response = client.get("/admin/portal/portalsettings/1/change/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_a_non_staff_user_cannot_sign_in_to_the_admin(client):
    get_user_model().objects.create_user("customer", password="pw-123456789")
    response = client.post(
        "/admin/login/", {"username": "customer", "password": "pw-123456789", "next": "/admin/"}
    )
    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admin_pages_carry_the_csp_and_security_headers(admin_client, some_records, url):
    response = admin_client.get(url)
    assert response.status_code == 200, url
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "no-cache" in response["Cache-Control"] or "private" in response["Cache-Control"]

    page = parse(response.content)
    for script in page.find_all("script"):
        if script.attrs.get("type") == "application/json":
            continue  # data, never executed
        assert script.attrs.get("src") or script.attrs.get("nonce") == nonce, url
        if not script.attrs.get("src"):
            assert script.attrs.get("nonce") == nonce, f"inline script without nonce on {url}"
    for style in page.find_all("style"):
        assert style.attrs.get("nonce") == nonce, f"inline style without nonce on {url}"
    for element in page.elements:
        for name in element.attrs:
            assert not name.startswith("on"), f"{name}= on <{element.tag}> at {url}"
            assert name != "style", f"style= on <{element.tag}> at {url}"
