"""Every gateway call against the emulator as a real server, in every data-access mode."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pypdf import PdfReader

from crm_gateway import (
    Account,
    CallLog,
    Contact,
    ContactCredential,
    ContactGateway,
    ContactScope,
    DateFilter,
    DateOperator,
    Document,
    Filter,
    Invoice,
    ListQuery,
    Note,
    Payment,
    Quote,
    StaffGateway,
    me,
    portal_token_credential,
)
from tests.gateway.conftest import contact_tokens, every_record, logged

MODES = ["contact_token", "portal_auth", "staff"]


def gateway_for(crm, party, mode: str) -> ContactGateway:
    credential = None
    if mode == "contact_token":
        crm.control("POST", "switches", json={"contact_token_reads_data": True})
        credential = ContactCredential(contact_tokens(crm, party.email))
    scope = ContactScope(
        contact_id=party.contact_id,
        account_id=party.account_id,
        credential=credential,
        accept_language="de",
    )
    return ContactGateway(scope, data_access=mode)


@pytest.mark.parametrize("mode", MODES)
async def test_lists_gets_and_pages_in_every_mode(crm, demo, mode):
    gateway = gateway_for(crm, demo.mine, mode)
    page = await gateway.list_records(Invoice, ListQuery(limit=5, order="due_date DESC"))
    assert len(page.records) == 5 and page.total == len(demo.mine.invoices)
    first = page.records[0].record
    assert isinstance(first, Invoice) and isinstance(first.amount, Decimal)
    assert first.billing_account_id == demo.mine.account_id
    dues = [r.record.due_date for r in page.records]
    assert dues == sorted(dues, reverse=True)

    all_ids = {r.id for r in await every_record(gateway, Invoice)}
    assert all_ids == demo.mine.invoices  # more than one page of 200? at least all of them
    assert {r.id for r in await every_record(gateway, Quote)} == demo.mine.quotes
    assert {r.id for r in await every_record(gateway, Document)} == demo.mine.documents
    assert {r.id for r in await every_record(gateway, Note)} == demo.mine.portal_notes

    checked = await gateway.get_record(Invoice, first.id)
    assert checked.record == first or checked.record.id == first.id
    assert (await gateway.get_record(Account, demo.mine.account_id)).record.name
    contact = (await gateway.get_record(Contact, demo.mine.contact_id)).record
    assert isinstance(contact, Contact) and contact.email1 == demo.mine.email


async def test_filters_with_every_date_operator_reach_the_crm(crm, demo):
    gateway = gateway_for(crm, demo.mine, "staff")
    invoice = (await gateway.list_records(Invoice, ListQuery(limit=1))).records[0].record
    day = invoice.due_date
    assert day is not None
    on = await gateway.list_records(
        Invoice, ListQuery(filters=(DateFilter("due_date", value=day),), limit=200)
    )
    assert invoice.id in {r.id for r in on.records}
    assert all(r.record.due_date == day for r in on.records)
    between = await gateway.list_records(
        Invoice,
        ListQuery(
            filters=(DateFilter("due_date", DateOperator.BETWEEN_DATES, value=day, end=day),),
            limit=200,
        ),
    )
    assert {r.id for r in between.records} == {r.id for r in on.records}
    for operator in DateOperator:
        kwargs: dict = {}
        if operator in {"before_date", "after_date", "on_date", "not_on_date"}:
            kwargs["value"] = day
        if operator == "between_dates":
            kwargs.update(value=day, end=day)
        if operator.startswith("period_"):
            kwargs["period"] = "month"
        page = await gateway.list_records(
            Invoice, ListQuery(filters=(DateFilter("due_date", operator, **kwargs),))
        )
        assert all(r.record.billing_account_id == demo.mine.account_id for r in page.records)
    before = await gateway.list_records(
        Invoice, ListQuery(filters=(DateFilter("due_date", "before_date", value=day),), limit=200)
    )
    assert all(r.record.due_date < day for r in before.records)
    staged = await gateway.list_records(
        Invoice, ListQuery(filters=(Filter("shipping_stage", ["Shipped", "Delivered"]),), limit=200)
    )
    assert {r.record.shipping_stage for r in staged.records} <= {"Shipped", "Delivered"}


@pytest.mark.parametrize("mode", MODES)
async def test_related_tally_pdf_files_in_every_mode(crm, demo, mode):
    gateway = gateway_for(crm, demo.mine, mode)
    invoices = await every_record(gateway, Invoice)
    with_payments = None
    for checked in invoices[:60]:
        payments = await gateway.related(checked, "payments", Payment)
        if payments.records:
            with_payments = payments
            break
    assert with_payments is not None
    assert all(p.record.account_id == demo.mine.account_id for p in with_payments.records)

    invoice = invoices[0]
    tally = await gateway.tally(invoice)
    assert tally.groups and isinstance(tally.totals.total, Decimal)
    assert tally.record["id"] == invoice.id

    document = info = None
    for candidate in await every_record(gateway, Document):
        info = await gateway.file_info(candidate)
        if info.size and info.size < 5_000_000:  # not the large demo file
            document = candidate
            break
    assert document is not None and info is not None
    assert info.size and info.name and "temp_url" not in info.extra
    async with gateway.download(document) as stream:
        async for _chunk in stream:
            pass
    assert stream.bytes_read == info.size == stream.content_length
    # Bytes went with the staff credential, each after a check with the data credential.
    downloads = logged(crm, "/files/download/")
    assert downloads and all(e["credential"] == "staff" for e in downloads)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("model", [Invoice, Quote])
async def test_pdf_is_a_real_pdf(crm, demo, tmp_path, settings, mode, model):
    settings.ONECRM_TIMEOUT = 10  # printing is slow work for the emulator too
    settings.ONECRM_DEADLINE = 20
    gateway = gateway_for(crm, demo.mine, mode)
    record = (await gateway.list_records(model, ListQuery(limit=1))).records[0]
    path = tmp_path / "printed.pdf"
    async with gateway.pdf(record) as stream:
        assert stream.content_type == "application/pdf"
        assert stream.filename().endswith(".pdf")
        with path.open("wb") as handle:
            async for chunk in stream:
                handle.write(chunk)
    assert path.stat().st_size == stream.bytes_read > 1000
    assert stream.content_length in (None, stream.bytes_read)
    assert len(PdfReader(path).pages) >= 1
    printed = logged(crm, "/printer/pdf/")
    assert printed and all(e["credential"] == "staff" for e in printed)


async def test_service_calls(crm, demo):
    staff = StaffGateway()
    info = await staff.version()
    assert info.version and "enterprise" in info.products
    assert info.authenticated is False
    assert (await staff.signed_in_version()).authenticated is True
    minted = await portal_token_credential(demo.mine.contact_id).authorization()
    assert minted.startswith("Bearer ") and len(minted) > 20
    assert logged(crm, "/portal/auth", "POST")[-1]["status"] == 200
    found = await staff.find_contacts_by_email(demo.mine.email.upper())
    assert [c.id for c in found] == [demo.mine.contact_id]
    assert await staff.find_contacts_by_email("example.com") == []  # substrings are not people
    locale = await staff.locale(accept_language="de")
    assert locale.date_format and locale.base_currency and locale.base_currency.iso4217
    fields = await staff.model_fields("Invoice", accept_language="de")
    assert "due_date" in fields.fields and "billing_account_id" in fields.filters
    tokens = contact_tokens(crm, demo.mine.email)
    identity = await me(ContactCredential(tokens))
    assert identity.kind == "Contacts" and identity.record_id == demo.mine.contact_id


async def test_accept_language_reaches_the_crm(crm, demo):
    staff = StaffGateway()
    locale_en = await staff.locale(accept_language="en")
    locale_de = await staff.locale(accept_language="de-DE,de;q=0.9")
    assert locale_en != locale_de or locale_de.date_format
    fields_de = await staff.model_fields("Invoice", accept_language="de")
    assert fields_de.fields["due_date"].label == "Fälligkeitsdatum"


async def test_call_log_counts_a_pages_calls(crm, demo):
    gateway = gateway_for(crm, demo.mine, "portal_auth")
    with CallLog() as log:
        await gateway.list_records(Quote, ListQuery(limit=3))
    # mint the portal token (staff token first), then the list
    assert [c.path for c in log.calls] == ["/auth/user/access_token", "/portal/auth", "/data/Quote"]
    with CallLog() as log:
        await gateway.list_records(Quote, ListQuery(limit=3))
    assert len(log) == 1  # tokens are cached
