"""The headers and cookies of an A+ site (Mozilla HTTP Observatory, OWASP ASVS 5.0 V3).

Every HTML answer carries a strict CSP with a fresh nonce that every inline script and
style uses; HSTS for a year in production; nosniff, a strict referrer policy, COOP and
CORP; cookies Secure, HttpOnly (session), SameSite=Lax and __Host- prefixed in production;
downloads as attachments (unless previewed), nosniff, no-store; X-Forwarded-* ignored.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from http.cookies import SimpleCookie
from urllib.parse import unquote

import pytest
from django.test import Client, override_settings

from portal.models import ActivityEvent
from tests.conftest import close_response
from tests.pages.conftest import DemoContact, sign_in
from tests.security.conftest import World, sign_in_via_crm
from tests.signin.crm_signin import CALLBACK, authorize_at_crm, query_of, register_test_redirect_uri
from tests.test_settings import DEV_ONLY, PRODUCTION_ENV, ROOT

pytestmark = pytest.mark.django_db

ANONYMOUS_HTML = ["/login/", "/login/email/", "/no-such-page/", "/admin/login/"]
CONTACT_HTML = ["/", "/invoices/", "/quotes/", "/documents/", "/invoices/?status=overdue"]
NONCE = re.compile(r"'nonce-([A-Za-z0-9+/=_-]{16,})'")


def demo_contact(world: World) -> DemoContact:
    a = world.a
    return DemoContact(a.contact_id, a.account_id, "Contact A", a.email, "Account A")


@pytest.fixture
def contact_client(crm, world, client: Client, settings) -> Client:
    settings.ONECRM_DATA_ACCESS = "portal_auth"
    sign_in(client, crm.api_url, demo_contact(world))
    return client


def csp_directives(value: str) -> dict[str, list[str]]:
    directives = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def assert_strict_csp(response) -> None:
    policy = response["Content-Security-Policy"]
    directives = csp_directives(policy)
    assert directives["default-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    html = response.content.decode()
    tags = re.findall(r"<(?:script|style)\b[^>]*>", html)
    for directive in ("script-src", "style-src"):
        sources = directives[directive]
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"} & set(
            sources
        ), (directive, sources)
        # Django adds the nonce only when the page used it.
        assert not tags or any(s.startswith("'nonce-") for s in sources), directive
    assert "unsafe-" not in policy
    # Every <script>/<style> carries this response's nonce; no inline handlers or style
    # attributes (a strict CSP blocks them: they would be broken, or need unsafe-*).
    nonce = NONCE.search(policy)
    for tag in tags:
        if "<script" in tag and "src=" in tag:
            assert re.search(r'src="/(?!/)', tag), tag  # our own origin only
        assert nonce and f'nonce="{nonce.group(1)}"' in tag, tag
    assert not re.search(r"<[a-z][^>]*\son[a-z]+\s*=", html), "inline event handler"
    assert not re.search(r"<[a-z][^>]*\sstyle\s*=", html), "inline style attribute"
    assert not re.search(r'href\s*=\s*"javascript:', html, re.I)


def assert_common_headers(response) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] in {
        "strict-origin-when-cross-origin",
        "same-origin",
        "strict-origin",
        "no-referrer",
    }
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("url", ANONYMOUS_HTML)
def test_anonymous_html_pages_have_a_strict_csp_and_the_headers(client, url):
    response = client.get(url)
    assert response["Content-Type"].startswith("text/html")
    assert_strict_csp(response)
    assert_common_headers(response)


def test_contact_html_pages_and_fragments_have_a_strict_csp(contact_client):
    nonces = set()
    for url in CONTACT_HTML:
        for headers in ({}, {"HX-Request": "true"}):
            response = contact_client.get(url, headers=headers)
            assert response.status_code == 200, url
            assert response["Content-Type"].startswith("text/html")
            assert_strict_csp(response)
            assert_common_headers(response)
            assert response["Cache-Control"] == "no-store"
            if not headers:
                nonces.add(NONCE.search(response["Content-Security-Policy"]).group(1))
    assert len(nonces) == len(CONTACT_HTML), "a fresh nonce on every page"


def test_error_pages_have_the_headers_too(contact_client, world):
    for url in [f"/invoices/{world.ids['Invoice']['foreign']}/", "/invoices/?page=" + "9" * 900]:
        response = contact_client.get(url)
        assert response.status_code in {400, 404}
        assert_strict_csp(response)
        assert_common_headers(response)


def test_static_files_and_assets_carry_nosniff_and_corp(client):
    for url in ["/static/portal/portal.css", "/static/vendor/htmx/2.0.11/htmx.min.js"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Cross-Origin-Resource-Policy"] == "same-origin"


def test_the_corp_middleware_does_not_override_a_views_choice(rf):
    from django.http import HttpResponse

    from portal.security import CrossOriginResourcePolicyMiddleware

    def view(request):
        response = HttpResponse("logo")
        response["Cross-Origin-Resource-Policy"] = "cross-origin"
        return response

    middleware = CrossOriginResourcePolicyMiddleware(view)
    assert middleware(rf.get("/"))["Cross-Origin-Resource-Policy"] == "cross-origin"
    with override_settings(SECURE_CROSS_ORIGIN_RESOURCE_POLICY=""):
        plain = CrossOriginResourcePolicyMiddleware(lambda r: HttpResponse("x"))(rf.get("/"))
        assert "Cross-Origin-Resource-Policy" not in plain


# --- production settings, read in a subprocess (DEBUG off, real environment) -------------

PRODUCTION_SETTINGS = [
    "DEBUG",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_NAME",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_DOMAIN",
    "CSRF_COOKIE_DOMAIN",
    "SESSION_COOKIE_PATH",
    "CSRF_COOKIE_PATH",
]


def production_settings(extra_env: dict[str, str] | None = None) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in {*DEV_ONLY, *PRODUCTION_ENV}}
    base.pop("SECURE_PROXY_SSL_HEADER", None)
    base.pop("SECURE_HSTS_PRELOAD", None)
    code = (
        "import json; from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n, None) for n in {PRODUCTION_SETTINGS!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={
            **base,
            **PRODUCTION_ENV,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            **(extra_env or {}),
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def production() -> dict:
    return production_settings()


def test_production_settings_are_those_of_an_a_plus_site(production):
    assert production["DEBUG"] is False
    assert production["SECURE_HSTS_SECONDS"] >= 31536000
    assert production["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert production["CSRF_COOKIE_NAME"].startswith("__Host-")
    assert production["SESSION_COOKIE_SECURE"] and production["CSRF_COOKIE_SECURE"]
    assert production["SESSION_COOKIE_HTTPONLY"] is True
    assert production["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert production["CSRF_COOKIE_SAMESITE"] == "Lax"
    # __Host- cookies must have Path=/ and no Domain, or browsers drop them.
    assert production["SESSION_COOKIE_DOMAIN"] is None and production["CSRF_COOKIE_DOMAIN"] is None
    assert production["SESSION_COOKIE_PATH"] == "/" and production["CSRF_COOKIE_PATH"] == "/"
    # X-Forwarded-Proto is not trusted unless the operator says a proxy sets it.
    assert production["SECURE_PROXY_SSL_HEADER"] is None
    assert production["SECURE_HSTS_PRELOAD"] is False


def test_hsts_preload_is_one_setting_away():
    preload = production_settings({"SECURE_HSTS_PRELOAD": "1"})
    assert preload["SECURE_HSTS_PRELOAD"] is True
    assert preload["SECURE_HSTS_SECONDS"] >= 31536000


def production_overrides(production: dict) -> dict:
    keys = [k for k in PRODUCTION_SETTINGS if k.startswith(("SECURE_HSTS", "SESSION_", "CSRF_"))]
    return {k: production[k] for k in keys}


def set_cookies(response) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for morsel in response.cookies.values():
        jar[morsel.key] = morsel
    return jar


def test_hsts_and_cookies_over_https_with_production_settings(client, crm, production):
    with override_settings(**production_overrides(production)):
        page = client.get("/login/", secure=True)
        assert page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        start = client.get("/login/oauth/", {"next": "/"}, secure=True)
        assert start.status_code == 302
        cookies = {**set_cookies(page), **set_cookies(start)}
        session = cookies[production["SESSION_COOKIE_NAME"]]
        csrf = cookies[production["CSRF_COOKIE_NAME"]]
        for cookie in (session, csrf):
            assert cookie.key.startswith("__Host-")
            assert cookie["secure"] is True
            assert cookie["path"] == "/"
            assert not cookie["domain"]
            assert cookie["samesite"] == "Lax"
        assert session["httponly"] is True
        # No token, state or verifier in any cookie: they stay in the server-side session.
        assert len(session.value) <= 64 and "." not in session.value


def test_no_hsts_over_plain_http(client):
    with override_settings(SECURE_HSTS_SECONDS=31536000):
        assert "Strict-Transport-Security" not in client.get("/login/")


# --- SameSite: Lax, because Strict would break the return from the CRM's sign-in page ----


def browser_sends_cookie(samesite: str, *, cross_site: bool, top_level: bool, method: str) -> bool:
    """RFC 6265bis 5.8.3: a SameSite cookie on a cross-site request."""
    if not cross_site:
        return True
    if samesite.lower() == "strict":
        return False
    if samesite.lower() == "lax":
        return top_level and method in {"GET", "HEAD"}
    return True  # None (needs Secure)


def test_samesite_lax_is_needed_for_the_oauth_return(client, crm, world, settings):
    """The CRM redirects the browser to /login/oauth/callback/: a top-level cross-site GET.
    The state and PKCE verifier are in the session, so the session cookie must go with it:
    Lax sends it, Strict does not, and without it the sign-in fails."""
    register_test_redirect_uri(crm)
    samesite = settings.SESSION_COOKIE_SAMESITE
    assert samesite == "Lax"
    callback = {"cross_site": True, "top_level": True, "method": "GET"}
    assert browser_sends_cookie(samesite, **callback)
    assert not browser_sends_cookie("Strict", **callback)
    # A cross-site POST (CSRF) does not carry it.
    assert not browser_sends_cookie(samesite, cross_site=True, top_level=True, method="POST")

    # What Strict would do: the callback arrives without the session cookie -> refused.
    start = client.get("/login/oauth/", {"next": "/"})
    back = authorize_at_crm(start["Location"], world.a.email)
    assert back.startswith(CALLBACK)
    cookieless = Client()
    refused = cookieless.get("/login/oauth/callback/", query_of(back))
    assert refused.status_code == 400
    assert "portal_contact" not in str(cookieless.session.items())

    # What Lax does: the cookie comes along and the contact is signed in.
    start = client.get("/login/oauth/", {"next": "/"})
    back = authorize_at_crm(start["Location"], world.a.email)
    done = client.get("/login/oauth/callback/", query_of(back))
    assert done.status_code == 302 and done["Location"] == "/"


# --- downloads ----------------------------------------------------------------------------


async def streamed_response(client, url: str):
    response = await client.get(url)
    body = b"".join([chunk async for chunk in response.streaming_content])
    return response, body


@pytest.mark.django_db(transaction=True)
async def test_downloads_are_attachments_nosniff_no_store(async_client, crm, world, settings):
    settings.ONECRM_DATA_ACCESS = "portal_auth"
    register_test_redirect_uri(crm)
    await sign_in_via_crm(async_client, crm, world.a.email)
    document = world.ids["Document"]["own"]
    invoice = world.ids["Invoice"]["own"]
    invoice_id, note_id = world.attachments["own"]
    cases = {
        f"/documents/{document}/download": "attachment",
        f"/invoices/{invoice}/pdf?download=1": "attachment",
        f"/invoices/{invoice_id}/attachments/{note_id}": "attachment",
        f"/invoices/{invoice}/pdf": "inline",  # the preview
    }
    for url, disposition in cases.items():
        response, body = await streamed_response(async_client, url)
        assert response.status_code == 200, url
        assert body
        assert response["Content-Disposition"].startswith(f"{disposition}; filename="), url
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Cache-Control"] == "no-store"
        assert response["Cross-Origin-Resource-Policy"] == "same-origin"
        if disposition == "attachment":
            assert csp_directives(response["Content-Security-Policy"]).get("sandbox") == []
    # ?inline=1 previews only harmless types; anything else is still an attachment.
    response, _ = await streamed_response(async_client, f"/documents/{document}/download?inline=1")
    media = response["Content-Type"]
    expected = "inline" if media in {"application/pdf", "image/png", "image/jpeg"} else "attachment"
    assert response["Content-Disposition"].startswith(expected)


# --- X-Forwarded-* from clients are not trusted ------------------------------------------


def test_x_forwarded_proto_does_not_make_a_request_secure(client, settings):
    assert getattr(settings, "SECURE_PROXY_SSL_HEADER", None) is None
    with override_settings(SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=31536000):
        response = client.get(
            "/login/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on"}
        )
        # Still plain HTTP to Django: redirected to HTTPS, and no HSTS on plain HTTP.
        assert response.status_code == 301
        assert response["Location"].startswith("https://")
        assert "Strict-Transport-Security" not in response


def test_x_forwarded_for_does_not_change_the_recorded_ip(client, crm, world):
    register_test_redirect_uri(crm)
    spoofed = {
        "X-Forwarded-For": "203.0.113.66",
        "X-Real-IP": "203.0.113.66",
        "Forwarded": "for=203.0.113.66",
    }
    start = client.get("/login/oauth/", {"next": "/"}, headers=spoofed)
    back = authorize_at_crm(start["Location"], world.a.email)
    done = client.get("/login/oauth/callback/", query_of(back), headers=spoofed)
    assert done.status_code == 302
    event = ActivityEvent.objects.filter(kind="sign_in", contact_id=world.a.contact_id).latest("id")
    assert event.ip == "127.0.0.1"
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        # X-Forwarded-Host is not used to build absolute URLs either.
        response = client.get(
            "/login/oauth/", {"next": "/"}, headers={"X-Forwarded-Host": "evil.example"}
        )
        assert "evil.example" not in response["Location"]


# --- a hostile file from the CRM ----------------------------------------------------------

NASTY_NAME = 'inv\r\noice"; filename=evil.exe <script>\u202egpj.html'


def crm_document(crm, account_id: str, name: str, mimetype: str, content: bytes) -> str:
    """A document with a hostile name and type, linked to the account, as staff could
    upload it into the CRM (the portal must not trust the CRM's names and types)."""
    import base64

    import httpx2 as httpx

    from tests.pages.conftest import staff_token

    auth = {"Authorization": f"Bearer {staff_token(crm.api_url)}"}
    upload = httpx.post(
        f"{crm.api_url}/files/upload/base64",
        headers=auth,
        timeout=10,
        json={"filename": name, "mimetype": mimetype, "data": base64.b64encode(content).decode()},
    )
    upload.raise_for_status()
    created = httpx.post(
        f"{crm.api_url}/data/Document",
        headers=auth,
        timeout=10,
        json={"data": {"document_name": "Hostile <b>file</b>", "filename": upload.json()["id"]}},
    )
    created.raise_for_status()
    document_id = created.json()["id"]
    link = httpx.post(
        f"{crm.api_url}/data/Account/{account_id}/documents",
        headers=auth,
        timeout=10,
        json={"records": [document_id]},
    )
    link.raise_for_status()
    return document_id


@pytest.fixture
def delete_afterwards(crm):
    """Documents this test adds to the shared emulator are removed again."""
    import httpx2 as httpx

    from tests.pages.conftest import staff_token

    created: list[str] = []
    yield created
    auth = {"Authorization": f"Bearer {staff_token(crm.api_url)}"}
    for document_id in created:
        reply = httpx.delete(f"{crm.api_url}/data/Document/{document_id}", headers=auth, timeout=10)
        assert reply.status_code == 200, reply.text


def test_a_hostile_file_name_and_type_from_the_crm_stay_inert(
    contact_client, crm, world, delete_afterwards
):
    document = crm_document(
        crm, world.a.account_id, NASTY_NAME, "text/html", b"<script>alert(document.cookie)</script>"
    )
    delete_afterwards.append(document)
    page = contact_client.get(f"/documents/{document}/")
    assert page.status_code == 200
    assert "<script>alert" not in page.content.decode()
    assert "<b>file</b>" not in page.content.decode()
    for url in [f"/documents/{document}/download", f"/documents/{document}/download?inline=1"]:
        response = contact_client.get(url)
        assert response.status_code == 200
        close_response(response)
        disposition = response["Content-Disposition"]
        assert disposition.startswith("attachment; filename=")  # never inline HTML
        assert "\r" not in disposition and "\n" not in disposition
        # One quoted ASCII fallback, one percent-encoded exact name: nothing to break out of.
        assert re.fullmatch(
            r"attachment; filename=\"[A-Za-z0-9._ ()+-]*\"; filename\*=UTF-8''[A-Za-z0-9%._~-]+",
            disposition,
        ), disposition
        assert "\u202e" not in unquote(disposition) and "<" not in unquote(disposition)
        assert "sandbox" in csp_directives(response["Content-Security-Policy"])
        assert response["X-Content-Type-Options"] == "nosniff"
