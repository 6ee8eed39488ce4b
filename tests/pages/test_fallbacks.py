"""The same answer from a CRM that reads the reference's silences the other way.

One server (the strict emulator's, so the rest of the session's writes to the default
server do not skew the comparison) is read twice: with its switches as in the default
profile, then as in the strict profile. The pages must list the same records, with the
same totals, paging and balance, in every data-access mode. The strict profile keeps its
own vocabulary (its stage keys are an installation's own): the stage settings' standard
names resolve to its keys (portal.crm_stages).
"""

from __future__ import annotations

import re

import httpx2 as httpx
import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache

from crm_gateway import capabilities, forget_cached_tokens
from portal.models import DEFAULT_INVOICE_STAGES
from tests.pages.conftest import (
    DemoContact,
    demo_of,
    new_awaiting_quote,
    sign_in,
    staff_get,
    staff_token,
)

pytestmark = pytest.mark.django_db

RECORD_LINK = re.compile(r'href="/(invoices|quotes|documents)/([0-9a-f-]+)/(?:download|pdf)?"')
SUMMARY = re.compile(r"Showing (\d+)\u2013(\d+) of (\d+)")
PAGE_OF = re.compile(r"page (\d+) of (\d+)")
BALANCE = re.compile(r'data-currency="([^"]*)">([^<]*)</li>')
AWAITING_TOTAL = re.compile(r"All (\d+) quotes awaiting you")
OPEN_COUNT = re.compile(r"(\d+) open invoices?")
BOX_FAILED = "box-error"

PAGES = [
    "/",
    "/invoices/",
    "/invoices/?page=2",
    "/invoices/?status=open",
    "/invoices/?status=overdue&sort=due&dir=asc",
    "/quotes/",
    "/quotes/?status=awaiting",
    "/quotes/?status=accepted",
    "/quotes/?status=declined&page=2",
    "/documents/",
]


def what_it_says(content: bytes) -> dict:
    """What a page tells the contact, without the CRM's number and date formats."""
    text = content.decode()
    return {
        "records": RECORD_LINK.findall(text),
        "summary": SUMMARY.findall(text),
        "paging": PAGE_OF.findall(text),
        "balances": [(c, re.sub(r"\D", "", amount)) for c, amount in BALANCE.findall(text)],
        "awaiting": AWAITING_TOTAL.findall(text),
        "open": OPEN_COUNT.findall(text),
        "failed": text.count(BOX_FAILED),
    }


@pytest.fixture(scope="module")
def strict_demo(strict_emulator):
    strict_emulator.reset_controls("default")
    return demo_of(strict_emulator)


def read_pages(client, server, demo, data_access: str, profile: str) -> dict:
    """What each page says, and the contact's own document's page (as "document")."""
    server.reset_controls(profile)
    cache.clear()
    capabilities.forget()
    forget_cached_tokens()
    sign_in(client, server.api_url, demo.main, data_access)
    answers = {}
    document = f"/documents/{demo.own['Document']}/"
    for url in [*PAGES, document]:
        response = client.get(url)
        assert response.status_code == 200, (profile, url, response.status_code)
        answers[url.replace(document, "document")] = what_it_says(response.content)
    return answers


@pytest.mark.parametrize("data_access", ["portal_auth", "contact_token", "staff"])
def test_pages_give_the_same_answer_on_both_profiles(
    client, strict_crm, strict_demo, settings, data_access
):
    settings.ONECRM_DATA_ACCESS = data_access
    default = read_pages(client, strict_crm, strict_demo, data_access, "default")
    strict = read_pages(client, strict_crm, strict_demo, data_access, "strict")
    # The comparison means something: the lists are not empty, and nothing failed.
    assert default["/invoices/"]["records"] and default["/invoices/?page=2"]["records"]
    assert default["/quotes/?status=awaiting"]["records"]
    assert default["/documents/"]["records"] and default["/"]["balances"]
    assert not any(answer["failed"] for answer in default.values())
    assert default["document"]["records"]  # its download link
    for url in [*PAGES, "document"]:
        assert strict[url] == default[url], url


PAYMENT_ROW = re.compile(r'<th scope="row" data-label="Payment">([^<]*)</th>')
ATTACHMENT = re.compile(r'href="/invoices/([0-9a-f-]+)/attachments/([0-9a-f-]+)"')
STAGE_SHOWN = re.compile(r"<dt>Shipping</dt><dd>([^<]*)</dd>")


def invoices_with_related(server) -> tuple[DemoContact, list[str]]:
    """A contact, an invoice of their account with payments and one with an attachment
    for the portal (read with the staff credential, the server in the default profile)."""
    server.reset_controls("default")
    api, token = server.api_url, staff_token(server.api_url)

    def records(path: str, fields: tuple[str, ...], *params: tuple[str, str]) -> list[dict]:
        query = [("fields[]", f) for f in fields] + [*params, ("limit", "200")]
        return staff_get(api, token, path, query)["records"]

    visible = {
        i["id"]: i
        for i in records("/data/Invoice", ("billing_account_id", "shipping_stage"))
        if i.get("shipping_stage") in DEFAULT_INVOICE_STAGES
    }
    note = next(
        n
        for n in records(
            "/data/Note",
            ("parent_id", "filename", "portal_flag"),
            ("filters[parent_type]", "Invoice"),
        )
        if n.get("filename") and n.get("portal_flag") and n.get("parent_id") in visible
    )
    account_id = visible[note["parent_id"]]["billing_account_id"]
    paid = next(
        invoice_id
        for invoice_id, invoice in visible.items()
        if invoice["billing_account_id"] == account_id
        and records(f"/data/Invoice/{invoice_id}/payments", ("payment_date",))
    )
    person = next(
        c
        for c in records(
            "/data/Contact",
            ("first_name", "email1", "portal_active"),
            ("filters[primary_account_id]", account_id),
        )
        if c.get("portal_active")
    )
    contact = DemoContact(person["id"], account_id, person["first_name"], person["email1"], "")
    return contact, [paid, note["parent_id"]]


