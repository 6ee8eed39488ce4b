"""Fixtures for the attack, fault and bad-input suite.

`world` looks the demo data up once per session (staff credential, straight from the
emulator) and names every id the access matrix needs, from contact A's point of view:
A's own records, records of A's colleague on the same account, records of contact B on
another account, plus a contact that staff will block.

`sign_in_via_crm` signs a contact in the way a browser does: /login/oauth/ → the CRM's
sign-in page → /login/oauth/callback/, so the session holds whatever credential the
installation's `ONECRM_DATA_ACCESS` gives (a real contact token, a minted token, or
none for staff mode).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import pytest

from crm_emulator.demo_data import LARGE_DOCUMENT
from portal.models import DEFAULT_INVOICE_STAGES, DEFAULT_QUOTE_STAGES
from tests.emulator_server import EmulatorServer
from tests.pages.conftest import staff_get, staff_token
from tests.signin.crm_signin import CALLBACK, authorize_at_crm, query_of

# A malformed id: quotes, a tag and a percent sign (decoded by Django before the view).
MALFORMED_ID = "x%27%22%3Cscript%3Ealert(1)"


@dataclass(frozen=True)
class Person:
    contact_id: str
    account_id: str
    email: str


@dataclass(frozen=True)
class World:
    a: Person
    colleague: Person
    b: Person
    blocked: Person
    # ids[model][kind], kind: own (A's), colleague, foreign (B's), missing, malformed.
    ids: dict[str, dict[str, str]]
    # (invoice id, note id) pairs for /invoices/<id>/attachments/<note>.
    attachments: dict[str, tuple[str, str]]

    def secret_ids(self, *people: str) -> set[str]:
        """Ids that exist and belong to the given people's records ('own', 'colleague',
        'foreign'), for asserting that nothing names them."""
        found = {self.ids[model][kind] for model in self.ids for kind in people}
        for kind in people:
            found.update(self.attachments[kind])
        return found


def _records(api: str, token: str, path: str, fields: list[str], **filters: str) -> list[dict]:
    params = [("fields[]", name) for name in fields] + [("limit", "200")]
    params += [(f"filters[{key}]", value) for key, value in filters.items()]
    found: list[dict] = []
    while True:
        reply = staff_get(api, token, path, [*params, ("offset", str(len(found)))])
        found += reply["records"]
        if not reply["records"] or len(found) >= int(reply.get("total_results") or 0):
            return found


@pytest.fixture(scope="session")
def world(emulator: EmulatorServer) -> World:
    api = emulator.api_url
    token = staff_token(api)
    contacts = [
        c
        for c in _records(
            api, token, "/data/Contact", ["email1", "primary_account_id", "portal_active"]
        )
        if c.get("primary_account_id") and c.get("portal_active") in (True, 1, "1")
    ]
    invoices = [
        i
        for i in _records(
            api,
            token,
            "/data/Invoice",
            ["billing_account_id", "billing_contact_id", "shipping_stage"],
        )
        if i.get("shipping_stage") in DEFAULT_INVOICE_STAGES
    ]
    quotes = [
        q
        for q in _records(
            api, token, "/data/Quote", ["billing_account_id", "billing_contact_id", "quote_stage"]
        )
        if q.get("quote_stage") in DEFAULT_QUOTE_STAGES
    ]
    visible_invoice = {i["id"]: i for i in invoices}
    notes = [
        n
        for n in _records(
            api,
            token,
            "/data/Note",
            ["parent_type", "parent_id", "portal_flag", "filename", "account_id"],
        )
        if n.get("parent_type") == "Invoice"
        and n.get("portal_flag") in (True, 1, "1")
        and n.get("filename")
        and n.get("parent_id") in visible_invoice
    ]

    def billed(records: list[dict], contact_id: str) -> dict | None:
        return next((r for r in records if r.get("billing_contact_id") == contact_id), None)

    def attachment_of(account_id: str) -> dict | None:
        return next(
            (
                n
                for n in notes
                if visible_invoice[n["parent_id"]]["billing_account_id"] == account_id
            ),
            None,
        )

    def documents_of(account_id: str) -> list[str]:
        path = f"/data/Account/{account_id}/documents"
        return [
            d["id"] for d in _records(api, token, path, ["name"]) if d["id"] != LARGE_DOCUMENT.id
        ]

    per_account: dict[str, list[dict]] = {}
    for contact in contacts:
        per_account.setdefault(contact["primary_account_id"], []).append(contact)

    def usable(contact: dict) -> bool:
        return bool(billed(invoices, contact["id"]) and billed(quotes, contact["id"]))

    # A and the colleague: one account, both with invoices, quotes and an attachment.
    pair = next(
        (
            people
            for account, people in sorted(per_account.items())
            if len([p for p in people if usable(p)]) >= 2
            and attachment_of(account)
            and len(documents_of(account)) >= 2
        ),
        None,
    )
    assert pair, "the demo data has an account with two portal contacts"
    a, colleague = [p for p in pair if usable(p)][:2]
    b = next(
        p
        for p in contacts
        if p["primary_account_id"] != a["primary_account_id"]
        and usable(p)
        and attachment_of(p["primary_account_id"])
        and documents_of(p["primary_account_id"])
    )
    blocked = next(
        p
        for p in contacts
        if p["primary_account_id"] not in {a["primary_account_id"], b["primary_account_id"]}
    )

    def person(data: dict) -> Person:
        return Person(data["id"], data["primary_account_id"], data["email1"])

    a_docs = documents_of(a["primary_account_id"])
    b_docs = documents_of(b["primary_account_id"])
    ids: dict[str, dict[str, str]] = {}
    for model, records in (("Invoice", invoices), ("Quote", quotes)):
        ids[model] = {
            "own": billed(records, a["id"])["id"],  # type: ignore[index]
            "colleague": billed(records, colleague["id"])["id"],  # type: ignore[index]
            "foreign": billed(records, b["id"])["id"],  # type: ignore[index]
        }
    # Documents hang off the account: the colleague's is a second one of the same account.
    ids["Document"] = {"own": a_docs[0], "colleague": a_docs[1], "foreign": b_docs[0]}
    for model in ids:
        ids[model]["missing"] = str(uuid.uuid4())
        ids[model]["malformed"] = MALFORMED_ID
    note_a = attachment_of(a["primary_account_id"])
    note_b = attachment_of(b["primary_account_id"])
    assert note_a and note_b
    attachments = {
        "own": (note_a["parent_id"], note_a["id"]),
        # The same account's attachment, reached by the colleague.
        "colleague": (note_a["parent_id"], note_a["id"]),
        "foreign": (note_b["parent_id"], note_b["id"]),
        "missing": (str(uuid.uuid4()), str(uuid.uuid4())),
        "malformed": (MALFORMED_ID, MALFORMED_ID),
        # Mixed pairs: a visible invoice with someone else's note, and the reverse.
        "own+foreign-note": (note_a["parent_id"], note_b["id"]),
        "foreign+own-note": (note_b["parent_id"], note_a["id"]),
    }
    return World(person(a), person(colleague), person(b), person(blocked), ids, attachments)


async def sign_in_via_crm(client, crm: EmulatorServer, email: str) -> None:
    """The browser's OAuth round trip, driven with the AsyncClient and the CRM's page."""
    start = await client.get("/login/oauth/", {"next": "/"})
    assert start.status_code == 302, start.status_code
    back = await asyncio.to_thread(authorize_at_crm, start["Location"], email)
    assert back.startswith(CALLBACK), back
    done = await client.get("/login/oauth/callback/", query_of(back))
    assert done.status_code == 302 and done["Location"] == "/", (done.status_code, done.content)


def crm_log(crm: EmulatorServer) -> list[dict]:
    return crm.control("GET", "requests").json()["requests"]
