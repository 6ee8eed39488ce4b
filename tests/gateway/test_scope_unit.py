"""The portal's own wall, before and after the CRM: allow-list refusals without a call,
scope filters on every list, every returned record checked (scripted CRM that leaks)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx2 as httpx
import pytest

from crm_gateway import (
    Account,
    CheckedRecord,
    Contact,
    ContactGateway,
    ContactScope,
    Document,
    Filter,
    Invoice,
    ListQuery,
    NotAllowed,
    NotFound,
    Payment,
    Quote,
)
from crm_gateway.scope import seal
from tests.gateway.conftest import reply, token_reply

MINE = "aaaaaaaa-0000-0000-0000-000000000001"
OTHER = "bbbbbbbb-0000-0000-0000-000000000002"
CONTACT = "cccccccc-0000-0000-0000-000000000003"
SCOPE = ContactScope(contact_id=CONTACT, account_id=MINE)


def invoice(record_id: str, account: str) -> dict:
    return {"id": record_id, "name": "I", "billing_account_id": account, "amount": "10.00"}


@pytest.fixture
def staff_gateway(scripted) -> ContactGateway:
    scripted.on("POST", "/auth/user/access_token", token_reply("staff-token"))
    return ContactGateway(SCOPE, data_access="staff")


def query_of(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.url.query.decode(), keep_blank_values=True)


async def test_list_adds_scope_filters_last_and_drops_leaked_records(scripted, staff_gateway):
    leaked = [invoice("1", MINE), invoice("2", OTHER), {"id": "3", "name": "no account"}]
    scripted.on("GET", "/data/Invoice", reply(200, {"records": leaked, "total_results": 3}))
    page = await staff_gateway.list_records(Invoice, ListQuery(filter_text="x"))
    assert [r.id for r in page.records] == ["1"]
    assert page.total == 1
    assert isinstance(page.records[0].record.amount, object)
    params = query_of(scripted.requests[-1])
    filters = [item for item in params if item[0].startswith("filters[")]
    assert filters[-1] == ("filters[billing_account_id]", MINE)
    assert ("fields[]", "billing_account_id") in params


async def test_scope_filter_cannot_be_overridden_by_the_caller(scripted, staff_gateway):
    with pytest.raises(NotAllowed):
        await staff_gateway.list_records(
            Invoice, ListQuery(filters=(Filter("billing_account_id", OTHER),))
        )
    assert scripted.requests == []


@pytest.mark.parametrize(
    "bad_id", ["../Account/x", "ABC", "1 OR 1=1", "", "a" * 65, "abc\n", "%2e%2e", "é"]
)
async def test_malformed_ids_are_not_found_before_any_call(scripted, staff_gateway, bad_id):
    with pytest.raises(NotFound):
        await staff_gateway.get_record(Invoice, bad_id)
    assert scripted.requests == []


async def test_get_of_another_accounts_record_is_not_found(scripted, staff_gateway):
    scripted.on("GET", "/data/Invoice/2", reply(200, {"record": invoice("2", OTHER)}))
    with pytest.raises(NotFound):
        await staff_gateway.get_record(Invoice, "2")


async def test_get_with_mismatched_id_is_not_found(scripted, staff_gateway):
    scripted.on("GET", "/data/Invoice/1", reply(200, {"record": invoice("9", MINE)}))
    with pytest.raises(NotFound):
        await staff_gateway.get_record(Invoice, "1")


async def test_own_records_only_for_account_and_contact(scripted, staff_gateway):
    with pytest.raises(NotFound):
        await staff_gateway.get_record(Account, OTHER)
    with pytest.raises(NotFound):
        await staff_gateway.get_record(Contact, MINE)
    with pytest.raises(NotAllowed):
        await staff_gateway.list_records(Account)
    assert scripted.requests == []


async def test_allowlist_refuses_fields_links_and_endpoints_without_a_call(scripted, staff_gateway):
    with pytest.raises(NotAllowed):
        await staff_gateway.list_records(Invoice, ListQuery(fields=("assigned_user_id",)))
    with pytest.raises(NotAllowed):
        await staff_gateway.list_records(Invoice, ListQuery(filters=(Filter("any_email", "x"),)))
    with pytest.raises(NotAllowed):
        await staff_gateway.list_records(Invoice, ListQuery(order="assigned_user_id DESC"))
    checked = seal(Invoice, invoice("1", MINE), SCOPE)
    with pytest.raises(NotAllowed):
        await staff_gateway.related(checked, "line_groups", Payment)
    with pytest.raises(NotAllowed):
        await staff_gateway.related(checked, "payments", Quote)  # wrong target
    with pytest.raises(NotAllowed):
        await staff_gateway.file_info(checked)  # files are for documents and notes
    assert scripted.requests == []


def test_checked_record_only_from_the_gateway():
    with pytest.raises(TypeError):
        CheckedRecord(Invoice, invoice("1", MINE), None, SCOPE, object())


async def test_bytes_only_from_a_record_checked_for_this_contact(scripted, staff_gateway):
    other_scope = ContactScope(contact_id="dddd", account_id=OTHER)
    foreign = seal(Document, {"id": "5", "account_id": OTHER}, other_scope)
    with pytest.raises(NotAllowed):
        async with staff_gateway.download(foreign):
            pass
    with pytest.raises(NotAllowed):
        async with staff_gateway.download(Document.from_json({"id": "5"})):  # type: ignore[arg-type]
            pass
    assert scripted.requests == []


async def test_tally_refused_when_crm_returns_a_foreign_record(scripted, staff_gateway):
    checked = seal(Invoice, invoice("1", MINE), SCOPE)
    scripted.on(
        "GET",
        "/tally/Invoice/1",
        reply(200, {"record": invoice("1", OTHER), "groups": [], "totals": {}}),
    )
    with pytest.raises(NotFound):
        await staff_gateway.tally(checked)


async def test_a_page_of_dropped_records_still_says_there_is_more(scripted, staff_gateway):
    # A leaky CRM: page one is all someone else's, page two holds the contact's own.
    rows = [invoice(f"a{i:x}", OTHER) for i in range(200)] + [
        invoice(f"b{i:x}", MINE) for i in range(50)
    ]

    def page(request):
        params = dict(query_of(request))
        offset, limit = int(params["offset"]), int(params["limit"])
        return httpx.Response(
            200, json={"records": rows[offset : offset + limit], "total_results": len(rows)}
        )

    scripted.on("GET", "/data/Invoice", page)
    first = await staff_gateway.list_records(Invoice, ListQuery(limit=200))
    assert first.records == [] and first.total == 50
    # Paging follows what the CRM said, so the dropped page does not hide the next one.
    assert (first.crm_count, first.crm_total) == (200, 250)
    second = await staff_gateway.list_records(Invoice, ListQuery(offset=200, limit=200))
    assert len(second.records) == 50 and all(r.id.startswith("b") for r in second.records)


def test_scope_validates_ids():
    with pytest.raises(ValueError):
        ContactScope(contact_id="../x", account_id=None)
    assert "token" not in repr(ContactScope(contact_id="ab", account_id=None))


def quote(record_id: str, account: str) -> dict:
    return {"id": record_id, "name": "Q", "billing_account_id": account, "quote_stage": "Delivered"}


def contact_token_gateway() -> ContactGateway:
    import time

    from crm_gateway import ContactCredential, TokenSet

    tokens = TokenSet("contact-token", None, time.time() + 3600, time.time() + 3000)
    scope = ContactScope(CONTACT, MINE, credential=ContactCredential(tokens))
    return ContactGateway(scope, data_access="contact_token")


async def test_writes_are_allow_listed_and_only_to_checked_records(scripted, staff_gateway):
    checked = seal(Quote, quote("1", MINE), SCOPE)
    with pytest.raises(NotAllowed):
        await staff_gateway.set_quote_stage(checked, "Closed Won Forever")  # not a decision
    foreign = seal(Quote, quote("2", OTHER), ContactScope(contact_id="dddd", account_id=OTHER))
    with pytest.raises(NotAllowed):
        await staff_gateway.set_quote_stage(foreign, "Closed Accepted")
    with pytest.raises(NotAllowed):
        await staff_gateway.set_quote_stage(Quote.from_json(quote("1", MINE)), "Closed Lost")  # type: ignore[arg-type]
    an_invoice = seal(Invoice, invoice("3", MINE), SCOPE)
    with pytest.raises(NotAllowed):
        await staff_gateway.set_quote_stage(an_invoice, "Closed Accepted")  # type: ignore[arg-type]
    with pytest.raises(NotAllowed):
        await staff_gateway.add_note(an_invoice, name="x", description="y")
    with pytest.raises(NotAllowed):
        await staff_gateway.add_note(foreign, name="x", description="y")
    assert scripted.requests == []


async def test_quote_stage_and_note_carry_only_the_declared_fields(scripted, staff_gateway):
    from tests.gateway.conftest import body_json

    scripted.on("PATCH", "/data/Quote/1", reply(200, {"id": "1"}))
    scripted.on("POST", "/data/Note", reply(200, {"id": "n"}))
    checked = seal(Quote, quote("1", MINE), SCOPE)
    await staff_gateway.set_quote_stage(checked, "Closed Accepted")
    await staff_gateway.add_note(checked, name="Quote Q accepted", description="by Jonas")
    patch, post = scripted.requests[-2], scripted.requests[-1]
    assert body_json(patch) == {"data": {"quote_stage": "Closed Accepted"}, "create": False}
    note = body_json(post)["data"]
    assert (note["parent_type"], note["parent_id"], note["portal_flag"]) == ("Quotes", "1", True)
    assert (note["contact_id"], note["account_id"]) == (CONTACT, MINE)


async def test_a_write_the_crm_forbids_the_contact_goes_with_the_staff_credential(scripted):
    from crm_gateway import Conflict

    scripted.on("POST", "/auth/user/access_token", token_reply("staff-token"))

    def by_credential(request):
        if request.headers["Authorization"] == "Bearer contact-token":
            return httpx.Response(403, json={"error": "forbidden"})
        return httpx.Response(200, json={"id": "1"})

    scripted.on("PATCH", "/data/Quote/1", by_credential)
    gateway = contact_token_gateway()
    checked = seal(Quote, quote("1", MINE), gateway.scope)
    await gateway.set_quote_stage(checked, "Closed Lost")
    writes = [r.headers["Authorization"] for r in scripted.requests if r.method == "PATCH"]
    assert writes == ["Bearer contact-token", "Bearer staff-token"]
    # Any other refusal is the answer: no second try with more rights.
    scripted.requests.clear()
    scripted.on("PATCH", "/data/Quote/1", reply(409, {"error": "conflict"}))
    with pytest.raises(Conflict):
        await gateway.set_quote_stage(checked, "Closed Lost")
    assert [r.method for r in scripted.requests] == ["PATCH"]
