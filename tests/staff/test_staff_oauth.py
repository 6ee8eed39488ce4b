"""Staff may sign in to the admin with a 1CRM user they linked themselves, if switched on.

A CRM user reaches the admin only by its CRM user id, linked by a staff member signed in
with their password; never by e-mail address (issue 17, item 1). Against the emulator's
real OAuth flow: the CRM's sign-in form, its codes and its /me.
"""

from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
from django.contrib.auth import get_user_model

from portal.models import StaffCrmLink

pytestmark = pytest.mark.django_db

CLIENT_ID = "portal-staff-tests"
CLIENT_SECRET = "portal-staff-tests-secret"
CRM_ADMIN_ID = "1"  # the emulator's `admin` user (role admin)
CRM_ADMIN_EMAIL = "admin@northwind-tools.example.com"
CRM_SALLY_EMAIL = "sally.seller@northwind-tools.example.com"  # `sally`, role Sales
DEMO_PASSWORD = "demo-password"  # the emulator's published demo password
MY_SIGN_IN = "/admin/my-sign-in/"


@pytest.fixture
def crm_client(crm, settings):
    """An OAuth client registered with the admin callback, and the CRM sign-in switched on."""
    crm.control(
        "POST",
        "clients",
        json={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": ["http://testserver/admin/oauth/callback/"],
        },
    )
    settings.ONECRM_CLIENT_ID, settings.ONECRM_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    settings.STAFF_ONECRM_SIGNIN = True
    return crm


@pytest.fixture
def ada():
    """A staff member whose own CRM user is `admin` (linked in the tests that need it)."""
    return get_user_model().objects.create_user("ada", password="ada-password-1", is_staff=True)


def through_the_crm(client, to_the_crm, login):
    """Follow a redirect to the CRM as a browser would: its sign-in form, back to the portal."""
    assert to_the_crm.status_code == 302, to_the_crm
    authorize_url = to_the_crm["Location"]
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"][0]
    crm_answer = httpx.post(
        authorize_url, data={"login": login, "password": DEMO_PASSWORD}, follow_redirects=False
    )
    assert crm_answer.status_code == 302, crm_answer.text[:300]
    back = urlsplit(crm_answer.headers["Location"])
    assert back.path == "/admin/oauth/callback/"
    return client.get(back.path, parse_qs(back.query))


def sign_in_at_the_crm(client, login="admin", next_url="/admin/portal/"):
    return through_the_crm(client, client.get("/admin/oauth/start/", {"next": next_url}), login)


def link_at_the_crm(client, login="admin"):
    return through_the_crm(client, client.post("/admin/oauth/link/"), login)


def signed_in_user_id(client):
    return client.session.get("_auth_user_id")


# --- The attack of issue 17 and the rule that stops it


def test_a_crm_user_whose_email_is_a_superusers_gets_no_admin_session(client, crm_client):
    """As if sally had put the superuser's address into her CRM profile."""
    get_user_model().objects.create_superuser("root", email=CRM_SALLY_EMAIL, password="x-9876543")
    response = sign_in_at_the_crm(client, login="sally")
    assert response.status_code == 302 and response["Location"] == "/admin/login/"
    assert signed_in_user_id(client) is None
    assert client.get("/admin/").status_code == 302


def test_an_email_match_is_not_a_link_even_for_a_linked_crm_user(client, crm_client, ada):
    """`admin` is linked to ada; a superuser with admin's e-mail stays out of reach."""
    StaffCrmLink.objects.create(user=ada, crm_user_id=CRM_ADMIN_ID)
    get_user_model().objects.create_superuser("root", email=CRM_ADMIN_EMAIL, password="x-9876543")
    sign_in_at_the_crm(client, login="admin")
    assert signed_in_user_id(client) == str(ada.pk)


def test_a_linked_crm_user_signs_in_as_the_staff_member_who_linked_it(client, crm_client, ada):
    StaffCrmLink.objects.create(user=ada, crm_user_id=CRM_ADMIN_ID)
    response = sign_in_at_the_crm(client)
    assert response.status_code == 302 and response["Location"] == "/admin/portal/"
    assert signed_in_user_id(client) == str(ada.pk)
    assert client.get("/admin/").status_code == 200


def test_an_unlinked_crm_user_gets_no_session(client, crm_client, ada):
    StaffCrmLink.objects.create(user=ada, crm_user_id=CRM_ADMIN_ID)
    get_user_model().objects.create_user("sal", email=CRM_SALLY_EMAIL, is_staff=True)
    response = sign_in_at_the_crm(client, login="sally")
    assert response["Location"] == "/admin/login/"
    assert signed_in_user_id(client) is None


def test_nobody_becomes_staff_by_signing_in(client, crm_client, ada):
    ada.is_staff = False
    ada.save()
    StaffCrmLink.objects.create(user=ada, crm_user_id=CRM_ADMIN_ID)
    response = sign_in_at_the_crm(client)
    assert response["Location"] == "/admin/login/"
    assert signed_in_user_id(client) is None
    assert get_user_model().objects.filter(is_staff=True).count() == 0


