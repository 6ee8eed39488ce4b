"""Hostile input: path traversal, NUL, CRLF, over-long and non-UTF-8 values, arrays where
scalars belong, filters aimed at widening the scope, full URLs in `next`, forged hosts.

Every answer is a clear 400 or 404 page (or the page itself, the oddity ignored), never
a 500 (the test client re-raises any exception a view lets through), and no request
reaches the CRM outside the gateway's allow-list or outside contact A's scope, checked on
the emulator's own request log.
"""

from __future__ import annotations

import asyncio
import html
import re
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from crm_gateway import DEFAULT_ALLOWLIST
from portal.models import PortalSettings
from portal.site_settings import forget_portal_settings
from tests.pages.conftest import sign_in
from tests.security.conftest import World, crm_log
from tests.security.test_headers import demo_contact
from tests.signin.crm_signin import authorize_at_crm, query_of, register_test_redirect_uri

pytestmark = pytest.mark.django_db

ID = r"[0-9a-f-]{1,64}"
ALLOWED_CRM_PATHS = re.compile(
    rf"^/(?:auth/(?:contact|user)/access_token|portal/auth|me|meta/locale|data/Currency"
    # The CRM's stage options and filters (metadata, staff credential: portal.crm_stages).
    rf"|meta/fields/(?:Invoice|Quote|Document)"
    rf"|data/(?:Invoice|Quote|Document|Note|Payment|DocumentRevision)"
    rf"(?:/{ID}(?:/(?:payments|notes|invoices|revisions|accounts|contacts))?)?"
    rf"|data/(?:Account|Contact)/{ID}(?:/documents)?"
    rf"|tally/(?:Invoice|Quote)/{ID}|printer/pdf/(?:Invoice|Quote)/{ID}"
    rf"|files/(?:info|download)/(?:Document|Note|DocumentRevision)/{ID})$"
)
LINKED = {
    "documents": "Document",
    "payments": "Payment",
    "notes": "Note",
    "invoices": "Invoice",
    "revisions": "DocumentRevision",
}
LIST_SCOPE = {"Invoice": "billing_account_id", "Quote": "billing_account_id"}


def assert_crm_calls_in_scope(crm, world: World) -> list[dict]:
    """Every CRM call is allow-listed, and every list call is scoped to A's account."""
    log = crm_log(crm)
    for entry in log:
        path, query = entry["path"], parse_qsl(entry["query"], keep_blank_values=True)
        assert ALLOWED_CRM_PATHS.match(path), entry
        assert world.b.account_id not in path and world.b.account_id not in entry["query"]
        parts = path.split("/")
        model = parts[2] if path.startswith("/data/") else ""
        if len(parts) == 5:  # /data/Model/id/link: the fields are the linked model's
            model = LINKED.get(parts[4], "")
        for key, value in query:
            if key.startswith("fields[") and model in DEFAULT_ALLOWLIST.models:
                assert value in DEFAULT_ALLOWLIST.rule(model).fields, entry
            if key == "limit":
                assert 1 <= int(value) <= 200
        if model in LIST_SCOPE and path == f"/data/{model}":
            scope = [v for k, v in query if k == f"filters[{LIST_SCOPE[model]}]"]
            assert scope == [world.a.account_id], entry
        if path.startswith("/data/Account/"):
            assert path.split("/")[3] == world.a.account_id, entry
    return log


@pytest.fixture
def hostile(crm, world, client: Client, settings) -> Client:
    settings.ONECRM_DATA_ACCESS = "portal_auth"
    settings.ONECRM_TIMEOUT = 3.0
    settings.ONECRM_DEADLINE = 5.0
    sign_in(client, crm.api_url, demo_contact(world))
    crm.control("DELETE", "requests")
    return client


def assert_clear_page(response, statuses=(400, 404)) -> None:
    assert response.status_code in statuses, response.status_code
    body = response.content.decode("utf-8", "replace")
    assert "Traceback" not in body and 'File "' not in body
    if response.status_code == 404:
        assert "Page not found" in body
    if response.status_code == 400:
        assert "could not be understood" in body


