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

import httpx2 as httpx
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
    # (case id, note id) pairs for /cases/<id>/attachments/<note>, the same kinds.
    case_files: dict[str, tuple[str, str]]
    # Knowledge-base articles: own and colleague are published (everyone's), foreign is
    # one staff did not publish; missing, malformed. Not anybody's records.
    articles: dict[str, str]
    # Categories: own and colleague published, foreign not; and (article, note) pairs of
    # an article's attachment: own, foreign = a published article with another's note.
    categories: dict[str, str]
    article_files: dict[str, tuple[str, str]]
    # What a list's search finds one record by (an invoice's number, a document's name),
    # for ids[model]'s own, colleague and foreign records; missing: a term nothing has.
    terms: dict[str, dict[str, str]]

    def secret_ids(self, *people: str) -> set[str]:
        """Ids that exist and belong to the given people's records ('own', 'colleague',
        'foreign'), for asserting that nothing names them."""
        found = {self.ids[model][kind] for model in self.ids for kind in people}
        for kind in people:
            found.update(self.attachments[kind])
            found.update(self.case_files[kind])
        return found


def _records(api: str, token: str, path: str, fields: list[str], **filters: str) -> list[dict]:
    params = [("fields[]", name) for name in fields] + [("limit", "200"), ("view_closed", "1")]
    params += [(f"filters[{key}]", value) for key, value in filters.items()]
    found: list[dict] = []
    while True:
        reply = staff_get(api, token, path, [*params, ("offset", str(len(found)))])
        found += reply["records"]
        if not reply["records"] or len(found) >= int(reply.get("total_results") or 0):
            return found


