"""The contact's own profile and personal data (issue 16), against the emulator as a
real server: every write is read back with the staff credential.

Each test that writes signs in a contact of its own, created for it on the demo
account (the emulator is shared by the whole session), so one test's changes never
meet another's.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from importlib import import_module

import httpx2 as httpx
import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import timezone

from portal.models import ActivityEvent, EmailChange, PortalSettings
from portal.signin.session import SESSION_KEY
from portal.signin_links import finish_queued_mail
from portal.site_settings import forget_portal_settings
from tests.pages.conftest import (
    DemoContact,
    crm_requests,
    sign_in,
    signed_in_contact,
    staff_get,
    staff_token,
    streamed,
)
from tests.signin.smtp_server import SmtpServer

pytestmark = pytest.mark.django_db

PROFILE_FIELDS = [
    "first_name",
    "last_name",
    "title",
    "department",
    "phone_work",
    "phone_mobile",
    "phone_home",
    "email1",
    "email2",
    "primary_account_id",
    "portal_active",
    "birthdate",
    "email_opt_out",
]
CONFIRM_LINK = re.compile(r"http://testserver(/profile/email/[^/\s]+/)")


def staff_write(crm, method: str, path: str, body: dict) -> dict:
    reply = httpx.request(
        method,
        f"{crm.api_url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {staff_token(crm.api_url)}"},
        timeout=10,
    )
    reply.raise_for_status()
    return reply.json()


def crm_contact(crm, contact_id: str) -> dict:
    params = [("fields[]", name) for name in PROFILE_FIELDS]
    token = staff_token(crm.api_url)
    return staff_get(crm.api_url, token, f"/data/Contact/{contact_id}", params)["record"]


def new_person(crm, account_id: str, account_name: str = "") -> DemoContact:
    """A contact of its own for one test, with every profile field filled in."""
    tag = uuid.uuid4().hex[:10]
    data = {
        "first_name": "Pat",
        "last_name": f"Tester{tag}",
        "title": "Buyer",
        "department": "Purchasing",
        "phone_work": "+49 30 1234",
        "phone_mobile": "+49 170 1234",
        "phone_home": "030 9876",
        "email1": f"pat.{tag}@example.com",
        "birthdate": "1980-02-03",
        "description": "Met at the fair",
        "primary_account_id": account_id,
        "portal_active": True,
    }
    contact_id = staff_write(crm, "POST", "/data/Contact", {"data": data})["id"]
    return DemoContact(contact_id, account_id, f"Pat Tester{tag}", data["email1"], account_name)


@pytest.fixture
def person(crm_pages, demo) -> DemoContact:
    return new_person(crm_pages, demo.main.account_id, demo.main.account_name)


@pytest.fixture
def client_of(crm_pages, person, client) -> Client:
    sign_in(client, crm_pages.api_url, person)
    crm_pages.control("DELETE", "requests")
    return client


def staff_settings(**values) -> None:
    row = PortalSettings.objects.get(pk=PortalSettings.SINGLETON_ID)
    for name, value in values.items():
        setattr(row, name, value)
    row.save()
    forget_portal_settings()


def contact_writes(crm) -> list[dict]:
    """Writes to records (token grants and /portal/auth are POSTs too, but write nothing)."""
    return [
        e
        for e in crm_requests(crm)
        if e["method"] not in {"GET", "HEAD"} and e["path"].startswith("/data/")
    ]


# --- the page ---------------------------------------------------------------------------


def test_profile_page_shows_editable_fields_and_the_rest_read_only(client_of, person):
    staff_settings(profile_editable_fields=["phone_work", "phone_mobile"])
    response = client_of.get("/profile/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="phone_work"' in page and 'name="phone_mobile"' in page
    assert 'name="first_name"' not in page and 'name="title"' not in page
    assert "Buyer" in page and "Purchasing" in page  # shown read-only
    assert person.email in page
    # The CRM's /meta/fields/Contact lists email_opt_out: the preference is offered.
    assert 'name="email_opt_out"' in page
    assert 'href="/profile/"' in page  # the navigation's Profile link
    assert response["Cache-Control"] == "no-store"


def test_profile_needs_a_signed_in_contact(crm_pages, client):
    for path in ("/profile/", "/profile/personal-data.pdf", "/profile/activity.json"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_every_post_needs_the_csrf_token(crm_pages, person):
    client = Client(enforce_csrf_checks=True)
    sign_in(client, crm_pages.api_url, person)
    crm_pages.control("DELETE", "requests")
    for path in ("/profile/", "/profile/email/", "/profile/erasure"):
        assert client.post(path, {"phone_work": "1", "confirm": "yes"}).status_code == 403
    assert contact_writes(crm_pages) == []


# --- saving -----------------------------------------------------------------------------


def test_allowed_fields_change_in_the_crm(client_of, crm_pages, person):
    response = client_of.post(
        "/profile/",
        {
            "first_name": "Patricia",
            "last_name": person.name.split()[1],
            "title": "Head of purchasing",
            "department": "Einkauf",
            "phone_work": "+49 (30) 555-1",
            "phone_mobile": "0170 / 555 2",
            "phone_home": "",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/profile/"
    record = crm_contact(crm_pages, person.contact_id)
    assert record["first_name"] == "Patricia"
    assert record["title"] == "Head of purchasing"
    assert record["department"] == "Einkauf"
    assert record["phone_work"] == "+49 (30) 555-1"
    assert record["phone_mobile"] == "0170 / 555 2"
    assert record.get("phone_home", "") == ""  # a sparse CRM leaves an empty field out
    assert ActivityEvent.objects.filter(kind="profile_updated", contact_id=person.contact_id)
    # The contact's token is refused its own record (as the vendor's portal expects), so
    # the portal writes it again with its own credential: the same path, nothing else.
    writes = contact_writes(crm_pages)
    assert {(w["method"], w["path"]) for w in writes} == {
        ("PATCH", f"/data/Contact/{person.contact_id}")
    }
    assert [w["credential"] for w in writes if w["status"] == 200] == ["staff"]


def test_a_tampered_post_changes_nothing_it_may_not(client_of, crm_pages, person, demo):
    staff_settings(profile_editable_fields=["phone_work"])
    other_before = crm_contact(crm_pages, demo.other.contact_id)
    response = client_of.post(
        "/profile/",
        {
            "phone_work": "+1 555 0100",
            "first_name": "Mallory",  # not editable here
            "email1": "mallory@evil.example",
            "primary_account_id": demo.other.account_id,
            "portal_active": "0",
            "id": demo.other.contact_id,
            "contact_id": demo.other.contact_id,
        },
    )
    assert response.status_code == 302
    mine = crm_contact(crm_pages, person.contact_id)
    assert mine["phone_work"] == "+1 555 0100"
    assert mine["first_name"] == "Pat"
    assert mine["email1"] == person.email
    assert mine["primary_account_id"] == person.account_id
    assert mine["portal_active"] is True
    assert crm_contact(crm_pages, demo.other.contact_id) == other_before
    for write in contact_writes(crm_pages):
        assert write["path"] == f"/data/Contact/{person.contact_id}"


def test_a_post_of_only_foreign_fields_writes_nothing(client_of, crm_pages, person, demo):
    response = client_of.post(
        "/profile/", {"email1": "x@evil.example", "contact_id": demo.other.contact_id}
    )
    assert response.status_code == 302
    assert contact_writes(crm_pages) == []
    assert crm_contact(crm_pages, person.contact_id)["email1"] == person.email


def test_validation_errors_keep_what_was_typed_and_write_nothing(client_of, crm_pages, person):
    response = client_of.post(
        "/profile/",
        {
            "first_name": "Pätrick <b>",
            "last_name": "",
            "phone_work": "call me maybe",
            "department": "x" * 101,
            "preferences": "1",
            "email_opt_out": "on",
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    # The box the contact ticked stays ticked (the CRM still has it unticked).
    assert re.search(r'<input type="checkbox" id="pref-email_opt_out"[^>]* checked>', page)
    assert 'value="Pätrick &lt;b&gt;"' in page  # typed, escaped, kept
    assert 'value="call me maybe"' in page
    assert "A phone number takes digits" in page
    assert "Please enter your last name." in page
    assert "At most 100 characters" in page
    assert 'aria-invalid="true"' in page
    assert contact_writes(crm_pages) == []
    assert crm_contact(crm_pages, person.contact_id)["first_name"] == "Pat"


def test_the_email_preference_is_saved(client_of, crm_pages, person):
    response = client_of.post("/profile/", {"preferences": "1", "email_opt_out": "on"})
    assert response.status_code == 302
    assert crm_contact(crm_pages, person.contact_id)["email_opt_out"] is True
    client_of.post("/profile/", {"preferences": "1"})
    assert crm_contact(crm_pages, person.contact_id)["email_opt_out"] is False


# --- the e-mail address -----------------------------------------------------------------


def _ask_for_email_change(client, new_email: str) -> str:
    mail.outbox.clear()
    response = client.post("/profile/email/", {"email": new_email})
    assert response.status_code == 302, response.content[:500]
    finish_queued_mail()  # sent from the mail queue, after the answer
    [message] = mail.outbox
    assert message.to == [new_email]
    match = CONFIRM_LINK.search(message.body)
    assert match, message.body
    return match.group(1)


def test_the_email_is_written_only_after_the_link_is_followed(client_of, crm_pages, person):
    new_email = f"new.{uuid.uuid4().hex[:8]}@example.com"
    link = _ask_for_email_change(client_of, new_email)
    assert crm_contact(crm_pages, person.contact_id)["email1"] == person.email
    # Opening the link (a mail scanner does) only shows a button.
    assert client_of.get(link).status_code == 200
    assert crm_contact(crm_pages, person.contact_id)["email1"] == person.email
    mail.outbox.clear()
    response = client_of.post(link)
    assert response.status_code == 302
    assert crm_contact(crm_pages, person.contact_id)["email1"] == new_email
    finish_queued_mail()
    # The old address is told.
    assert [m.to for m in mail.outbox] == [[person.email]]
    assert new_email in mail.outbox[0].body
    assert client_of.session[SESSION_KEY]["email"] == new_email


def test_a_used_or_expired_link_does_nothing(client_of, crm_pages, person):
    first = f"first.{uuid.uuid4().hex[:8]}@example.com"
    link = _ask_for_email_change(client_of, first)
    assert client_of.post(link).status_code == 302
    # Used: following it again changes nothing (after the address moved on in the CRM).
    staff_write(
        crm_pages, "PATCH", f"/data/Contact/{person.contact_id}", {"data": {"email1": person.email}}
    )
    assert client_of.post(link).status_code == 400
    assert crm_contact(crm_pages, person.contact_id)["email1"] == person.email
    # Expired.
    second = f"second.{uuid.uuid4().hex[:8]}@example.com"
    link = _ask_for_email_change(client_of, second)
    EmailChange.objects.filter(new_email=second).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert client_of.get(link).status_code == 400
    assert client_of.post(link).status_code == 400
    assert crm_contact(crm_pages, person.contact_id)["email1"] == person.email


def test_a_link_works_only_for_the_contact_who_asked(client_of, crm_pages, person, demo):
    link = _ask_for_email_change(client_of, f"mine.{uuid.uuid4().hex[:8]}@example.com")
    someone = Client()
    sign_in(someone, crm_pages.api_url, new_person(crm_pages, demo.main.account_id))
    assert someone.post(link).status_code == 400
    assert crm_contact(crm_pages, person.contact_id)["email1"] == person.email


def test_an_address_of_another_contact_is_refused_without_saying_whose(
    client_of, crm_pages, person, demo
):
    mail.outbox.clear()
    response = client_of.post("/profile/email/", {"email": demo.other.email.upper()})
    assert response.status_code == 400
    finish_queued_mail()
    page = response.content.decode()
    assert "This address cannot be used" in page
    assert demo.other.name not in page and demo.other.account_name not in page
    assert mail.outbox == []
    assert EmailChange.objects.filter(contact_id=person.contact_id).count() == 0


def test_a_bad_address_is_refused_and_kept(client_of, crm_pages):
    response = client_of.post("/profile/email/", {"email": "not-an-address"})
    assert response.status_code == 400
    assert 'value="not-an-address"' in response.content.decode()
    finish_queued_mail()
    assert mail.outbox == []


@pytest.fixture
def relay(request, settings) -> Iterator[SmtpServer]:
    """Django's real SMTP backend on a local SMTP server (tests/signin/smtp_server.py)."""
    server = SmtpServer(**getattr(request, "param", {})).start()
    settings.MAILERS = {"default": server.mailer()}
    yield server
    server.release()
    server.stop()
    finish_queued_mail()


