"""The portal's own wall, before and after the CRM: allow-list refusals without a call,
scope filters on every list, every returned record checked (scripted CRM that leaks)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx2 as httpx
import pytest

from crm_gateway import (
    DEFAULT_ALLOWLIST,
    CheckedRecord,
    ContactGateway,
    ContactScope,
    Filter,
    Invoice,
    ListQuery,
    NotAllowed,
    NotFound,
    Payment,
    Quote,
)
from crm_gateway.models import Account, Contact, Document
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
    narrowed = ContactGateway(
        SCOPE, data_access="staff", allowlist=DEFAULT_ALLOWLIST.narrowed(models={"Quote"})
    )
    with pytest.raises(NotAllowed):
        await narrowed.list_records(Invoice)
    assert scripted.requests == []


def test_narrowed_never_widens():
    narrowed = DEFAULT_ALLOWLIST.narrowed(
        models={"Invoice", "aCase", "User"},
        fields={"Invoice": {"name", "assigned_user_id"}},
        endpoints={"Invoice": {"tally", "files"}},
        links={"Invoice": {"payments", "line_groups"}},
    )
    assert set(narrowed.models) == {"Invoice"}
    rule = narrowed.rule("Invoice")
    assert rule.fields == {"id", "name"}
    assert rule.endpoints == {"tally"}
    assert dict(rule.links) == {"payments": "Payment"}
    again = narrowed.narrowed(models={"Invoice", "Quote"})
    assert set(again.models) == {"Invoice"}


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


async def test_iter_records_pages_by_200(scripted, staff_gateway):
    rows = [invoice(f"{i:x}", MINE) for i in range(450)]

    def page(request):
        params = dict(query_of(request))
        offset, limit = int(params["offset"]), int(params["limit"])
        assert limit == 200
        return httpx.Response(
            200, json={"records": rows[offset : offset + limit], "total_results": len(rows)}
        )

    scripted.on("GET", "/data/Invoice", page)
    ids = [record.id async for record in staff_gateway.iter_records(Invoice)]
    assert len(ids) == 450 and len(set(ids)) == 450
    assert scripted.count("GET", "/data/Invoice") == 3


async def test_iter_records_keeps_paging_past_dropped_records(scripted, staff_gateway):
    # A leaky CRM: page one is mostly someone else's, page two holds the contact's own.
    rows = [invoice(f"a{i:x}", OTHER) for i in range(200)] + [
        invoice(f"b{i:x}", MINE) for i in range(50)
    ]

    def page(request):
        params = dict(query_of(request))
        offset = int(params["offset"])
        return httpx.Response(
            200, json={"records": rows[offset : offset + 200], "total_results": len(rows)}
        )

    scripted.on("GET", "/data/Invoice", page)
    ids = [record.id async for record in staff_gateway.iter_records(Invoice)]
    assert len(ids) == 50 and all(i.startswith("b") for i in ids)


def test_scope_validates_ids():
    with pytest.raises(ValueError):
        ContactScope(contact_id="../x", account_id=None)
    assert "token" not in repr(ContactScope(contact_id="ab", account_id=None))