@pytest.fixture(scope="session")
def world(emulator: EmulatorServer) -> World:
    # Set up by whichever test needs it first, after any other test: not under the
    # switches that test's predecessor left (a three-second token life, say). Each test's
    # own `crm` resets them again.
    emulator.reset_controls()
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
            ["billing_account_id", "billing_contact_id", "shipping_stage", "full_number"],
        )
        if emulator.demo_value("Invoice", "shipping_stage", i.get("shipping_stage"))
        in DEFAULT_INVOICE_STAGES
    ]
    quotes = [
        q
        for q in _records(
            api, token, "/data/Quote", ["billing_account_id", "billing_contact_id", "quote_stage"]
        )
        if emulator.demo_value("Quote", "quote_stage", q.get("quote_stage")) in DEFAULT_QUOTE_STAGES
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

    document_names: dict[str, str] = {}

    def documents_of(account_id: str) -> list[str]:
        path = f"/data/Account/{account_id}/documents"
        found = [
            d for d in _records(api, token, path, ["document_name"]) if d["id"] != LARGE_DOCUMENT.id
        ]
        document_names.update({d["id"]: d["document_name"] for d in found})
        return [d["id"] for d in found]

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
    number = {i["id"]: i["full_number"] for i in invoices}
    terms = {
        "Invoice": {kind: number[ids["Invoice"][kind]] for kind in ("own", "colleague", "foreign")},
        "Document": {
            kind: document_names[ids["Document"][kind]] for kind in ("own", "colleague", "foreign")
        },
    }
    for model in terms:
        terms[model]["missing"] = "no-such-record-anywhere"
    # Each term finds its one record: no other document bears that name.
    assert len(set(document_names.values())) == len(document_names), "document names repeat"
    # The emulator's first PDF parses its fonts (seconds on a loaded machine): not in a
    # cell, where it would run into the portal's read timeout.
    httpx.get(
        f"{api}/printer/pdf/Invoice/{ids['Invoice']['own']}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    ).raise_for_status()
    new_status = emulator.key("aCase", "status", "Active - New")
    case_ids, case_files = _cases(
        api, token, a["primary_account_id"], b["primary_account_id"], new_status
    )
    ids["aCase"] = case_ids
    articles, categories, article_files = _knowledge(api, token)
    return World(
        person(a),
        person(colleague),
        person(b),
        person(blocked),
        ids,
        attachments,
        case_files,
        articles,
        categories,
        article_files,
        terms,
    )


def _cases(api: str, token: str, account_a: str, account_b: str, new_status: str):
    """Cases are the account's: A's own, a second case of A's account (what the colleague
    reaches too), and B's; each with a portal note that has a file, where there is one."""
    for account in (account_a, account_a, account_b):
        _case_with_file(api, token, account, new_status)
    cases = _records(api, token, "/data/aCase", ["account_id"])
    notes = [
        n
        for n in _records(
            api, token, "/data/Note", ["parent_type", "parent_id", "portal_flag", "filename"]
        )
        if n.get("parent_type") == "Cases"
        and n.get("portal_flag") in (True, 1, "1")
        and n.get("filename")
    ]
    with_file = {n["parent_id"]: n["id"] for n in notes}
    a_cases = sorted(
        (c["id"] for c in cases if c.get("account_id") == account_a),
        key=lambda i: i not in with_file,
    )
    b_cases = sorted(
        (c["id"] for c in cases if c.get("account_id") == account_b),
        key=lambda i: i not in with_file,
    )
    assert len(a_cases) >= 2 and b_cases and a_cases[0] in with_file and b_cases[0] in with_file
    ids = {"own": a_cases[0], "colleague": a_cases[1], "foreign": b_cases[0],
           "missing": str(uuid.uuid4()), "malformed": MALFORMED_ID}  # fmt: skip
    own = (a_cases[0], with_file[a_cases[0]])
    foreign = (b_cases[0], with_file[b_cases[0]])
    files = {
        "own": own,
        "colleague": own,
        "foreign": foreign,
        "missing": (str(uuid.uuid4()), str(uuid.uuid4())),
        "malformed": (MALFORMED_ID, MALFORMED_ID),
        "own+foreign-note": (own[0], foreign[1]),
        "foreign+own-note": (foreign[0], own[1]),
    }
    return ids, files


def _case_with_file(api: str, token: str, account_id: str, status: str) -> None:
    """One more case of the account with a portal note that has a file (staff writes it,
    as the CRM's users would): the demo accounts have few cases."""
    headers = {"Authorization": f"Bearer {token}"}
    data = {"name": "Matrix case", "account_id": account_id, "status": status}
    case = httpx.post(f"{api}/data/aCase", json={"data": data}, headers=headers, timeout=10)
    case.raise_for_status()
    upload = httpx.post(
        f"{api}/files/upload",
        content=b"matrix bytes",
        headers={**headers, "Content-Type": "text/plain", "X-OneCRM-Filename": "matrix.txt"},
        timeout=10,
    )
    note = {"name": "Report", "filename": upload.json()["id"], "parent_type": "Cases",
            "parent_id": case.json()["id"], "portal_flag": True}  # fmt: skip
    httpx.post(
        f"{api}/data/Note", json={"data": note}, headers=headers, timeout=10
    ).raise_for_status()


def _knowledge(api: str, token: str):
    from crm_emulator.demo_support import UNPUBLISHED_ARTICLE_SLUG

    articles = _records(api, token, "/data/KBArticle", ["slug", "portal_active", "category_id"])
    categories = {
        c["id"]: c for c in _records(api, token, "/data/KBCategory", ["parent_id", "portal_active"])
    }

    def reachable(category_id: str) -> bool:
        category = categories.get(category_id)
        while category is not None and category.get("portal_active") in (True, 1, "1"):
            if not category.get("parent_id"):
                return True
            category = categories.get(category["parent_id"])
        return False

    published = [
        a["id"]
        for a in articles
        if a.get("portal_active") in (True, 1, "1") and reachable(a["category_id"])
    ]
    hidden = next(a["id"] for a in articles if a.get("slug") == UNPUBLISHED_ARTICLE_SLUG)
    shown = [c for c in categories if reachable(c)]
    not_shown = [c for c in categories if not reachable(c)]
    files = [
        n
        for n in _records(api, token, "/data/Note", ["parent_type", "parent_id", "filename"])
        if n.get("parent_type") == "KBArticles"
        and n.get("filename")
        and n["parent_id"] in published
    ]
    other_article = next(a for a in published if a != files[0]["parent_id"])
    missing = (str(uuid.uuid4()), str(uuid.uuid4()))
    return (
        {"own": published[0], "colleague": published[1], "foreign": hidden,
         "missing": str(uuid.uuid4()), "malformed": MALFORMED_ID},
        {"own": shown[0], "colleague": shown[1], "foreign": not_shown[0],
         "missing": str(uuid.uuid4()), "malformed": MALFORMED_ID},
        {"own": (files[0]["parent_id"], files[0]["id"]),
         "colleague": (files[1]["parent_id"], files[1]["id"]),
         "foreign": (other_article, files[0]["id"]), "missing": missing,
         "malformed": (MALFORMED_ID, MALFORMED_ID)},
    )  # fmt: skip


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
