"""Ids from URLs are never trusted: another account's record answers exactly like a record
that does not exist (same 404 page, byte for byte once per-response randomness is
removed), and no call with the portal's staff credential ever names that id."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from portal.models import PortalSettings
from portal.site_settings import forget_portal_settings
from tests.pages.conftest import crm_requests, sign_in, stable_bytes

pytestmark = pytest.mark.django_db

GET_URLS = [
    ("Invoice", "/invoices/{id}/"),
    ("Invoice", "/invoices/{id}/pdf"),
    ("Invoice", "/invoices/{id}/pdf?download=1"),
    ("Invoice", "/invoices/{id}/attachments/{id}"),
    ("Quote", "/quotes/{id}/"),
    ("Quote", "/quotes/{id}/pdf"),
    ("Document", "/documents/{id}/"),
    ("Document", "/documents/{id}/download"),
    ("Document", "/documents/{id}/download?inline=1"),
]
POST_URLS = [("Quote", "/quotes/{id}/accept"), ("Quote", "/quotes/{id}/decline")]


@pytest.fixture
def deciding(db):
    PortalSettings.objects.filter(pk=PortalSettings.SINGLETON_ID).update(quotes_can_decide=True)
    forget_portal_settings()
    yield
    forget_portal_settings()


def fetch(client: Client, method: str, url: str):
    if method == "POST":
        return client.post(url, {"reason": "too expensive"})
    return client.get(url)


def staff_calls_naming(crm, record_id: str) -> list[dict]:
    return [
        entry
        for entry in crm_requests(crm)
        if entry["credential"] in {"staff", "user", "basic"}
        and (record_id in entry["path"] or record_id in entry["query"])
    ]


@pytest.mark.parametrize("data_access", ["portal_auth", "contact_token"])
@pytest.mark.parametrize(("model", "pattern", "method"),
                         [(m, p, "GET") for m, p in GET_URLS]
                         + [(m, p, "POST") for m, p in POST_URLS])  # fmt: skip
def test_another_accounts_id_is_a_plain_404(
    crm_pages, demo, client, deciding, data_access, model, pattern, method
):
    if data_access == "contact_token":
        crm_pages.control("POST", "switches", json={"contact_token_reads_data": True})
    sign_in(client, crm_pages.api_url, demo.main, data_access)
    foreign = demo.foreign[model]
    missing = str(uuid.uuid4())
    crm_pages.control("DELETE", "requests")

    theirs = fetch(client, method, pattern.format(id=foreign))
    nothing = fetch(client, method, pattern.format(id=missing))
    malformed = fetch(client, method, pattern.format(id="not-an-id%21"))

    assert theirs.status_code == nothing.status_code == malformed.status_code == 404
    assert stable_bytes(theirs.content) == stable_bytes(nothing.content)
    assert stable_bytes(theirs.content) == stable_bytes(malformed.content)
    assert theirs["Content-Type"] == nothing["Content-Type"]
    assert staff_calls_naming(crm_pages, foreign) == []
    # Tokens may be fetched (/auth, /portal/auth); no record is ever written.
    writes = [e for e in crm_requests(crm_pages) if e["method"] not in {"GET", "HEAD"}]
    assert [e for e in writes if e["path"].startswith("/data/")] == []


@pytest.mark.parametrize(("model", "pattern"), GET_URLS)
def test_the_portal_checks_even_when_the_crm_leaks(crm_pages, demo, client, model, pattern):
    """With the CRM's own record scoping off, the gateway's check alone keeps it a 404."""
    crm_pages.control("POST", "switches", json={"leaky": True})
    sign_in(client, crm_pages.api_url, demo.main)
    foreign = demo.foreign[model]
    crm_pages.control("DELETE", "requests")
    response = client.get(pattern.format(id=foreign))
    assert response.status_code == 404
    assert staff_calls_naming(crm_pages, foreign) == []


def test_staff_mode_never_fetches_bytes_of_another_account(crm_pages, demo, client):
    sign_in(client, crm_pages.api_url, demo.main, "staff")
    crm_pages.control("DELETE", "requests")
    for model, pattern in GET_URLS:
        foreign = demo.foreign[model]
        assert client.get(pattern.format(id=foreign)).status_code == 404
        byte_calls = [
            e
            for e in staff_calls_naming(crm_pages, foreign)
            if e["path"].startswith(("/files/", "/printer/", "/tally/"))
        ]
        assert byte_calls == []


def test_pages_need_a_signed_in_contact(client, db):
    urls = ["/", "/invoices/", "/quotes/", "/documents/", f"/invoices/{uuid.uuid4()}/pdf",
            "/statement/", "/statement.pdf?period=last_year", "/statement.csv"]  # fmt: skip
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_htmx_without_a_session_is_sent_to_sign_in(client, db):
    response = client.get("/invoices/?page=2", HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith("/login/")
