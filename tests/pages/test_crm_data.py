"""portal.crm_data without a CRM: what the page glue refuses and how it degrades."""

from __future__ import annotations

import asyncio

import pytest
from django.test import RequestFactory

from crm_gateway import ContactGateway, ContactScope, Quote, errors
from portal.crm_data import bounded_gather, contact_scope, data_access_for, decide_quote
from portal.signin.session import SignedInContact

CONTACT = "7aee3203-1bde-4b94-98d8-16ba6a1b410f"
ACCOUNT = "520a0e57-bed3-48ef-8d2c-e64574fb9d5a"


def request_for(**changes):
    request = RequestFactory().get("/")
    fields = {
        "contact_id": CONTACT,
        "account_id": ACCOUNT,
        "name": "Jonas",
        "account_name": "M",
        "email": "j@example.com",
        "data_access": "portal_auth",
        "tokens": {},
    }
    request.contact = SignedInContact(**(fields | changes))
    return request


def test_scope_comes_from_the_session_contact():
    scope = contact_scope(request_for())
    assert (scope.contact_id, scope.account_id, scope.credential) == (CONTACT, ACCOUNT, None)
    assert contact_scope(request_for(account_id="")).account_id is None
    with_tokens = contact_scope(
        request_for(tokens={"access_token": "a" * 40, "expires_at": 9e9, "kind": "contact"})
    )
    assert with_tokens.credential is not None
    assert "a" * 40 not in repr(with_tokens)


def test_unknown_data_access_falls_back_to_portal_auth():
    assert data_access_for(request_for(data_access="nonsense")) == "portal_auth"
    assert data_access_for(request_for(data_access="staff")) == "staff"


async def test_a_quote_not_checked_by_the_gateway_is_never_written():
    gateway = ContactGateway(ContactScope(CONTACT, ACCOUNT), data_access="portal_auth")
    forged = Quote(id="0ab35e73-6885-40a5-bad9-ae82a5ce0020")
    with pytest.raises(errors.NotAllowed):
        await decide_quote(gateway, forged, stage="Closed Accepted", who="x", decision="Accepted")  # type: ignore[arg-type]


async def test_bounded_gather_limits_and_blanks_failures():
    running = 0
    peak = 0

    async def call(n: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        if n == 3:
            raise errors.CrmTimeout("slow")
        return n

    results = await bounded_gather((call(n) for n in range(10)), limit=4)
    assert results == [0, 1, 2, None, 4, 5, 6, 7, 8, 9]
    assert peak == 4