# Transactional, like every test whose mail goes out on the mail thread (portal.signin_links):
# that thread has its own database connection.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("relay", [{"hold": True}], indirect=True)
def test_the_email_change_page_is_answered_before_a_slow_relay_has_the_link(
    client_of, crm_pages, person, relay
):
    """No wall clock: the relay holds its greeting until released, so an answer that is
    here while the relay has no message did not wait for it."""
    new_email = f"slow.{uuid.uuid4().hex[:8]}@example.com"
    response = client_of.post("/profile/email/", {"email": new_email}, follow=True)
    assert response.status_code == 200
    assert relay.messages == [], "the page waited for the mail relay"
    assert f"We sent a link to {new_email}" in response.content.decode()
    assert ActivityEvent.objects.filter(
        kind="email_change_requested", contact_id=person.contact_id
    ).exists()

    relay.release()
    finish_queued_mail()
    [message] = [m.decode() for m in relay.messages]
    assert f"To: {new_email}" in message
    link = CONFIRM_LINK.search(message.replace("=\r\n", ""))
    assert link, message
    # The queued link works like any other: only following it writes the address.
    assert crm_contact(crm_pages, person.contact_id)["email1"] == person.email
    assert client_of.post(link.group(1)).status_code == 302
    assert crm_contact(crm_pages, person.contact_id)["email1"] == new_email
    finish_queued_mail()
    assert len(relay.messages) == 2  # and the old address's notice, from the queue too
    assert f"To: {person.email}" in relay.messages[1].decode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("relay", [{"reject_data": True}], indirect=True)