HOSTILE_IDS = [
    "..",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%2F..%2Fdata%2FAccount",
    "%252e%252e%252f",
    "..;",
    "abc%00def",
    "%00",
    "abc%0d%0aSet-Cookie:%20pwned=1",
    "%0aX-Injected:%201",
    "a" * 5000,
    "0" * 65,
    "%ff%fe%fd",
    "%c0%af",
    "%E2%80%AE",
    "6618A4EF-CF66-43FD-BB0F-6F139D177D80",
    "%27%20OR%201=1%20--",
    "{{7*7}}",
    "${jndi:ldap:%2F%2F127.0.0.1%2Fx}",
    "?fields[]=password",
    "1;DROP",
]
ID_ROUTES = [
    ("GET", "/invoices/{id}/"),
    ("GET", "/invoices/{id}/pdf"),
    ("GET", "/invoices/{own}/attachments/{id}"),
    ("GET", "/quotes/{id}/pdf"),
    ("POST", "/quotes/{id}/decline"),
    ("GET", "/documents/{id}/download"),
]


@pytest.mark.parametrize(("method", "pattern"), ID_ROUTES)
def test_hostile_ids_get_a_clear_404_and_never_reach_the_crm(hostile, crm, world, method, pattern):
    own = world.ids["Invoice"]["own"]
    for hostile_id in HOSTILE_IDS:
        url = pattern.format(id=hostile_id, own=own)
        response = hostile.generic(method, url)
        if "?" in hostile_id and method == "POST":
            # The '?' starts a query: the POST lands on the (GET-only) list, refused as such.
            assert response.status_code == 405
            continue
        assert_clear_page(response)
        assert "pwned" not in str(response.headers) and "X-Injected" not in response.headers
    log = assert_crm_calls_in_scope(crm, world)
    # Only the own invoice of the attachment route was read (then the CRM's stage options,
    # metadata); no hostile id went anywhere.
    assert {e["path"] for e in log} <= {
        f"/data/Invoice/{own}",
        "/auth/user/access_token",
        "/portal/auth",
        "/meta/fields/Invoice",
        "/meta/fields/Quote",
    }


HOSTILE_QUERIES = [
    "filters[billing_account_id]={b_account}",
    "filters[billing_contact_id]={b_contact}",
    "filters[status][]=x",
    "filters[any_email]=%25",
    "status=a&status=b",
    "status[]=overdue",
    "status=overdue&status=paid",
    "sort=__class__",
    "sort=amount;DROP TABLE",
    "sort=billing_account_id",
    "dir=sideways",
    "page=-1",
    "page=0",
    "page=99999999999999999999999",
    "page=1e3",
    "page[]=2",
    "q=%00",
    "q=%ff%fe",
    "q=abc%0d%0adef",
    "q=" + "x" * 5000,
    "q=%27%22%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "from=2020-13-45&to=0000-00-00",
    "from[]=2020-01-01",
    "period=__proto__",
    "fields[]=password&fields[]=billing_account_id",
    "order=billing_account_id",
    "limit=100000&offset=-5",
    "filter_text=x&filters[billing_account_id-operator]=not_empty",
    "next=https://evil.example/",
    "%ff=%fe",
    "a" * 3000 + "=1",
]


@pytest.mark.parametrize("path", ["/invoices/", "/quotes/", "/documents/"])
def test_hostile_list_queries_never_widen_the_scope(hostile, crm, world, path):
    for template in HOSTILE_QUERIES:
        query = template.format(b_account=world.b.account_id, b_contact=world.b.contact_id)
        for headers in ({}, {"HX-Request": "true"}):
            response = hostile.get(f"{path}?{query}", headers=headers)
            if response.status_code != 200:
                assert_clear_page(response, (400,))
            body = response.content.decode()
            assert "<script>alert(1)" not in body
            assert world.b.account_id not in body
    assert_crm_calls_in_scope(crm, world)