def test_a_crm_role_may_be_required(client, crm_client, ada, settings):
    settings.STAFF_ONECRM_ROLES = ["admin"]
    bob = get_user_model().objects.create_user("bob", is_staff=True)
    StaffCrmLink.objects.create(user=ada, crm_user_id=CRM_ADMIN_ID)
    sign_in_at_the_crm(client, login="sally")  # not linked: refused anyway
    assert signed_in_user_id(client) is None
    client.force_login(bob)
    link_at_the_crm(client, login="sally")
    client.logout()
    sign_in_at_the_crm(client, login="sally")  # linked, but her role is Sales
    assert signed_in_user_id(client) is None
    sign_in_at_the_crm(client, login="admin")
    assert signed_in_user_id(client) == str(ada.pk)


def test_a_staff_member_with_an_authenticator_app_signs_in_with_password_and_code(
    client, crm_client, ada
):
    """The CRM is one factor: a session from it alone would skip the one-time code."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=ada, name="phone", confirmed=True)
    StaffCrmLink.objects.create(user=ada, crm_user_id=CRM_ADMIN_ID)
    response = sign_in_at_the_crm(client)
    assert response["Location"] == "/admin/login/"
    assert signed_in_user_id(client) is None


def test_a_superuser_required_to_use_a_code_cannot_skip_it_with_the_crm(
    client, crm_client, settings
):
    settings.ADMIN_REQUIRE_2FA = True
    root = get_user_model().objects.create_superuser("root", password="x-9876543")
    StaffCrmLink.objects.create(user=root, crm_user_id=CRM_ADMIN_ID)
    sign_in_at_the_crm(client)
    assert signed_in_user_id(client) is None


# --- Linking and unlinking


def test_a_staff_member_links_their_crm_user_and_then_signs_in_with_it(client, crm_client, ada):
    client.login(username="ada", password="ada-password-1")
    page = client.get(MY_SIGN_IN).content.decode()
    assert 'action="/admin/oauth/link/"' in page and "Link my 1CRM user" in page
    response = link_at_the_crm(client, login="admin")
    assert response.status_code == 302 and response["Location"] == MY_SIGN_IN
    link = StaffCrmLink.objects.get(user=ada)
    assert link.crm_user_id == CRM_ADMIN_ID
    assert "Unlink my 1CRM user" in client.get(MY_SIGN_IN).content.decode()
    client.logout()
    sign_in_at_the_crm(client, login="admin")
    assert signed_in_user_id(client) == str(ada.pk)


def test_an_unlinked_crm_user_no_longer_signs_in(client, crm_client, ada):
    StaffCrmLink.objects.create(user=ada, crm_user_id=CRM_ADMIN_ID)
    client.force_login(ada)
    assert client.get("/admin/my-sign-in/unlink-crm-user/").status_code == 405
    response = client.post("/admin/my-sign-in/unlink-crm-user/")
    assert response.status_code == 302 and response["Location"] == MY_SIGN_IN
    assert not StaffCrmLink.objects.filter(user=ada).exists()
    client.logout()
    sign_in_at_the_crm(client, login="admin")
    assert signed_in_user_id(client) is None


def test_a_session_from_the_crm_sign_in_cannot_link_another_crm_user(client, crm_client, ada):
    StaffCrmLink.objects.create(user=ada, crm_user_id=CRM_ADMIN_ID)
    sign_in_at_the_crm(client, login="admin")
    assert signed_in_user_id(client) == str(ada.pk)
    response = client.post("/admin/oauth/link/")
    assert response.status_code == 302 and response["Location"] == MY_SIGN_IN
    assert StaffCrmLink.objects.get(user=ada).crm_user_id == CRM_ADMIN_ID


def test_linking_needs_a_staff_session_and_a_post(client, crm_client):
    assert client.post("/admin/oauth/link/")["Location"].startswith("/admin/login/")
    assert client.get("/admin/oauth/link/").status_code == 405
    assert not StaffCrmLink.objects.exists()


def test_one_crm_user_links_to_one_staff_account(client, crm_client, ada):
    bob = get_user_model().objects.create_user("bob", is_staff=True)
    StaffCrmLink.objects.create(user=ada, crm_user_id=CRM_ADMIN_ID)
    client.force_login(bob)
    response = link_at_the_crm(client, login="admin")
    assert response["Location"] == MY_SIGN_IN
    assert not StaffCrmLink.objects.filter(user=bob).exists()
    assert StaffCrmLink.objects.get(crm_user_id=CRM_ADMIN_ID).user == ada


def test_a_link_finished_in_another_session_is_refused(client, crm_client, ada):
    """A link started by ada cannot be finished by whoever holds the session later."""
    bob = get_user_model().objects.create_user("bob", is_staff=True)
    client.force_login(ada)
    to_the_crm = client.post("/admin/oauth/link/")
    pending = client.session["staff_oauth_pending"]
    client.force_login(bob)  # a new session: carry the pending link over by hand
    session = client.session
    session["staff_oauth_pending"] = pending
    session.save()
    through_the_crm(client, to_the_crm, login="admin")
    assert not StaffCrmLink.objects.exists()


# --- The flow itself


def test_a_forged_state_is_refused(client, crm_client, ada):
    StaffCrmLink.objects.create(user=ada, crm_user_id=CRM_ADMIN_ID)
    client.get("/admin/oauth/start/")
    response = client.get("/admin/oauth/callback/", {"code": "anything", "state": "forged"})
    assert response["Location"] == "/admin/login/"
    assert signed_in_user_id(client) is None


def test_a_code_the_crm_refuses_is_refused(client, crm_client, ada):
    StaffCrmLink.objects.create(user=ada, crm_user_id=CRM_ADMIN_ID)
    client.get("/admin/oauth/start/")
    state = client.session["staff_oauth_pending"]["state"]
    response = client.get("/admin/oauth/callback/", {"code": "not-a-code", "state": state})
    assert response.status_code == 302 and response["Location"] == "/admin/login/"
    assert signed_in_user_id(client) is None


def test_next_may_only_point_into_the_admin(client, crm_client, ada):
    StaffCrmLink.objects.create(user=ada, crm_user_id=CRM_ADMIN_ID)
    response = sign_in_at_the_crm(client, next_url="https://evil.example/")
    assert response["Location"] == "/admin/"


def test_the_admin_login_page_offers_it_when_switched_on(client, settings):
    settings.STAFF_ONECRM_SIGNIN = True
    page = client.get("/admin/login/?next=/admin/").content.decode()
    assert 'href="/admin/oauth/start/?next=/admin/"' in page


# --- Off by default


def test_it_is_off_by_default(client, ada):
    from django.conf import settings

    assert settings.STAFF_ONECRM_SIGNIN is False
    assert client.get("/admin/oauth/start/").status_code == 404
    assert client.get("/admin/oauth/callback/", {"code": "x", "state": "y"}).status_code == 404
    client.force_login(ada)
    assert client.post("/admin/oauth/link/").status_code == 404
    page = client.get(MY_SIGN_IN).content.decode()
    assert "Link my 1CRM user" not in page and "switched off" in page


def test_the_admin_login_page_offers_no_crm_button_when_off(client):
    page = client.get("/admin/login/?next=/admin/").content.decode()
    assert "/admin/oauth/" not in page and "1CRM" not in page


def test_with_it_off_a_linked_crm_user_gets_no_session(client, crm_client, ada, settings):
    StaffCrmLink.objects.create(user=ada, crm_user_id=CRM_ADMIN_ID)
    to_the_crm = client.get("/admin/oauth/start/")
    settings.STAFF_ONECRM_SIGNIN = False  # switched off while the browser is at the CRM
    response = through_the_crm(client, to_the_crm, login="admin")
    assert response.status_code == 404
    assert signed_in_user_id(client) is None


# --- Whichever credential the portal itself uses (Basic or the OAuth staff client)


@pytest.fixture(params=["oauth", "basic"])
def portal_credential(request, crm_client, settings):
    """Staff sign-in must not depend on how the portal's own credential is configured."""
    if request.param == "basic":
        crm_client.control("POST", "switches", json={"basic_auth": True})
        settings.ONECRM_BASIC_USERNAME = "admin"
        settings.ONECRM_BASIC_PASSWORD = DEMO_PASSWORD
    return request.param