def test_a_failing_relay_leaves_the_page_alone_and_the_operator_a_log_line(
    client_of, person, relay, caplog
):
    caplog.set_level(logging.INFO)
    new_email = f"lost.{uuid.uuid4().hex[:8]}@example.com"
    response = client_of.post("/profile/email/", {"email": new_email})
    assert response.status_code == 302 and response["Location"] == "/profile/"
    finish_queued_mail()
    assert relay.connections == 1 and relay.messages == []
    failures = [
        r for r in caplog.records if r.name == "portal.signin_links" and r.levelno == logging.ERROR
    ]
    assert len(failures) == 1, caplog.text
    line = failures[0].getMessage()
    assert f"could not send an e-mail change link for contact {person.contact_id}" in line
    assert "554" in line, "the relay's answer is in the log line"
    change = EmailChange.objects.get(contact_id=person.contact_id)
    assert "/profile/email/" not in caplog.text and change.token_hash not in caplog.text


# --- personal data ----------------------------------------------------------------------


async def _async_client_of(crm, person: DemoContact, async_client):
    contact = signed_in_contact(crm.api_url, person)
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = asdict(contact)
    await store.asave()
    async_client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    return async_client


@pytest.mark.django_db(transaction=True)
async def test_the_personal_data_pdf_streams(crm_pages, demo, async_client):
    person = new_person(crm_pages, demo.main.account_id)
    client = await _async_client_of(crm_pages, person, async_client)
    crm_pages.control("DELETE", "requests")
    response = await client.get("/profile/personal-data.pdf")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment")
    body = await streamed(response)
    assert body.startswith(b"%PDF")
    prints = [e for e in crm_requests(crm_pages) if e["path"].startswith("/printer/")]
    assert [e["path"] for e in prints] == [f"/printer/pdf/personal/Contact/{person.contact_id}"]
    assert await ActivityEvent.objects.filter(
        kind="personal_data_pdf", contact_id=person.contact_id
    ).aexists()