@pytest.mark.parametrize("data_access", ["portal_auth", "contact_token", "staff"])
def test_payments_and_attachments_when_the_crm_refuses_the_contact_links(
    client, strict_crm, settings, data_access
):
    """The strict CRM refuses a contact's token `/data/Invoice/{id}/payments` and
    `/notes`: the gateway reads them with the staff credential once the invoice was
    checked for the contact (every linked record checked again), so the detail page
    shows the same payments and attachments as on the default profile."""
    settings.ONECRM_DATA_ACCESS = data_access
    person, invoices = invoices_with_related(strict_crm)
    pages = [f"/invoices/{invoice_id}/" for invoice_id in invoices]

    def read(profile: str) -> list[tuple]:
        strict_crm.reset_controls(profile)
        cache.clear()
        capabilities.forget()
        forget_cached_tokens()
        sign_in(client, strict_crm.api_url, person, data_access)
        found = []
        for url in pages:
            response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
            assert response.status_code == 200, (profile, url)
            text = response.content.decode()
            assert BOX_FAILED not in text, (profile, url)
            found.append(
                (PAYMENT_ROW.findall(text), ATTACHMENT.findall(text), STAGE_SHOWN.findall(text))
            )
        return found

    default, strict = read("default"), read("strict")
    assert default[0][0] and default[1][1]  # payments, an attachment: the test means something
    assert strict == default  # the stage too: the strict CRM's English label is the demo's key
    if data_access != "staff":
        log = strict_crm.control("GET", "requests").json()["requests"]
        refused = [e for e in log if e["path"].endswith("/payments") and e["status"] == 403]
        assert refused and len(refused) == 1  # asked once, then remembered
        in_use = async_to_sync(capabilities.fallbacks_in_use)()
        assert any(name.endswith("Invoice.payments") for name in in_use), in_use


def test_stages_show_the_crms_labels_in_the_contacts_language(client, strict_crm, strict_demo):
    """The strict CRM's quote stage `Zugestellt` is labelled `Delivered` in English and
    `Zugestellt` in German: the page shows the label in the contact's language, never a
    raw key in the wrong language; and it still counts as awaiting a decision."""
    quote = new_awaiting_quote(strict_crm, strict_demo.main.account_id, strict_demo.main.contact_id)
    assert quote["quote_stage"] == "Zugestellt"
    sign_in(client, strict_crm.api_url, strict_demo.main)
    english = client.get(f"/quotes/{quote['id']}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<dd>Delivered</dd>" in english and "<dd>Zugestellt</dd>" not in english
    assert 'class="badge badge--awaiting"' in english
    german = client.get(f"/quotes/{quote['id']}/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "<dd>Zugestellt</dd>" in german
    awaiting = client.get("/quotes/?status=awaiting", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"/quotes/{quote['id']}/" in awaiting


def test_a_cases_notes_when_the_crm_refuses_the_contact_the_link(client, strict_crm, strict_demo):
    """`/data/aCase/{id}/notes` refused to the contact's token: read with the staff
    credential once the case was checked, so the conversation is the same."""
    strict_crm.reset_controls("default")
    api, token = strict_crm.api_url, staff_token(strict_crm.api_url)
    headers = {"Authorization": f"Bearer {token}"}
    status = strict_crm.key("aCase", "status", "Active - New")
    data = {"name": "Fallback case", "account_id": strict_demo.main.account_id, "status": status}
    case_id = httpx.post(f"{api}/data/aCase", json={"data": data}, headers=headers).json()["id"]
    upload = httpx.post(
        f"{api}/files/upload",
        content=b"fallback bytes",
        headers={**headers, "Content-Type": "text/plain", "X-OneCRM-Filename": "report.txt"},
    ).json()["id"]
    note = {"name": "Report", "description": "Our reply", "filename": upload,
            "parent_type": "Cases", "parent_id": case_id, "portal_flag": True}  # fmt: skip
    httpx.post(f"{api}/data/Note", json={"data": note}, headers=headers).raise_for_status()
    link = re.compile(rf'href="/cases/{case_id}/attachments/([0-9a-f-]+)"')

    def read(profile: str) -> list[str]:
        strict_crm.reset_controls(profile)
        cache.clear()
        capabilities.forget()
        forget_cached_tokens()
        sign_in(client, api, strict_demo.main)
        response = client.get(f"/cases/{case_id}/")
        assert response.status_code == 200
        assert BOX_FAILED not in response.content.decode(), profile
        return link.findall(response.content.decode())

    default = read("default")
    assert default and read("strict") == default