def crm_code(client) -> tuple[str, str]:
    """A CRM user's authorization code and PKCE verifier, as the callback receives them."""
    start = client.get("/admin/oauth/start/")
    answer = httpx.post(
        start["Location"],
        data={"login": "admin", "password": DEMO_PASSWORD},
        follow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:300]
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    return code, client.session["staff_oauth_pending"]["verifier"]


def test_staff_sign_in_works_whichever_portal_credential(client, portal_credential, ada):
    StaffCrmLink.objects.create(user=ada, crm_user_id=CRM_ADMIN_ID)
    response = sign_in_at_the_crm(client)
    assert response["Location"] == "/admin/portal/"
    assert signed_in_user_id(client) == str(ada.pk)


async def test_the_gateways_staff_sign_in_calls(client, portal_credential):
    from asgiref.sync import sync_to_async

    from crm_gateway import ReauthenticationRequired, exchange_user_authorization_code, user_me

    code, verifier = await sync_to_async(crm_code)(client)
    callback = "http://testserver/admin/oauth/callback/"
    tokens = await exchange_user_authorization_code(code, callback, verifier)
    identity = await user_me(tokens)
    assert identity.kind == "Users" and identity.record_id == CRM_ADMIN_ID
    assert identity.email == CRM_ADMIN_EMAIL
    # A code is used once; a wrong verifier is refused (PKCE).
    with pytest.raises(ReauthenticationRequired):
        await exchange_user_authorization_code(code, callback, verifier)
    code, _verifier = await sync_to_async(crm_code)(client)
    with pytest.raises(ReauthenticationRequired):
        await exchange_user_authorization_code(code, callback, "not-the-verifier" * 3)