EVIL_NEXT = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    "/%2F%2Fevil.example",
    "/\t/evil.example",
    "/login/?next=https://evil.example",
    "http://testserver@evil.example/",
    "data:text/html,<script>alert(1)</script>",
]


def test_next_on_the_sign_in_page_never_leaves_the_portal(client, crm):
    for target in EVIL_NEXT:
        page = client.get("/login/", {"next": target})
        assert page.status_code == 200
        body = page.content.decode()
        assert "javascript:" not in body and "data:text" not in body
        # Whatever `next` the page carries on (a link, a hidden field) is a local path.
        carried = [unquote(html.unescape(v)) for v in re.findall(r'next=([^"&]*)', body)]
        carried += [html.unescape(v) for v in re.findall(r'name="next" value="([^"]*)"', body)]
        for local in carried:
            value = local
            assert local.startswith("/") and not local.startswith(("//", "/\\")), value
        answer = client.post("/login/email/", {"email": "nobody@example.com", "next": target})
        assert answer.status_code in {200, 302, 429}
        assert "evil.example" not in answer.get("Location", "")


def test_next_after_the_oauth_round_trip_is_a_local_path(client, crm, world):
    register_test_redirect_uri(crm)
    for target in EVIL_NEXT[:6]:
        start = client.get("/login/oauth/", {"next": target})
        assert start.status_code == 302
        assert "evil.example" not in start["Location"]
        done = client.get(
            "/login/oauth/callback/", query_of(authorize_at_crm(start["Location"], world.a.email))
        )
        assert done.status_code == 302
        location = urlsplit(done["Location"])
        assert not location.scheme and not location.netloc, done["Location"]
        assert done["Location"].startswith("/") and not done["Location"].startswith("//")


def test_a_forged_host_header_is_a_clear_400(client):
    for host in ["evil.example", "testserver.evil.example", "testserver:80@evil.example"]:
        response = client.get("/login/", headers={"Host": host})
        assert_clear_page(response, (400,))


def test_hx_current_url_from_another_site_is_not_the_retry_link(hostile, crm):
    crm.control("POST", "faults", json={"path": "^/data/Invoice$", "kind": "status", "status": 503})
    response = hostile.get(
        "/invoices/",
        headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example/phish"},
    )
    assert response.status_code in {502, 503}
    assert "evil.example" not in response.content.decode()


