"""The CRM decides who may use the portal, at sign-in and while a session lasts.

Against the emulator: its `/me` can leave `portal_active` out (switch `me_fields`:
`no_portal_active`, or `documented`, which drops the account too, as 1CRM's documented
`/me` has neither), and a CRM user switches a
contact off or moves them to another account with a staff PATCH of the Contact, as staff
would in the CRM. The re-check interval is passed without sleeping: the test moves the
session's `checked_at` back, as minutes passing would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from django.test import Client

from portal.models import ContactAccess, PortalSettings
from portal.signin.session import SESSION_KEY
from portal.site_settings import forget_portal_settings
from tests.emulator_server import EmulatorServer
from tests.pages.conftest import staff_token
from tests.signin.crm_signin import (
    DemoContact,
    authorize_at_crm,
    demo_contacts,
    query_of,
    register_test_redirect_uri,
)

pytestmark = pytest.mark.django_db

MINUTE = 60
INVOICE_LINK = re.compile(r'href="/invoices/([0-9a-f-]+)/"')


class CrmStaff:
    """A CRM user editing contacts; every change is undone when the test ends."""

    def __init__(self, crm: EmulatorServer) -> None:
        self.crm = crm
        self.token = staff_token(crm.api_url)
        self.undo: list[tuple[str, dict]] = []

    def _call(self, method: str, path: str, **kwargs) -> dict:
        reply = httpx.request(
            method,
            f"{self.crm.api_url}{path}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
            **kwargs,
        )
        reply.raise_for_status()
        return reply.json()

    def update_contact(self, contact_id: str, **changes) -> None:
        fields = [("fields[]", name) for name in changes]
        before = self._call("GET", f"/data/Contact/{contact_id}", params=fields)["record"]
        self.undo.append((contact_id, {name: before.get(name) for name in changes}))
        self._call("PATCH", f"/data/Contact/{contact_id}", json={"data": changes})

    def invoice_ids(self, account_id: str) -> set[str]:
        params = [("filters[billing_account_id]", account_id), ("limit", "200")]
        return {
            record["id"] for record in self._call("GET", "/data/Invoice", params=params)["records"]
        }

    def restore(self) -> None:
        for contact_id, values in reversed(self.undo):
            self._call("PATCH", f"/data/Contact/{contact_id}", json={"data": values})


@pytest.fixture
def crm_staff(crm) -> Iterator[CrmStaff]:
    staff = CrmStaff(crm)
    yield staff
    staff.restore()


@pytest.fixture
def people(crm) -> tuple[DemoContact, DemoContact]:
    """Two portal-active contacts of two different accounts."""
    register_test_redirect_uri(crm)
    contacts = demo_contacts(crm)
    first = contacts[0]
    other = next(c for c in contacts if c.account_id != first.account_id)
    return first, other


def oauth_callback(client: Client, email: str, before_callback=None):
    authorize_url = client.get("/login/oauth/")["Location"]
    crm_redirect = authorize_at_crm(authorize_url, email)
    if before_callback is not None:
        before_callback()
    return client.get("/login/oauth/callback/", query_of(crm_redirect))


def signed_in(email: str) -> Client:
    client = Client()
    response = oauth_callback(client, email)
    assert response.status_code == 302, response.content[:500]
    return client


def minutes_pass(client: Client, minutes: float) -> None:
    """As if `minutes` had passed since the CRM last confirmed the contact."""
    session = client.session
    contact = session[SESSION_KEY]
    contact["checked_at"] -= minutes * MINUTE
    session[SESSION_KEY] = contact
    session.save()


def contact_reads(crm: EmulatorServer, contact_id: str) -> list[dict]:
    log = crm.control("GET", "requests").json()["requests"]
    return [e for e in log if e["path"] == f"/data/Contact/{contact_id}"]


# --- at sign-in -------------------------------------------------------------------------


@pytest.mark.parametrize("me_fields", ["no_portal_active", "documented"])
def test_a_me_without_portal_active_is_checked_against_the_contact_record(
    crm, crm_staff, people, me_fields
):
    contact = people[0]
    crm.control("POST", "switches", json={"me_fields": me_fields})
    client = Client()

    def switched_off_in_the_crm():
        crm_staff.update_contact(contact.id, portal_active=False)

    response = oauth_callback(client, contact.email, before_callback=switched_off_in_the_crm)
    assert response.status_code == 403
    assert b"not active" in response.content
    assert SESSION_KEY not in client.session
    assert not ContactAccess.objects.filter(contact_id=contact.id, last_sign_in__isnull=False)


@pytest.mark.parametrize("me_fields", ["no_portal_active", "documented"])
def test_a_me_without_portal_active_admits_a_contact_the_record_allows(crm, people, me_fields):
    contact = people[0]
    crm.control("POST", "switches", json={"me_fields": me_fields})
    crm.control("DELETE", "requests")
    client = signed_in(contact.email)
    assert client.session[SESSION_KEY]["account_id"] == contact.account_id
    reads = contact_reads(crm, contact.id)
    assert [entry["credential"] for entry in reads] == ["staff"]


# --- during a session -------------------------------------------------------------------


def test_a_contact_switched_off_in_the_crm_is_signed_out_once_the_interval_passed(
    crm, crm_staff, people
):
    contact = people[0]
    client = signed_in(contact.email)
    assert client.get("/invoices/").status_code == 200
    crm_staff.update_contact(contact.id, portal_active=False)
    crm.control("DELETE", "requests")

    minutes_pass(client, 4)
    assert client.get("/invoices/").status_code == 200, "within 5 minutes, not asked again"
    assert contact_reads(crm, contact.id) == []

    minutes_pass(client, 1.1)
    response = client.get("/invoices/?page=2")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=%2Finvoices%2F%3Fpage%3D2"
    assert SESSION_KEY not in client.session
    assert [entry["credential"] for entry in contact_reads(crm, contact.id)] == ["staff"]
    page = client.get(response["Location"])
    assert b"no longer active" in page.content
    # And an htmx request after that is sent to sign in too, not given a fragment.
    assert client.get("/invoices/", headers={"HX-Request": "true"}).status_code == 204


def test_the_interval_is_the_staff_setting(crm, crm_staff, people):
    PortalSettings.objects.filter(pk=PortalSettings.SINGLETON_ID).update(contact_recheck_minutes=1)
    forget_portal_settings()
    contact = people[0]
    client = signed_in(contact.email)
    crm_staff.update_contact(contact.id, portal_active=False)
    minutes_pass(client, 1.1)
    assert client.get("/invoices/").status_code == 302
    assert SESSION_KEY not in client.session


@pytest.mark.parametrize("data_access", ["portal_auth", "staff"])
def test_a_contact_moved_to_another_account_sees_the_new_accounts_records(
    crm, crm_staff, people, settings, data_access
):
    settings.ONECRM_DATA_ACCESS = data_access
    contact, other = people
    old_invoices = crm_staff.invoice_ids(contact.account_id)
    new_invoices = crm_staff.invoice_ids(other.account_id)
    assert old_invoices and new_invoices
    client = signed_in(contact.email)
    before = set(INVOICE_LINK.findall(client.get("/invoices/").content.decode()))
    assert before and before <= old_invoices

    crm_staff.update_contact(contact.id, primary_account_id=other.account_id)
    minutes_pass(client, 5.1)
    page = client.get("/invoices/")
    assert page.status_code == 200
    shown = set(INVOICE_LINK.findall(page.content.decode()))
    assert shown, "the new account's invoices are listed"
    assert shown <= new_invoices
    assert not shown & old_invoices
    assert client.session[SESSION_KEY]["account_id"] == other.account_id
    an_old_invoice = sorted(old_invoices)[0]
    assert client.get(f"/invoices/{an_old_invoice}/").status_code == 404
    assert ContactAccess.objects.get(contact_id=contact.id).account_id == other.account_id


def test_a_crm_that_cannot_answer_the_re_check_keeps_the_session(crm, people, caplog):
    contact = people[0]
    client = signed_in(contact.email)
    crm.control(
        "POST",
        "faults",
        json={"path": f"^/data/Contact/{contact.id}$", "kind": "status", "status": 502},
    )
    minutes_pass(client, 5.1)
    assert client.get("/invoices/").status_code == 200
    assert SESSION_KEY in client.session
    assert "could not re-check contact" in caplog.text
    # Tried again a minute later, not on every request.
    crm.control("DELETE", "requests")
    assert client.get("/invoices/").status_code == 200
    assert contact_reads(crm, contact.id) == []
