"""A contact never reaches another account's invoices, quotes, documents or notes, through
any gateway method, in every data-access mode, even when the CRM leaks (`leaky` switch)."""

from __future__ import annotations

import pytest

from crm_gateway import (
    Account,
    Contact,
    ContactGateway,
    Document,
    Filter,
    Invoice,
    ListQuery,
    NotAllowed,
    Note,
    NotFound,
    Payment,
    Quote,
)
from crm_gateway.rest import api_path, call_json
from tests.gateway.conftest import every_record, logged
from tests.gateway.test_emulator_calls import MODES, gateway_for


async def crm_leaks_to(gateway: ContactGateway, model: str, record_id: str) -> bool:
    """Whether the CRM itself would hand this credential the record (the second wall)."""
    try:
        await call_json(
            "GET", api_path("data", model, record_id), credential=gateway._data_credential()
        )
    except NotFound:
        return False
    return True


@pytest.mark.parametrize("leaky", [False, True], ids=["scoped", "leaky"])
@pytest.mark.parametrize("mode", MODES)
async def test_no_method_reaches_another_accounts_records(crm, demo, mode, leaky):
    mine, other = demo.mine, demo.other
    gateway = gateway_for(crm, mine, mode)
    theirs = gateway_for(crm, other, mode)
    if leaky:
        crm.control("POST", "switches", json={"leaky": True})
    other_invoice = sorted(other.invoices)[0]
    other_quote = sorted(other.quotes)[0]
    other_document = sorted(other.documents)[0]
    # The test can fail: with the staff credential or a leaky CRM, the CRM itself answers.
    assert await crm_leaks_to(gateway, "Invoice", other_invoice) is (leaky or mode == "staff")

    # list, every page
    for cls, own, foreign in (
        (Invoice, mine.invoices, other.invoices),
        (Quote, mine.quotes, other.quotes),
        (Document, mine.documents, other.documents),
        (Note, mine.portal_notes, other.portal_notes),
    ):
        seen = {record.id for record in await every_record(gateway, cls)}
        assert seen == own and not seen & foreign, cls
        searched = await gateway.list_records(cls, ListQuery(filter_text="a", limit=200))
        assert not {r.id for r in searched.records} & foreign
    payments = {p.id for p in await every_record(gateway, Payment)}
    their_payments = {p.id for p in await every_record(theirs, Payment)}
    assert payments and their_payments and not payments & their_payments

    # read
    for cls, record_id in (
        (Invoice, other_invoice),
        (Quote, other_quote),
        (Document, other_document),
        (Account, other.account_id),
        (Contact, other.contact_id),
    ):
        with pytest.raises(NotFound):
            await gateway.get_record(cls, record_id)
    if other.portal_notes:
        with pytest.raises(NotFound):
            await gateway.get_record(Note, sorted(other.portal_notes)[0])
    their_document = await theirs.get_record(Document, other_document)

    # print, download, tally, file info, related: only from a record checked for this contact
    their_invoice = await theirs.get_record(Invoice, other_invoice)
    their_quote = await theirs.get_record(Quote, other_quote)
    for record in (their_invoice, their_quote):
        with pytest.raises(NotAllowed):
            async with gateway.pdf(record):
                pass
        with pytest.raises(NotAllowed):
            await gateway.tally(record)
    with pytest.raises(NotAllowed):
        await gateway.related(their_invoice, "payments", Payment)
    with pytest.raises(NotAllowed):
        async with gateway.download(their_document):
            pass
    with pytest.raises(NotAllowed):
        await gateway.file_info(their_document)

    # related lists of the contact's own records stay within the account
    own_invoice = await gateway.get_record(Invoice, sorted(mine.invoices)[0])
    related = await gateway.related(own_invoice, "payments", Payment, ListQuery(limit=200))
    assert all(p.record.account_id == mine.account_id for p in related.records)

    # Nothing of theirs was ever fetched as bytes.
    foreign_ids = other.invoices | other.quotes | other.documents
    for entry in logged(crm, "/printer/") + logged(crm, "/files/") + logged(crm, "/tally/"):
        assert entry["path"].rsplit("/", 1)[-1] not in foreign_ids or entry["contact_id"] == (
            other.contact_id
        )


@pytest.mark.parametrize("mode", MODES)
async def test_ids_from_urls_never_reach_a_staff_call_unchecked(crm, demo, mode):
    gateway = gateway_for(crm, demo.mine, mode)
    crm.control("DELETE", "requests")
    for bad in ("../../Account", "X' OR 1=1", "a/b", "A" * 10, "1%2f2", ""):
        with pytest.raises(NotFound):
            await gateway.get_record(Invoice, bad)
    with pytest.raises(NotAllowed):
        await gateway.list_records(Invoice, ListQuery(filters=(Filter("billing_account_id", "x"),)))
    assert [e for e in logged(crm) if e["path"].startswith(("/data", "/files", "/printer"))] == []


@pytest.mark.parametrize("mode", ["portal_auth", "staff"])
async def test_contact_without_an_account_sees_only_its_own(crm, demo, mode):
    import httpx2 as httpx

    from crm_gateway import ContactScope
    from tests.gateway.conftest import _staff_headers

    headers = _staff_headers(crm.api_url)
    contacts = httpx.get(
        f"{crm.api_url}/data/Contact",
        params=[("fields[]", "primary_account_id"), ("limit", "200")],
        headers=headers,
    ).json()["records"]
    loner = next(c for c in contacts if not c.get("primary_account_id"))
    gateway = ContactGateway(
        ContactScope(contact_id=loner["id"], account_id=None), data_access=mode
    )
    crm.control("POST", "switches", json={"leaky": True})
    invoices = await every_record(gateway, Invoice)
    assert all(r.record.billing_contact_id == loner["id"] for r in invoices)
    documents = {r.id for r in await every_record(gateway, Document)}
    assert not documents & (demo.mine.documents | demo.other.documents)
    assert (await gateway.list_records(Payment)).records == []
    with pytest.raises(NotFound):
        await gateway.get_record(Invoice, sorted(demo.mine.invoices)[0])