def test_raw_non_utf8_bytes_through_asgi_are_a_clear_answer(world):
    """A raw client can send bytes a browser would percent-encode: straight to the ASGI app."""
    from portal.asgi import application

    async def call(raw_path: bytes, query: bytes) -> tuple[int, bytes]:
        sent: list[dict] = []
        requested = False

        async def receive():
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client stays connected until cancelled

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": raw_path.decode("latin-1"),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
        }
        await application(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return start["status"], body

    for raw_path, query in [
        (b"/invoices/\xff\xfe/", b""),
        (b"/login/", b"next=\xff\xfe&x=\xc0\xaf"),
        (b"/login/\x00", b""),
        (b"/invoices/", b"q=\xff" + b"%" * 50),
    ]:
        status, body = asyncio.run(call(raw_path, query))
        assert status in {200, 302, 400, 404}, (raw_path, status)
        assert b"Traceback" not in body


# --- hypothesis: query strings and forms --------------------------------------------------

KEYS = st.sampled_from(
    [
        "q",
        "status",
        "sort",
        "dir",
        "page",
        "from",
        "to",
        "period",
        "filters[status]",
        "filters[billing_account_id]",
        "status[]",
        "fields[]",
        "next",
        "limit",
    ]
) | st.text(min_size=1, max_size=20)
VALUES = st.text(max_size=120) | st.sampled_from(["-1", "0", "1", "2", "1e9", "desc", "asc"])
QUERIES = st.lists(st.tuples(KEYS, VALUES), max_size=6)
FAST = hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FAST
@given(params=QUERIES, path=st.sampled_from(["/invoices/", "/quotes/", "/documents/"]))
def test_any_query_string_is_a_page_or_a_clear_400(hostile, crm, world, params, path):
    response = hostile.get(path, params)
    if response.status_code != 200:
        assert_clear_page(response, (400,))
    assert_crm_calls_in_scope(crm, world)


@FAST
@given(email=st.text(max_size=300), next_url=st.text(max_size=300))
def test_any_sign_in_form_is_answered_plainly(client, crm, email, next_url):
    response = client.post("/login/email/", {"email": email, "next": next_url})
    assert response.status_code in {200, 302, 400, 429}
    location = response.get("Location", "")
    assert not location or (location.startswith("/") and not location.startswith("//"))


@pytest.fixture
def deciding(db):
    PortalSettings.objects.filter(pk=PortalSettings.SINGLETON_ID).update(quotes_can_decide=True)
    forget_portal_settings()
    yield
    forget_portal_settings()


@FAST
@given(reason=st.text(max_size=3000), extra=st.dictionaries(st.text(max_size=10), st.text()))
def test_any_decline_form_on_a_foreign_quote_is_a_404(hostile, crm, world, deciding, reason, extra):
    foreign = world.ids["Quote"]["foreign"]
    response = hostile.post(f"/quotes/{foreign}/decline", {**extra, "reason": reason})
    assert_clear_page(response, (404,))
    writes = [e for e in crm_log(crm) if e["method"] != "GET" and e["path"].startswith("/data/")]
    assert writes == []


def test_state_changes_without_a_csrf_token_or_from_another_origin_are_refused(crm, world):
    """Every POST (quote decisions, sign-out, the e-mail link form) needs the CSRF token;
    a cross-site form post with a stolen-looking cookie gets the clear 403 page."""
    client = Client(enforce_csrf_checks=True)
    sign_in(client, crm.api_url, demo_contact(world))
    crm.control("DELETE", "requests")
    own_quote = world.ids["Quote"]["own"]
    for url, data in [
        (f"/quotes/{own_quote}/accept", {}),
        (f"/quotes/{own_quote}/decline", {"reason": "x"}),
        ("/logout/", {}),
        ("/login/email/", {"email": world.a.email}),
    ]:
        for headers in ({}, {"Origin": "https://evil.example", "Referer": "https://evil.example/"}):
            response = client.post(url, data, headers=headers)
            assert_clear_page(response, (403,))
            assert "You may not open this page" in response.content.decode()
            assert "verification failed" not in response.content.decode()
    writes = [e for e in crm_log(crm) if e["method"] != "GET"]
    assert writes == []
    assert client.get("/").status_code == 200, "still signed in: sign-out needed the token"


def test_unexpected_methods_and_oversized_bodies_are_refused_plainly(hostile, crm, world):
    own_invoice, own_quote = world.ids["Invoice"]["own"], world.ids["Quote"]["own"]
    for method in ["PUT", "PATCH", "DELETE", "TRACE", "PROPFIND"]:
        for url in [
            "/",
            "/invoices/",
            f"/invoices/{own_invoice}/pdf",
            f"/quotes/{own_quote}/accept",
        ]:
            response = hostile.generic(method, url)
            assert response.status_code in {400, 403, 404, 405}, (method, url)
    # Bodies past Django's limits (2.5 MB, 1,000 fields) are a 400, not a worker busy
    # parsing them; quote decisions are on so the form is really read.
    PortalSettings.objects.filter(pk=PortalSettings.SINGLETON_ID).update(quotes_can_decide=True)
    forget_portal_settings()
    try:
        url = f"/quotes/{own_quote}/decline"
        huge = hostile.post(url, {"reason": "x" * (3 * 1024 * 1024)})
        assert_clear_page(huge, (400,))
        many = hostile.post(url, {f"field{i}": "x" for i in range(1500)})
        assert_clear_page(many, (400,))
    finally:
        forget_portal_settings()
    writes = [e for e in crm_log(crm) if e["method"] != "GET" and e["path"].startswith("/data/")]
    assert writes == []
