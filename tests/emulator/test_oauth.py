"""OAuth 2.0 flows for contacts and users, /portal/auth, and what each token reaches."""

import re
import time

import httpx2 as httpx
import jwt
import pytest

from tests.emulator.conftest import CALLBACK, CLIENT_ID, CLIENT_SECRET, PASSWORD, Api, pkce_pair
from tests.emulator.conftest import query_of as qs


def authorize(api: Api, realm: str, login: str, password: str = PASSWORD, **params):
    """Drive the sign-in page like a browser; return the redirect (or the page)."""
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": CALLBACK, **params}
    page = api.get(f"/auth/{realm}/authorize", params=params)
    assert page.status_code == 200, page.text
    assert page.headers["Content-Type"].startswith("text/html")
    assert '<form method="post"' in page.text
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text))
    return api.call(
        "POST",
        f"/auth/{realm}/authorize",
        params=params,
        data={**hidden, "login": login, "password": password},
    )


def exchange(api: Api, realm: str, code: str, **extra) -> httpx.Response:
    body = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code": code,
        "redirect_uri": CALLBACK,
        **extra,
    }
    return api.call("POST", f"/auth/{realm}/access_token", json=body)


def contact_email(demo) -> str:
    return next(c for c in demo.contacts if c["primary_account_id"])["email1"]