def _cases_of(crm, contact_id: str) -> list[dict]:
    token = staff_token(crm.api_url)
    params = [("fields[]", "name"), ("fields[]", "description"), ("limit", "200")]
    params.append(("filters[cust_contact_id]", contact_id))
    return staff_get(crm.api_url, token, "/data/aCase", params)["records"]


def test_erasure_asks_first_then_becomes_a_case_and_erases_nothing(client_of, crm_pages, person):
    before = crm_contact(crm_pages, person.contact_id)
    response = client_of.post("/profile/erasure")
    assert response.status_code == 200
    assert 'name="confirm" value="yes"' in response.content.decode()
    assert contact_writes(crm_pages) == []
    response = client_of.post("/profile/erasure", {"confirm": "yes"})
    assert response.status_code == 200
    assert "We received your request" in response.content.decode()
    [case] = _cases_of(crm_pages, person.contact_id)
    assert "erase personal data" in case["name"]
    assert person.contact_id in case["description"]
    assert crm_contact(crm_pages, person.contact_id) == before
    assert not [e for e in crm_requests(crm_pages) if "erase_personal" in e["path"]]
    assert ActivityEvent.objects.filter(kind="erasure_requested", contact_id=person.contact_id)


def test_where_cases_are_off_erasure_is_a_note_and_an_email(client_of, crm_pages, person):
    staff_settings(erasure_mode="note", support_email="privacy@example.com")
    before = crm_contact(crm_pages, person.contact_id)
    mail.outbox.clear()
    response = client_of.post("/profile/erasure", {"confirm": "yes"})
    assert response.status_code == 200
    finish_queued_mail()  # the support address's mail goes out after the answer
    token = staff_token(crm_pages.api_url)
    notes = staff_get(
        crm_pages.api_url,
        token,
        "/data/Note",
        [
            ("fields[]", "name"),
            ("fields[]", "parent_type"),
            ("filters[parent_id]", person.contact_id),
        ],
    )["records"]
    assert [(n["parent_type"], "erase" in n["name"]) for n in notes] == [("Contacts", True)]
    assert [m.to for m in mail.outbox] == [["privacy@example.com"]]
    assert person.contact_id in mail.outbox[0].body
    assert _cases_of(crm_pages, person.contact_id) == []
    assert crm_contact(crm_pages, person.contact_id) == before


