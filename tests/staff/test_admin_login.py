"""The admin's login: throttled per user name and per address, with a one-time code (TOTP)
for staff who set one up, required of superusers with ADMIN_REQUIRE_2FA (issue 17, item 9).
"""

import re
import time

import pytest
from django.contrib.auth import get_user_model
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.shell.html import parse

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
MY_SIGN_IN = "/admin/my-sign-in/"
PASSWORD = "a-long-staff-password-1"
THROTTLED = "Too many failed sign-ins"


@pytest.fixture
def ada():
    return get_user_model().objects.create_user("ada", password=PASSWORD, is_staff=True)


@pytest.fixture
def root():
    return get_user_model().objects.create_superuser("root", password=PASSWORD)


def log_in(client, username, password=PASSWORD, otp_token="", address="192.0.2.1"):
    return client.post(
        LOGIN,
        {"username": username, "password": password, "otp_token": otp_token, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def signed_in(client):
    return "_auth_user_id" in client.session


def code(device, steps_ahead=0):
    """The code the staff member's app shows now (or that many 30-second steps later)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


# --- Throttling


def test_a_user_name_is_throttled_after_n_failures_from_any_address(client, ada, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 3
    for attempt in range(3):
        response = log_in(client, "ada", "wrong", address=f"198.51.100.{attempt}")
        assert response.status_code == 200 and not signed_in(client)
    response = log_in(client, "ADA", address="203.0.113.9")  # even the right password
    assert response.status_code == 429
    assert THROTTLED in response.content.decode()
    assert not signed_in(client)
    get_user_model().objects.create_user("bob", password=PASSWORD, is_staff=True)
    assert log_in(client, "bob", address="203.0.113.9").status_code == 302  # others still can
    assert signed_in(client)


def test_an_address_is_throttled_after_n_failures_for_any_user_name(client, ada, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES_PER_IP = 3
    for name in ["root", "admin", "administrator"]:
        assert log_in(client, name, "guess", address="198.51.100.7").status_code == 200
    response = log_in(client, "ada", address="198.51.100.7")
    assert response.status_code == 429 and THROTTLED in response.content.decode()
    assert not signed_in(client)
    assert log_in(client, "ada", address="198.51.100.8").status_code == 302
    assert signed_in(client)


def test_signing_in_does_not_count_as_a_failure(client, ada, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 2
    for _ in range(3):
        assert log_in(client, "ada").status_code == 302
        client.logout()


def test_the_throttled_page_is_the_login_form_under_the_csp(client, ada, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 1
    log_in(client, "ada", "wrong")
    response = log_in(client, "ada")
    assert response.status_code == 429
    page = parse(response.content)
    assert page.find_all("form") and "unsafe-inline" not in response["Content-Security-Policy"]
    assert_no_inline_script(response)


# --- The login page


def assert_no_inline_script(response):
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    page = parse(response.content)
    for script in page.find_all("script"):
        assert script.attrs.get("src") or script.attrs.get("nonce") == nonce
    for element in page.elements:
        assert not any(name.startswith("on") or name == "style" for name in element.attrs)


def test_the_login_page_asks_for_the_code_without_javascript(client):
    response = client.get(LOGIN + "?next=/admin/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="otp_token"' in page and 'autocomplete="one-time-code"' in page
    assert_no_inline_script(response)


# --- Setting up an authenticator app


def test_a_staff_member_sets_up_an_authenticator_app(client, ada, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # a wrong code, then the right one at once
    assert log_in(client, "ada").status_code == 302
    page = client.get(MY_SIGN_IN).content.decode()
    assert "Set up an authenticator app" in page
    client.post(MY_SIGN_IN + "authenticator/start/")
    device = TOTPDevice.objects.get(user=ada)
    assert not device.confirmed
    response = client.get(MY_SIGN_IN)
    page = response.content.decode()
    assert 'src="data:image/svg+xml;base64,' in page  # the QR code, as an image
    assert "otpauth://" not in page  # the key is in the image and typed out, not a link
    assert_no_inline_script(response)

    client.post(MY_SIGN_IN + "authenticator/confirm/", {"otp_token": code(device, 5)})
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed  # a wrong code confirms nothing
    client.post(MY_SIGN_IN + "authenticator/confirm/", {"otp_token": code(device)})
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get("/admin/").status_code == 200  # this session is verified by it

    client.logout()
    assert log_in(client, "ada").status_code == 200 and not signed_in(client)
    assert log_in(client, "ada", otp_token=code(device, 1)).status_code == 302  # the next code
    assert client.get("/admin/").status_code == 200


def test_setup_steps_are_posts_of_a_signed_in_staff_member(client, ada):
    assert client.post(MY_SIGN_IN + "authenticator/start/").status_code == 302
    assert not TOTPDevice.objects.exists()  # anonymous: sent to the login page
    client.force_login(ada)
    assert client.get(MY_SIGN_IN + "authenticator/start/").status_code == 405
    assert not TOTPDevice.objects.exists()


# --- Signing in with a code


@pytest.fixture
def ada_device(ada):
    return TOTPDevice.objects.create(user=ada, name="phone", confirmed=True)


def test_a_valid_code_signs_in(client, ada_device):
    response = log_in(client, "ada", otp_token=code(ada_device))
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_an_invalid_code_does_not_sign_in(client, ada_device):
    response = log_in(client, "ada", otp_token=code(ada_device, 5))
    assert response.status_code == 200
    assert "Enter the current one-time code" in response.content.decode()
    assert not signed_in(client)


def test_the_password_alone_does_not_sign_in_once_a_device_is_set_up(client, ada_device):
    assert log_in(client, "ada").status_code == 200
    assert not signed_in(client)


def test_wrong_codes_count_towards_the_throttle(client, ada_device, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 2
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    log_in(client, "ada", otp_token="000000", address="198.51.100.1")
    log_in(client, "ada", otp_token="111111", address="198.51.100.2")
    response = log_in(client, "ada", otp_token=code(ada_device), address="198.51.100.3")
    assert response.status_code == 429 and not signed_in(client)


def test_a_session_without_the_code_does_not_reach_the_admin(client, ada_device):
    client.force_login(ada_device.user)  # e.g. a session from before the device was set up
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_a_staff_member_without_a_device_signs_in_with_the_password(client, ada):
    assert log_in(client, "ada").status_code == 302
    assert client.get("/admin/").status_code == 200


# --- Required for superusers


def test_a_superuser_without_a_device_is_refused_when_required(client, root, settings):
    settings.ADMIN_REQUIRE_2FA = True
    response = log_in(client, "root")
    assert response.status_code == 200
    assert "has no authenticator app set up" in response.content.decode()
    assert not signed_in(client)
    client.force_login(root)  # a session from before the setting
    assert client.get("/admin/").status_code == 302


def test_a_superuser_without_a_device_signs_in_when_not_required(client, root):
    assert log_in(client, "root").status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_required_superuser_signs_in_with_a_code(client, root, settings):
    settings.ADMIN_REQUIRE_2FA = True
    device = TOTPDevice.objects.create(user=root, name="phone", confirmed=True)
    assert log_in(client, "root", otp_token=code(device)).status_code == 302
    assert client.get("/admin/").status_code == 200
    # ...and may not remove the app that lets them in.
    client.post(MY_SIGN_IN + "authenticator/remove/")
    assert TOTPDevice.objects.filter(user=root).exists()


def test_a_locked_out_superuser_signs_in_with_a_backup_code(client, root, settings):
    """`manage.py addstatictoken root` makes such a code (django-otp's static device)."""
    settings.ADMIN_REQUIRE_2FA = True
    device = StaticDevice.objects.create(user=root, name="backup")
    device.token_set.create(token="k3y7tz9q")
    assert log_in(client, "root", otp_token="k3y7tz9q").status_code == 302
    assert client.get(MY_SIGN_IN).status_code == 200  # where they set up an app
    client.logout()
    assert log_in(client, "root", otp_token="k3y7tz9q").status_code == 200  # used once


def test_a_staff_member_removes_their_authenticator_app(client, ada_device):
    log_in(client, "ada", otp_token=code(ada_device))
    client.post(MY_SIGN_IN + "authenticator/remove/")
    assert not TOTPDevice.objects.exists()
    client.logout()
    assert log_in(client, "ada").status_code == 302
