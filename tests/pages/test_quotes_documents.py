"""Quotes (list, detail, PDF, accept/decline) and documents (list, detail, downloads)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from portal.models import ActivityEvent, PortalSettings
from portal.site_settings import forget_portal_settings
from tests.pages.conftest import (
    counted_calls,
    crm_requests,
    new_awaiting_quote,
    sign_in,
    staff_get,
    staff_token,
    streamed,
)

pytestmark = pytest.mark.django_db

QUOTE_LINK = re.compile(r'<a href="/quotes/([0-9a-f-]+)/">')
DOC_LINK = re.compile(r'<th scope="row" data-label="Name"><a href="/documents/([0-9a-f-]+)/">')


def staff_records(crm, path: str, fields: list[str], **filters: str) -> list[dict]:
    params = [("fields[]", f) for f in fields] + [("limit", "200")]
    params += [(f"filters[{k}]", v) for k, v in filters.items()]
    return staff_get(crm.api_url, staff_token(crm.api_url), path, params)["records"]


def awaiting_quotes(crm, account_id: str) -> list[dict]:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    quotes = staff_records(
        crm, "/data/Quote", ["quote_stage", "valid_until", "full_number"],
        billing_account_id=account_id,
    )  # fmt: skip
    return [
        q
        for q in quotes
        if crm.demo_value("Quote", "quote_stage", q.get("quote_stage"))
        in {"Delivered", "Negotiation"}
        and (q.get("valid_until") or "") >= today
    ]


@pytest.fixture
def fresh_quote(crm_pages, demo) -> dict:
    return new_awaiting_quote(crm_pages, demo.main.account_id, demo.main.contact_id)


@pytest.fixture
def deciding(db):
    PortalSettings.objects.filter(pk=PortalSettings.SINGLETON_ID).update(quotes_can_decide=True)
    forget_portal_settings()
    yield
    forget_portal_settings()


def test_quote_list_and_awaiting_filter(contact_client, crm_pages, demo):
    response = contact_client.get("/quotes/")
    assert response.status_code == 200
    assert QUOTE_LINK.findall(response.content.decode())
    awaiting = {q["id"] for q in awaiting_quotes(crm_pages, demo.main.account_id)}
    filtered = contact_client.get("/quotes/?status=awaiting&sort=valid&dir=asc")
    shown = set(QUOTE_LINK.findall(filtered.content.decode()))
    assert shown == awaiting  # the stages that wait, and still valid


def test_quote_detail_without_decisions_when_staff_do_not_allow_them(contact_client, fresh_quote):
    quote = fresh_quote
    response = contact_client.get(f"/quotes/{quote['id']}/")
    assert response.status_code == 200
    assert quote["full_number"].encode() in response.content
    assert b"/accept" not in response.content
    assert contact_client.post(f"/quotes/{quote['id']}/accept").status_code == 403


def test_accept_a_quote(contact_client, crm_pages, demo, deciding, fresh_quote):
    quote = fresh_quote
    page = contact_client.get(f"/quotes/{quote['id']}/")
    assert f'action="/quotes/{quote["id"]}/accept"'.encode() in page.content
    crm_pages.control("DELETE", "requests")
    response = contact_client.post(f"/quotes/{quote['id']}/accept")
    assert response.status_code == 302
    assert response["Location"] == f"/quotes/{quote['id']}/"
    stage = staff_get(
        crm_pages.api_url, staff_token(crm_pages.api_url), f"/data/Quote/{quote['id']}", []
    )["record"]["quote_stage"]
    assert stage == crm_pages.key("Quote", "quote_stage", "Closed Accepted")
    writes = [e for e in crm_requests(crm_pages) if e["method"] in {"PATCH", "PUT", "POST"}]
    quote_writes = [
        (e["credential"], e["status"]) for e in writes if e["path"] == f"/data/Quote/{quote['id']}"
    ]
    # The CRM does not let a contact's token write quotes: the portal's credential does,
    # after the gateway has checked the quote is this contact's.
    assert quote_writes == [("portal", 403), ("staff", 200)]
    assert any(e["path"] == "/data/Note" and e["status"] == 200 for e in writes)
    event = ActivityEvent.objects.get(kind="quote_accepted", record_id=quote["id"])
    assert event.contact_id == demo.main.contact_id
    after = contact_client.get(f"/quotes/{quote['id']}/")
    assert b"you accepted this quote" in after.content
    assert b"/accept" not in after.content  # decided: no more buttons
    assert contact_client.post(f"/quotes/{quote['id']}/accept").status_code == 403


def test_decline_needs_a_reason(contact_client, crm_pages, demo, deciding, fresh_quote):
    quote = fresh_quote
    response = contact_client.post(f"/quotes/{quote['id']}/decline", {"reason": "  "})
    assert response.status_code == 400  # the quote's page again, its decline form open
    token = staff_token(crm_pages.api_url)
    record = staff_get(crm_pages.api_url, token, f"/data/Quote/{quote['id']}", [])["record"]
    assert record["quote_stage"] == quote["quote_stage"]
    response = contact_client.post(
        f"/quotes/{quote['id']}/decline", {"reason": "We found a cheaper offer"}
    )
    assert response.status_code == 302
    record = staff_get(crm_pages.api_url, token, f"/data/Quote/{quote['id']}", [])["record"]
    assert record["quote_stage"] == crm_pages.key("Quote", "quote_stage", "Closed Lost")
    notes = staff_records(crm_pages, "/data/Note", ["description"], parent_id=quote["id"])
    assert any("We found a cheaper offer" in (n.get("description") or "") for n in notes)
    assert ActivityEvent.objects.filter(kind="quote_declined", record_id=quote["id"]).exists()


def test_decisions_need_the_csrf_token(crm_pages, demo, deciding):
    client = Client(enforce_csrf_checks=True)
    sign_in(client, crm_pages.api_url, demo.main)
    quote_id = demo.own["Quote"]
    assert client.post(f"/quotes/{quote_id}/accept").status_code == 403
    assert client.get(f"/quotes/{quote_id}/accept").status_code == 405


async def test_quote_pdf(async_contact_client, demo):
    response = await async_contact_client.get(f"/quotes/{demo.own['Quote']}/pdf?download=1")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert (await streamed(response)).startswith(b"%PDF")


def test_document_list_with_sizes_and_search(contact_client, crm_pages, demo):
    contact_client.get("/documents/")
    with counted_calls() as log:
        response = contact_client.get("/documents/")
    assert response.status_code == 200
    ids = DOC_LINK.findall(response.content.decode())
    assert ids
    # One list call, one file-info call per row shown, nothing else.
    assert log.count(path_prefix="/data/") == 1
    assert log.count(path_prefix="/files/info/") == len(ids)
    assert len(log) == 1 + len(ids)
    assert re.search(rb"\d+(\.\d)?\xc2\xa0(KB|MB)|\d+ bytes", response.content)
    docs = staff_get(
        crm_pages.api_url,
        staff_token(crm_pages.api_url),
        f"/data/Account/{demo.main.account_id}/documents",
        [("fields[]", "document_name"), ("limit", "200")],
    )["records"]
    name = docs[0]["document_name"]
    found = contact_client.get("/documents/", {"q": name})
    assert docs[0]["id"] in DOC_LINK.findall(found.content.decode())
    assert contact_client.get("/documents/?status=open").status_code == 400


async def test_document_download_is_byte_identical(async_contact_client, crm_pages, demo):
    document_id = demo.own["Document"]
    token = staff_token(crm_pages.api_url)
    import httpx2 as httpx

    original = httpx.get(
        f"{crm_pages.api_url}/files/download/Document/{document_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    response = await async_contact_client.get(f"/documents/{document_id}/download")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert await streamed(response) == original.content
    assert response["Content-Type"] == original.headers["Content-Type"].split(";")[0].strip()


async def test_preview_only_for_safe_types(async_contact_client, crm_pages, demo):
    docs = staff_get(
        crm_pages.api_url,
        staff_token(crm_pages.api_url),
        f"/data/Account/{demo.main.account_id}/documents",
        [("fields[]", "file_mime_type"), ("limit", "200")],
    )["records"]
    by_type = {d.get("file_mime_type"): d["id"] for d in docs}
    checked = 0
    for media, document_id in by_type.items():
        response = await async_contact_client.get(f"/documents/{document_id}/download?inline=1")
        await streamed(response)
        safe = media in {"application/pdf", "image/png", "image/jpeg"}
        assert response["Content-Disposition"].startswith("inline" if safe else "attachment")
        assert response["X-Content-Type-Options"] == "nosniff"
        checked += 1
    assert checked >= 2


def test_document_detail(contact_client, demo):
    response = contact_client.get(f"/documents/{demo.own['Document']}/")
    assert response.status_code == 200
    assert f"/documents/{demo.own['Document']}/download".encode() in response.content


def _contact_of(crm, account_id: str):
    from tests.pages.conftest import DemoContact

    contacts = staff_records(
        crm, "/data/Contact", ["first_name", "last_name", "email1", "portal_active"],
        primary_account_id=account_id,
    )  # fmt: skip
    person = next(c for c in contacts if c.get("portal_active") in (True, 1, "1"))
    return DemoContact(person["id"], account_id, person["first_name"], person["email1"], "")


async def test_invoice_attachments(crm_pages, async_client, transactional_db):
    from importlib import import_module

    from django.conf import settings

    from tests.pages.conftest import SESSION_KEY, asdict, signed_in_contact

    notes = staff_records(
        crm_pages, "/data/Note",
        ["filename", "portal_flag", "parent_id", "parent_type", "account_id"],
        parent_type="Invoice",
    )  # fmt: skip
    shared = next(n for n in notes if n.get("portal_flag") and n.get("filename"))
    internal = [n for n in notes if not n.get("portal_flag") and n.get("filename")]
    person = _contact_of(crm_pages, shared["account_id"])
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = asdict(signed_in_contact(crm_pages.api_url, person))
    await store.asave()
    async_client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key

    page = await async_client.get(f"/invoices/{shared['parent_id']}/")
    link = f"/invoices/{shared['parent_id']}/attachments/{shared['id']}"
    assert link.encode() in page.content
    response = await async_client.get(link)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert len(await streamed(response)) > 0
    # A note of another invoice, or one staff did not mark for the portal: not found.
    other = next(n for n in notes if n["parent_id"] != shared["parent_id"] and n["portal_flag"])
    for note in [other, *internal[:1]]:
        url = f"/invoices/{shared['parent_id']}/attachments/{note['id']}"
        assert (await async_client.get(url)).status_code == 404


def test_quote_pages_make_few_calls(contact_client, demo):
    quote_id = demo.own["Quote"]
    contact_client.get("/quotes/")  # warms the locale and the tokens
    with counted_calls() as log:
        assert contact_client.get("/quotes/?sort=amount&dir=desc").status_code == 200
    assert len(log) == 1
    with counted_calls() as log:
        assert contact_client.get(f"/quotes/{quote_id}/").status_code == 200
    assert [call.path.split("/")[1] for call in log.calls] == ["data", "tally"]
    document = f"/documents/{demo.own['Document']}/"
    contact_client.get(document)  # learns how this CRM tells whose a document is
    with counted_calls() as log:
        assert contact_client.get(document).status_code == 200
    assert log.count(path_prefix="/files/info/") == 1
    # Record, ownership (its own link; where the CRM refuses that, the contact's
    # documents listed in one call), file info.
    assert len(log) <= 3


def test_a_contact_without_an_account(crm_pages, client):
    """Scoped by the contact alone: their own documents, and empty states that say what
    to do where nothing is billed to them."""
    from tests.pages.conftest import DemoContact

    contacts = staff_records(
        crm_pages, "/data/Contact", ["first_name", "email1", "primary_account_id", "portal_active"]
    )
    loner = next(
        c
        for c in contacts
        if not c.get("primary_account_id") and c.get("portal_active") in (True, 1, "1")
    )
    person = DemoContact(loner["id"], "", loner["first_name"], loner["email1"], "")
    sign_in(client, crm_pages.api_url, person)
    assert client.get("/").status_code == 200
    invoices = client.get("/invoices/")
    assert invoices.status_code == 200
    billed = staff_records(crm_pages, "/data/Invoice", ["name"], billing_contact_id=loner["id"])
    if not billed:
        assert b"No invoices yet" in invoices.content
    documents = client.get("/documents/")
    assert documents.status_code == 200
    own = staff_get(
        crm_pages.api_url,
        staff_token(crm_pages.api_url),
        f"/data/Contact/{loner['id']}/documents",
        [("fields[]", "name"), ("limit", "200")],
    )["records"]
    assert own, "the demo shares a document with the account-less contact"
    assert set(DOC_LINK.findall(documents.content.decode())) == {d["id"] for d in own}