def test_direct_erasure_touches_only_the_listed_fields_of_the_session_contact(
    client_of, crm_pages, person, demo
):
    staff_settings(erasure_mode="direct", erasure_fields=["phone_mobile", "phone_home", "title"])
    colleague = new_person(crm_pages, demo.main.account_id)
    colleague_before = crm_contact(crm_pages, colleague.contact_id)
    before = crm_contact(crm_pages, person.contact_id)
    response = client_of.post(
        "/profile/erasure",
        {"confirm": "yes", "fields": "first_name,email1", "contact_id": colleague.contact_id},
    )
    assert response.status_code == 200
    after = crm_contact(crm_pages, person.contact_id)
    erased = ("phone_mobile", "phone_home", "title")
    assert [after.get(name, "") for name in erased] == ["", "", ""]  # a sparse CRM: left out
    kept = set(before) | set(after)
    kept -= set(erased)
    assert {k: after.get(k) for k in kept} == {k: before.get(k) for k in kept}
    assert after["first_name"] == "Pat" and after["email1"] == person.email
    assert crm_contact(crm_pages, colleague.contact_id) == colleague_before
    erasures = [e for e in contact_writes(crm_pages) if "erase_personal" in e["path"]]
    assert {e["path"] for e in erasures} == {f"/data/erase_personal/Contact/{person.contact_id}"}
    assert ActivityEvent.objects.filter(kind="personal_data_erased", contact_id=person.contact_id)


