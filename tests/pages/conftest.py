"""Fixtures for the customer pages: the emulator's demo people and a signed-in test client.

`demo` looks the demo contacts up once per session (with the staff credential, straight
from the emulator): `demo.main` is a contact of the account with the most invoices,
`demo.other` a contact of another account, so every "another account's id" test has
real ids on both sides.

`signed_in(client, contact, data_access=...)` puts a `SignedInContact` into the test
client's session the way the lead's sign-in does; for `portal_auth` it also mints the
contact's token with a raw `POST /portal/auth` (staff token), like the sign-in flow.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib import import_module

import httpx2 as httpx
import pytest
from django.conf import settings
from django.test import Client

from crm_gateway import CallLog, Locale, forget_cached_tokens
from portal.formatting import CrmLocale
from portal.signin.session import SESSION_KEY, SignedInContact
from tests.emulator_server import EmulatorServer, staff_token


@dataclass(frozen=True)
class DemoContact:
    contact_id: str
    account_id: str
    name: str
    email: str
    account_name: str


@dataclass(frozen=True)
class Demo:
    main: DemoContact
    other: DemoContact
    # A record of `other`'s account for each model (ids that exist but are not main's).
    foreign: dict[str, str]
    # One record of main's account per model.
    own: dict[str, str]


def staff_get(
    api_url: str,
    token: str,
    path: str,
    params: list[tuple[str, str]],
    accept_language: str | None = None,
) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if accept_language:
        headers["Accept-Language"] = accept_language
    reply = httpx.get(f"{api_url}{path}", params=params, headers=headers, timeout=10)
    reply.raise_for_status()
    return reply.json()


def _records(api_url: str, token: str, model: str, fields: list[str], **filters: str) -> list:
    params = [("fields[]", name) for name in fields] + [("limit", "200")]
    params += [(f"filters[{key}]", value) for key, value in filters.items()]
    return staff_get(api_url, token, f"/data/{model}", params)["records"]


@pytest.fixture(scope="session")
def demo(emulator: EmulatorServer) -> Demo:
    emulator.reset_controls()  # not under switches an earlier test left (a short token life)
    return demo_of(emulator)


def demo_of(emulator: EmulatorServer) -> Demo:
    """The demo people and records of one server (read with the staff credential)."""
    api = emulator.api_url
    token = staff_token(api)
    accounts = {a["id"]: a["name"] for a in _records(api, token, "Account", ["name"])}
    contacts = [
        c
        for c in _records(
            api,
            token,
            "Contact",
            ["first_name", "last_name", "email1", "primary_account_id", "portal_active"],
        )
        if c.get("primary_account_id") and c.get("portal_active") in (True, 1, "1")
    ]
    invoices = _records(api, token, "Invoice", ["billing_account_id"])
    per_account = Counter(i["billing_account_id"] for i in invoices)
    ranked = sorted({c["primary_account_id"] for c in contacts}, key=lambda a: -per_account[a])
    main_account, other_account = ranked[0], ranked[1]

    def person(account_id: str) -> DemoContact:
        contact = next(c for c in contacts if c["primary_account_id"] == account_id)
        return DemoContact(
            contact_id=contact["id"],
            account_id=account_id,
            name=f"{contact.get('first_name', '')} {contact.get('last_name', '')}".strip(),
            email=contact.get("email1") or "",
            account_name=accounts.get(account_id, ""),
        )

    def first(model: str, account_field: str, account_id: str) -> str:
        return _records(api, token, model, [account_field], **{account_field: account_id})[0]["id"]

    def document(account_id: str) -> str:
        """A small document of the account (not the 200 MiB one: tests stay fast)."""
        path = f"/data/Account/{account_id}/documents"
        params = [("fields[]", "name"), ("fields[]", "is_large_file"), ("limit", "200")]
        records = staff_get(api, token, path, params)["records"]
        return next(r["id"] for r in records if not r.get("is_large_file"))

    foreign = {
        "Invoice": first("Invoice", "billing_account_id", other_account),
        "Quote": first("Quote", "billing_account_id", other_account),
        "Document": document(other_account),
    }
    own = {
        "Invoice": first("Invoice", "billing_account_id", main_account),
        "Quote": first("Quote", "billing_account_id", main_account),
        "Document": document(main_account),
    }
    return Demo(person(main_account), person(other_account), foreign, own)


def new_awaiting_quote(crm, account_id: str, contact_id: str) -> dict:
    """A fresh quote waiting for the contact (tests that decide must not share one)."""
    valid = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=20)).isoformat()
    number = f"Q-T{dt.datetime.now(dt.UTC).strftime('%H%M%S%f')}"
    stage = crm.key("Quote", "quote_stage", "Delivered")
    data = {"name": "Test offer", "full_number": number, "quote_stage": stage,
            "valid_until": valid, "billing_account_id": account_id,
            "billing_contact_id": contact_id, "amount": "100.00"}  # fmt: skip
    reply = httpx.post(
        f"{crm.api_url}/data/Quote",
        json={"data": data},
        headers={"Authorization": f"Bearer {staff_token(crm.api_url)}"},
        timeout=10,
    )
    reply.raise_for_status()
    return {"id": reply.json()["id"], "full_number": number, "quote_stage": stage}


def mint_portal_token(api_url: str, contact_id: str) -> dict:
    reply = httpx.post(
        f"{api_url}/portal/auth",
        json={"contact_id": contact_id},
        headers={"Authorization": f"Bearer {staff_token(api_url)}"},
        timeout=10,
    )
    reply.raise_for_status()
    body = reply.json()
    return {
        "access_token": body["access_token"],
        "refresh_token": body.get("refresh_token"),
        "expires_at": time.time() + float(body.get("expires_in") or 3600),
        "kind": "portal",
    }


def signed_in_contact(
    api_url: str, person: DemoContact, data_access: str = "portal_auth"
) -> SignedInContact:
    tokens = mint_portal_token(api_url, person.contact_id) if data_access != "staff" else {}
    return SignedInContact(
        contact_id=person.contact_id,
        account_id=person.account_id,
        name=person.name,
        account_name=person.account_name,
        email=person.email,
        data_access=data_access,
        tokens=tokens,
    )


def sign_in(
    client: Client, api_url: str, person: DemoContact, data_access: str = "portal_auth"
) -> SignedInContact:
    contact = signed_in_contact(api_url, person, data_access)
    session = client.session
    session[SESSION_KEY] = asdict(contact)
    session.save()
    return contact


@pytest.fixture
def crm_pages(crm: EmulatorServer, settings) -> EmulatorServer:
    """The emulator, no cached tokens, and a clean request log."""
    settings.ONECRM_DATA_ACCESS = "portal_auth"
    forget_cached_tokens()
    crm.control("DELETE", "requests")
    return crm


@pytest.fixture
def contact_client(crm_pages: EmulatorServer, demo: Demo, client: Client, db) -> Client:
    sign_in(client, crm_pages.api_url, demo.main)
    crm_pages.control("DELETE", "requests")
    return client


@pytest.fixture
async def async_contact_client(
    crm_pages: EmulatorServer, demo: Demo, async_client, transactional_db
):
    """An AsyncClient signed in as `demo.main` (for streamed bodies: PDFs, downloads)."""
    contact = signed_in_contact(crm_pages.api_url, demo.main)
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = asdict(contact)
    await store.asave()
    async_client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    crm_pages.control("DELETE", "requests")
    return async_client


async def streamed(response) -> bytes:
    return b"".join([chunk async for chunk in response.streaming_content])


@contextlib.contextmanager
def counted_calls() -> Iterator[CallLog]:
    """Every CRM call the portal makes in this block, in a `crm_gateway.CallLog` (the
    test client's requests, sync or async, run in copies of this context)."""
    with CallLog() as log:
        yield log


def crm_requests(crm: EmulatorServer) -> list[dict]:
    return crm.control("GET", "requests").json()["requests"]


_VOLATILE = [
    re.compile(rb'nonce="[^"]*"'),
    re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"'),
    re.compile(rb'"X-CSRFToken": "[^"]*"'),
]


def stable_bytes(content: bytes) -> bytes:
    """A page without its per-response randomness (CSP nonce, masked CSRF token)."""
    for pattern in _VOLATILE:
        content = pattern.sub(b"<volatile>", content)
    return content


def locale_from_reply(reply: dict) -> CrmLocale:
    """The portal's locale for a `/meta/locale` reply, parsed as the gateway parses it."""
    return CrmLocale.from_locale(Locale.from_json(reply))