def test_contact_code_flow_with_state_and_pkce(api: Api, demo):
    verifier, challenge = pkce_pair()
    email = contact_email(demo)
    redirect = authorize(
        api,
        "contact",
        email,
        state="xyz/=+ state",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    assert location.startswith(CALLBACK)
    query = qs(location)
    assert query["state"] == "xyz/=+ state"
    tokens = exchange(api, "contact", query["code"], code_verifier=verifier).json()
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["sub"].startswith("Contacts:") and claims["scopes"] == ["profile"]
    me = api.ok("GET", "/me", tokens["access_token"])
    assert me["email"] == email and me["id"] == claims["sub"]


def test_user_code_flow_signs_in_a_user(api: Api):
    redirect = authorize(api, "user", "admin")
    code = qs(redirect.headers["Location"])["code"]
    tokens = exchange(api, "user", code).json()
    assert api.ok("GET", "/me", tokens["access_token"])["id"] == "Users:1"


def test_wrong_password_shows_the_page_again(api: Api, demo):
    response = authorize(api, "contact", contact_email(demo), password="wrong")
    assert response.status_code == 401 and "Wrong e-mail or password" in response.text


def test_pkce_verifier_is_checked(api: Api, demo):
    _, challenge = pkce_pair()
    redirect = authorize(
        api, "contact", contact_email(demo), code_challenge=challenge, code_challenge_method="S256"
    )
    code = qs(redirect.headers["Location"])["code"]
    assert exchange(api, "contact", code).json()["error"] == "invalid_grant"
    redirect = authorize(
        api, "contact", contact_email(demo), code_challenge=challenge, code_challenge_method="S256"
    )
    code = qs(redirect.headers["Location"])["code"]
    wrong = exchange(api, "contact", code, code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_plain_pkce_is_refused(api: Api, demo):
    redirect = api.get(
        "/auth/contact/authorize",
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": CALLBACK,
            "code_challenge": "a" * 43,
            "code_challenge_method": "plain",
        },
    )
    assert redirect.status_code == 302
    assert qs(redirect.headers["Location"])["error"] == "invalid_request"


def test_a_code_works_once(api: Api, demo):
    code = qs(authorize(api, "contact", contact_email(demo)).headers["Location"])["code"]
    first = exchange(api, "contact", code)
    assert first.status_code == 200
    again = exchange(api, "contact", code)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant" and again.json()["error_description"]
    # Reusing the code revoked the refresh token it produced.
    refresh = api.call(
        "POST",
        "/auth/contact/access_token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": first.json()["refresh_token"],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert refresh.json()["error"] == "invalid_grant"


def test_code_redirect_uri_must_match(api: Api, demo):
    code = qs(authorize(api, "contact", contact_email(demo)).headers["Location"])["code"]
    other = exchange(api, "contact", code, redirect_uri="http://127.0.0.1:9/login/oauth/callback/")
    assert other.json()["error"] == "invalid_grant"


def test_a_code_from_the_contact_endpoint_does_not_work_for_users(api: Api, demo):
    code = qs(authorize(api, "contact", contact_email(demo)).headers["Location"])["code"]
    assert exchange(api, "user", code).json()["error"] == "invalid_grant"


def test_unregistered_redirect_uri_is_an_error_page_not_a_redirect(api: Api):
    response = api.get(
        "/auth/contact/authorize",
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": "https://evil.example/callback",
        },
    )
    assert response.status_code == 400 and "redirect_uri" in response.text
    unknown = api.get(
        "/auth/contact/authorize", params={"response_type": "code", "client_id": "nobody"}
    )
    assert unknown.status_code == 400


def test_demo_portal_accepts_any_loopback_callback_port(api: Api, demo):
    callback = "http://127.0.0.1:54321/login/oauth/callback/"
    redirect = authorize(api, "contact", contact_email(demo), redirect_uri=callback)
    assert redirect.headers["Location"].startswith(callback + "?code=")
    wrong_path = "http://127.0.0.1:54321/elsewhere/"
    page = api.get(
        "/auth/contact/authorize",
        params={"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": wrong_path},
    )
    assert page.status_code == 400


def test_registered_clients_through_the_control_api(api: Api, demo):
    callback = "http://127.0.0.1:40000/cb"
    api.server.control(
        "POST",
        "clients",
        json={"client_id": "test-client", "client_secret": "s3cret", "redirect_uris": [callback]},
    )
    redirect = authorize(
        api, "contact", contact_email(demo), client_id="test-client", redirect_uri=callback
    )
    code = qs(redirect.headers["Location"])["code"]
    tokens = exchange(
        api, "contact", code, client_id="test-client", client_secret="s3cret", redirect_uri=callback
    )
    assert tokens.status_code == 200
    listed = api.server.control("GET", "clients").json()["clients"]
    assert any(c["client_id"] == "test-client" for c in listed)


def test_response_type_token_is_refused_with_a_redirect(api: Api):
    response = api.get(
        "/auth/contact/authorize",
        params={
            "response_type": "token",
            "client_id": CLIENT_ID,
            "redirect_uri": CALLBACK,
            "state": "s",
        },
    )
    assert response.status_code == 302
    query = qs(response.headers["Location"])
    assert query["error"] == "unsupported_response_type" and query["state"] == "s"


def test_refresh_tokens_rotate_and_reuse_is_rejected(api: Api, demo):
    first = api.token(
        "contact", grant_type="password", username=contact_email(demo), password=PASSWORD
    )
    second = api.token("contact", grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    reuse = api.call(
        "POST",
        "/auth/contact/access_token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    # Reuse revokes the chain: the rotated token no longer works either.
    chained = api.call(
        "POST",
        "/auth/contact/access_token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": second["refresh_token"],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert chained.json()["error"] == "invalid_grant"


def test_token_endpoint_accepts_form_bodies_and_basic_client_auth(api: Api):
    response = api.call(
        "POST",
        "/auth/user/access_token",
        data={"grant_type": "password", "username": "sally", "password": PASSWORD},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.status_code == 200 and response.json()["access_token"]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (
            {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "x"},
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
            401,
            "invalid_client",
        ),
        (
            {
                "grant_type": "password",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "username": "admin",
                "password": "wrong",
            },
            400,
            "invalid_grant",
        ),
        (
            {"grant_type": "magic", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
            400,
            "unsupported_grant_type",
        ),
        ({"client_id": CLIENT_ID}, 400, "invalid_request"),
        (
            {
                "grant_type": "refresh_token",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "refresh_token": "made-up",
            },
            400,
            "invalid_grant",
        ),
    ],
)
def test_token_errors_follow_rfc_6749(api: Api, body, status, error):
    response = api.call("POST", "/auth/user/access_token", json=body)
    assert response.status_code == status
    assert response.json()["error"] == error and response.json()["error_description"]


def test_client_credentials_has_no_refresh_token(api: Api):
    assert "refresh_token" not in api.token(grant_type="client_credentials")


def test_contact_oauth_token_reaches_only_me_by_default(api: Api, demo):
    token = api.contact_oauth(contact_email(demo))
    assert api.ok("GET", "/me", token)["id"].startswith("Contacts:")
    body = api.error(api.get("/data/Invoice", token), 403)
    assert "profile" in body["message"]
    api.server.control("POST", "switches", json={"contact_token_reads_data": True})
    records = api.ok("GET", "/data/Invoice", token)["records"]
    assert records, "the switch lets the contact's token read its own data"


def test_portal_auth_needs_the_staff_credential(api: Api, demo):
    contact = next(c for c in demo.contacts if c["primary_account_id"])
    minted = api.ok("POST", "/portal/auth", api.staff(), json={"contact_id": contact["id"]})
    assert minted["token_type"] == "Bearer" and minted["expires_in"] > 0
    claims = jwt.decode(minted["access_token"], options={"verify_signature": False})
    assert claims["sub"] == f"Contacts:{contact['id']}"
    api.error(
        api.call("POST", "/portal/auth", api.user("admin"), json={"contact_id": contact["id"]}), 403
    )
    api.error(
        api.call(
            "POST", "/portal/auth", minted["access_token"], json={"contact_id": contact["id"]}
        ),
        403,
    )
    api.error(api.call("POST", "/portal/auth", json={"contact_id": contact["id"]}), 401)
    api.error(api.call("POST", "/portal/auth", api.staff(), json={"contact_id": "nope"}), 404)
    api.error(api.call("POST", "/portal/auth", api.staff(), json={}), 400)


def test_access_token_ttl_switch_and_expiry(api: Api):
    api.server.control("POST", "switches", json={"access_token_ttl": 1})
    tokens = api.token(grant_type="client_credentials")
    assert tokens["expires_in"] == 1
    time.sleep(1.2)
    body = api.error(api.get("/data/Account", tokens["access_token"]), 401)
    assert "expired" in body["message"]


def test_user_token_without_read_scope_is_403(api: Api):
    token = api.token(grant_type="password", username="admin", password=PASSWORD, scope="profile")[
        "access_token"
    ]
    assert api.ok("GET", "/me", token)["id"] == "Users:1"
    api.error(api.get("/data/Account", token), 403)


def test_non_admin_user_may_read_but_not_delete(api: Api):
    sally = api.user("sally")
    assert api.ok("GET", "/me", sally)["role"] != "admin"
    case = api.ok("POST", "/data/aCase", sally, json={"data": {"name": "Sally's case"}})
    api.error(api.call("DELETE", f"/data/aCase/{case['id']}", sally), 403)
    api.ok("DELETE", f"/data/aCase/{case['id']}", api.user("admin"))


def test_concurrent_refreshes_of_one_token_let_exactly_one_win(api: Api, demo):
    from concurrent.futures import ThreadPoolExecutor

    first = api.token(
        "contact", grant_type="password", username=contact_email(demo), password=PASSWORD
    )
    body = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }

    def refresh(_: int) -> int:
        return httpx.post(f"{api.url}/auth/contact/access_token", json=body, timeout=10).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(refresh, range(6)))
    assert statuses == [200, 400, 400, 400, 400, 400]


def test_sign_in_page_escapes_what_it_echoes(api: Api):
    evil = '"><script>alert(1)</script>'
    page = api.get(
        "/auth/contact/authorize",
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": CALLBACK,
            "state": evil,
        },
    )
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text
    assert page.headers["Cache-Control"] == "no-store"