def test_staff_may_list_only_personal_fields_for_direct_erasure():
    from django.core.exceptions import ValidationError

    row = PortalSettings.objects.get(pk=PortalSettings.SINGLETON_ID)
    row.erasure_mode = "direct"
    row.erasure_fields = ["primary_account_id"]
    with pytest.raises(ValidationError):
        row.full_clean()
    row.erasure_fields = []
    with pytest.raises(ValidationError):
        row.full_clean()


def test_activity_json_is_what_the_portal_holds_about_the_contact(client_of, person, demo):
    ActivityEvent.objects.create(kind="pdf_download", contact_id=person.contact_id, record_id="i1")
    ActivityEvent.objects.create(kind="sign_in", contact_id=demo.other.contact_id)
    response = client_of.get("/profile/activity.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith("attachment")
    data = json.loads(response.content)
    assert data["contact_id"] == person.contact_id
    assert [(e["kind"], e["record_id"]) for e in data["activity"]] == [("pdf_download", "i1")]
    assert "token" not in response.content.decode().lower()
    assert data["cases_seen"] == []  # which cases' replies they saw (the dashboard's box)


# --- the gateway's own-record writes refuse before any call -----------------------------


async def test_own_record_writes_refuse_other_fields_before_any_call(crm_pages, person):
    from crm_gateway import CallLog, ContactGateway, ContactScope, errors

    gateway = ContactGateway(
        ContactScope(person.contact_id, person.account_id), data_access="staff"
    )
    with CallLog() as log:
        for bad in (
            {"primary_account_id": "x"},
            {"email1": "a@example.com"},
            {"phone_work": "call me"},
            {"first_name": "x" * 101},
        ):
            with pytest.raises(errors.NotAllowed):
                await gateway.update_own_contact(bad)
        with pytest.raises(errors.NotAllowed):
            await gateway.set_own_preferences({"portal_active": True})
        with pytest.raises(errors.NotAllowed):
            await gateway.erase_own_personal_data(["primary_account_id"])
        with pytest.raises(errors.NotAllowed):
            await gateway.set_own_email("two@example.com three@example.com")
    assert len(log) == 0


# --- the strict profile: a CRM that reads the reference's silences the other way --------


@pytest.mark.django_db(transaction=True)
async def test_on_a_strict_crm_the_profile_saves_and_the_pdf_streams(
    strict_crm, settings, async_client
):
    """Sparse records, numbers as strings, contact tokens refused bytes and their own
    Contact writes: the page still shows, saves and prints (bytes with the staff
    credential)."""
    settings.ONECRM_DATA_ACCESS = "portal_auth"
    token = staff_token(strict_crm.api_url)
    contacts = staff_get(
        strict_crm.api_url,
        token,
        "/data/Contact",
        [("fields[]", "primary_account_id"), ("limit", "200")],
    )["records"]
    account_id = next(c["primary_account_id"] for c in contacts if c.get("primary_account_id"))
    person = new_person(strict_crm, account_id)
    client = await _async_client_of(strict_crm, person, async_client)
    response = await client.get("/profile/")
    assert response.status_code == 200 and b'name="phone_work"' in response.content
    response = await client.post(
        "/profile/", {"phone_work": "+49 89 42", "last_name": person.name.split()[1]}
    )
    assert response.status_code == 302
    assert crm_contact(strict_crm, person.contact_id)["phone_work"] == "+49 89 42"
    response = await client.get("/profile/personal-data.pdf")
    assert response.status_code == 200
    assert (await streamed(response)).startswith(b"%PDF")
