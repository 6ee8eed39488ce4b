"""Demo data: deterministic, realistic, internally consistent, with real files."""

import collections
import datetime as dt
import io
import json
import struct
import zipfile
import zlib
from decimal import Decimal

import pytest
from pypdf import PdfReader

from crm_emulator import demo_data as dd
from crm_emulator.tally import compute_tally

TODAY = dt.date(2026, 11, 29)


@pytest.fixture(scope="module")
def data() -> dd.DemoData:
    return dd.build_demo_data(TODAY)


def by_id(data, model):
    return {r.id: r.fields for r in data.of(model)}


def test_deterministic(data):
    # How long the build takes is measured by `python -m bench demo_data`, as a ratio.
    first = data
    second = dd.build_demo_data(TODAY)
    assert first == second
    other_day = dd.build_demo_data(TODAY + dt.timedelta(days=1))
    assert other_day != first
    # Only dates move with `today`: ids and amounts stay.
    assert [r.id for r in other_day.records] == [r.id for r in first.records]


def test_records_are_json_and_ids_unique(data):
    json.dumps([r.fields for r in data.records])
    ids = [r.id for r in data.records]
    assert len(ids) == len(set(ids))
    for record in data.records:
        assert "id" not in record.fields


def test_parties(data):
    currencies = {c["iso4217"] for c in by_id(data, "Currency").values()}
    assert currencies == {"EUR", "USD"}
    accounts = by_id(data, "Account")
    assert len(accounts) >= 4
    currency_of = {k: v["iso4217"] for k, v in by_id(data, "Currency").items()}
    assert {currency_of[a["currency_id"]] for a in accounts.values()} == {"EUR", "USD"}
    contacts = list(by_id(data, "Contact").values())
    assert len(contacts) == 10
    assert sum(not c["portal_active"] for c in contacts) == 1
    assert sum(c["primary_account_id"] == "" for c in contacts) == 1
    per_account = collections.Counter(
        c["primary_account_id"] for c in contacts if c["primary_account_id"]
    )
    assert max(per_account.values()) >= 2
    assert all(c["primary_account_id"] in accounts for c in contacts if c["primary_account_id"])
    zoe = next(c for c in contacts if c["first_name"] == "Zoë")
    assert zoe["last_name"] == "Ångström-Müller"
    assert zoe["email1"] == "zoe.angstrom-muller@example.com"
    for contact in contacts:
        assert contact["email1"].endswith("@example.com") and contact["email1"].isascii()
    assert {u.user_name for u in data.users} == {"admin", "sally"}
    assert all(u.password == "demo-password" for u in data.users)
    assert [u.is_admin for u in data.users].count(True) == 1


def test_invoices_cover_the_cases(data):
    invoices = by_id(data, "Invoice")
    assert len(invoices) == 300
    dates = [dt.date.fromisoformat(i["invoice_date"]) for i in invoices.values()]
    assert min(dates) >= TODAY - dt.timedelta(days=3 * 366) and max(dates) < TODAY
    assert {i["shipping_stage"] for i in invoices.values()} == set(dd.SHIPPING_STAGES)
    assert any(i["cancelled"] for i in invoices.values())
    live = [i for i in invoices.values() if not i["cancelled"]]
    assert sum(i["amount_due"] == "0.00" for i in live) > 50
    overdue = [
        i for i in live if i["due_date"] < TODAY.isoformat() and Decimal(i["amount_due"]) > 0
    ]
    assert len(overdue) >= 5
    partial = [i for i in live if 0 < Decimal(i["amount_due"]) < Decimal(i["amount"])]
    assert partial
    numbers = [i["full_number"] for i in invoices.values()]
    assert len(set(numbers)) == 300 and all(n.startswith("INV-") for n in numbers)
    for invoice in invoices.values():
        for key in (
            "billing_address_street",
            "billing_address_city",
            "billing_address_postalcode",
            "billing_address_country",
            "terms",
            "purchase_order_num",
            "exchange_rate",
        ):
            assert key in invoice
        assert invoice["due_date"] >= invoice["invoice_date"]


def tally_of(data, model, key, record_id, fields):
    groups = [
        {"id": r.id, **r.fields} for r in data.of(f"{model}LineGroup") if r.fields[key] == record_id
    ]
    lines = [
        {"id": r.id, **r.fields} for r in data.of(f"{model}Line") if r.fields[key] == record_id
    ]
    adjustments = [
        {"id": r.id, **r.fields}
        for r in data.of(f"{model}Adjustment")
        if r.fields[key] == record_id
    ]
    return compute_tally(fields, groups, lines, adjustments), groups, lines, adjustments


@pytest.mark.parametrize(("model", "key"), [("Invoice", "invoice_id"), ("Quote", "quote_id")])
def test_every_amount_is_what_tally_computes(data, model, key):
    seen_types = collections.Counter()
    components = comments = 0
    for record_id, fields in by_id(data, model).items():
        tally, groups, lines, adjustments = tally_of(data, model, key, record_id, fields)
        assert groups and lines
        assert fields["amount"] == tally["totals"]["total"], fields["full_number"]
        for group, shown in zip(
            sorted(groups, key=lambda g: g["position"]), tally["groups"], strict=True
        ):
            assert group["total"] == shown["total"]
        seen_types.update(a["type"] for a in adjustments)
        components += sum(bool(ln["parent_id"]) for ln in lines)
        comments += sum(ln["is_comment"] for ln in lines)
        for line in lines:
            if not line["is_comment"]:
                assert Decimal(line["ext_price"]) == (
                    Decimal(line["quantity"]) * Decimal(line["unit_price"])
                ).quantize(Decimal("0.01"))
    assert components and comments
    if model == "Invoice":
        assert set(seen_types) >= {
            "StandardTax",
            "TaxedShipping",
            "UntaxedShipping",
            "StdPercentDiscount",
            "StdFixedDiscount",
        }


def test_payments_match_amount_due(data):
    invoices = by_id(data, "Invoice")
    payments = by_id(data, "Payment")
    applied = collections.defaultdict(Decimal)
    for link in data.links:
        if link.link == "invoices_payments":
            assert link.model == "Invoice" and link.related_model == "Payment"
            assert link.related_id in payments
            applied[link.id] += Decimal(link.data["applied_amount"])
            assert payments[link.related_id]["payment_date"] >= invoices[link.id]["invoice_date"]
            assert payments[link.related_id]["payment_date"] <= TODAY.isoformat()
    for invoice_id, invoice in invoices.items():
        if not invoice["cancelled"]:
            assert (
                Decimal(invoice["amount_due"]) == Decimal(invoice["amount"]) - applied[invoice_id]
            )
    assert all(p["full_number"].startswith("PMT-") for p in payments.values())


def test_quotes_in_every_stage(data):
    quotes = by_id(data, "Quote")
    assert len(quotes) == 60
    assert {q["quote_stage"] for q in quotes.values()} == set(dd.QUOTE_STAGES)
    assert all(q["valid_until"] for q in quotes.values())


def check_file(demo_file: dd.DemoFile) -> None:
    content = demo_file.content
    if demo_file.mimetype == "application/pdf":
        reader = PdfReader(io.BytesIO(content))
        assert len(reader.pages) >= 1
        assert "Northwind" in reader.pages[0].extract_text()
    elif demo_file.mimetype == "image/png":
        assert content[:8] == b"\x89PNG\r\n\x1a\n"
        length, kind = struct.unpack(">I4s", content[8:16])
        assert (length, kind) == (13, b"IHDR")
        width, height = struct.unpack(">II", content[16:24])
        assert width > 0 and height > 0
        assert zlib.crc32(content[12:29]) == struct.unpack(">I", content[29:33])[0]
        assert content.endswith(b"IEND\xaeB`\x82")
    elif demo_file.filename.endswith(".docx"):
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            assert archive.testzip() is None
            assert "word/document.xml" in archive.namelist()
            assert b"<w:document" in archive.read("word/document.xml")
    elif demo_file.mimetype == "text/csv":
        assert content.decode("utf-8").count("\r\n") >= 5
    else:
        assert demo_file.mimetype == "text/plain"
        content.decode("utf-8")


def test_documents_have_real_files(data):
    documents = by_id(data, "Document")
    revisions = by_id(data, "DocumentRevision")
    files = {f.id: f for f in data.files if f.model == "Document"}
    assert len(files) == 40
    assert len(documents) == 41  # plus the large one, which has no DemoFile
    kinds = collections.Counter(f.filename.rsplit(".", 1)[1] for f in files.values())
    assert set(kinds) == {"pdf", "png", "docx", "csv", "txt"}
    assert "Überblick Préférences.txt" in {f.filename for f in files.values()}
    for document_id, demo_file in files.items():
        document = documents[document_id]
        revision = revisions[document["document_revision_id"]]
        assert revision["document_id"] == document_id
        assert document["filename"] == revision["filename"] == demo_file.filename
        assert document["file_size"] == len(demo_file.content)
        check_file(demo_file)
    owned = {link.id for link in data.links if link.model == "Document" and link.link == "accounts"}
    assert owned < set(documents)  # some documents are company-wide
    assert {link.link for link in data.links if link.model == "Document"} == {
        "accounts",
        "contacts",
    }


def test_document_ownership(data):
    documents = by_id(data, "Document")
    contacts = by_id(data, "Contact")
    owners = collections.defaultdict(set)
    for link in data.links:
        if link.model == "Document":
            owners[link.id].add((link.link, link.related_id))
    by_name = {d["name"]: doc_id for doc_id, d in documents.items()}
    for name in dd.COMPANY_WIDE_DOCUMENTS:
        assert not owners[by_name[name]]
    (loner,) = [c_id for c_id, c in contacts.items() if not c["primary_account_id"]]
    assert owners[by_name[dd.LONER_DOCUMENT]] == {("contacts", loner)}
    zoe_account = next(
        c["primary_account_id"] for c in contacts.values() if c["first_name"] == "Zoë"
    )
    assert ("accounts", zoe_account) in owners[by_name["Überblick Préférences"]]
    accounts = by_id(data, "Account")
    owned_accounts = {rel for links in owners.values() for kind, rel in links if kind == "accounts"}
    assert owned_accounts == set(accounts)
    for links in owners.values():  # a document's contact belongs to the document's account
        account_ids = {rel for kind, rel in links if kind == "accounts"}
        for kind, rel in links:
            if kind == "contacts" and contacts[rel]["primary_account_id"]:
                assert contacts[rel]["primary_account_id"] in account_ids


def test_every_reference_resolves(data):
    ids = {(r.model, r.id) for r in data.records}
    parent_models = {
        "Accounts": "Account",
        "Contacts": "Contact",
        "Invoice": "Invoice",
        "Quotes": "Quote",
        "Cases": "aCase",
        "KBArticles": "KBArticle",
    }
    for note in data.of("Note"):
        assert (parent_models[note.fields["parent_type"]], note.fields["parent_id"]) in ids
        # Staff replies on cases and knowledge-base attachments belong to no account.
        staff_written = note.fields["parent_type"] in {"Cases", "KBArticles"}
        assert (staff_written and note.fields["account_id"] == "") or (
            "Account",
            note.fields["account_id"],
        ) in ids
        assert note.fields["contact_id"] == "" or ("Contact", note.fields["contact_id"]) in ids
    for model in ("Invoice", "Quote"):
        for record in data.of(model):
            assert ("Account", record.fields["billing_account_id"]) in ids
            assert ("Contact", record.fields["billing_contact_id"]) in ids
            assert ("Currency", record.fields["currency_id"]) in ids
    for case in data.of("aCase"):
        assert ("Account", case.fields["account_id"]) in ids
    for link in data.links:
        assert (link.model, link.id) in ids and (link.related_model, link.related_id) in ids


def test_notes(data):
    notes = by_id(data, "Note")
    files = {f.id: f for f in data.files if f.model == "Note"}
    assert any(not n["portal_flag"] for n in notes.values())
    assert any(n["parent_type"] == "Invoice" for n in notes.values())
    assert any(n["filename"] == "" for n in notes.values())
    for note_id, note in notes.items():
        if note["filename"]:
            assert files[note_id].filename == note["filename"]
            assert note["file_mime_type"] == files[note_id].mimetype
            check_file(files[note_id])
        else:
            assert note_id not in files
    invoices = by_id(data, "Invoice")
    for note in notes.values():
        if note["parent_type"] == "Invoice":
            assert invoices[note["parent_id"]]["billing_account_id"] == note["account_id"]


def test_large_document(data):
    document = by_id(data, "Document")[dd.LARGE_DOCUMENT.id]
    assert document["is_large_file"] and document["file_size"] == dd.LARGE_DOCUMENT.size
    assert any(link.id == dd.LARGE_DOCUMENT.id and link.link == "accounts" for link in data.links)
    assert dd.LARGE_DOCUMENT.id not in {f.id for f in data.files}


def test_large_file_chunks_are_deterministic_and_chunk_size_independent():
    size = 3 * (1 << 20) + 12345
    whole = b"".join(dd.large_file_chunks(size))
    assert len(whole) == size
    odd = list(dd.large_file_chunks(size, chunk=700_001))
    assert b"".join(odd) == whole and all(len(c) == 700_001 for c in odd[:-1])
    big = list(dd.large_file_chunks(size, chunk=5 << 20))
    assert big == [whole]
    assert dd.sha256_hex(dd.large_file_chunks(size)) == dd.sha256_hex([whole])
    assert whole[: 1 << 20] == whole[1 << 20 : 2 << 20]  # the pattern repeats
    assert len(set(whole[:4096])) > 200  # ...but is not trivially compressible
    with pytest.raises(ValueError):
        next(dd.large_file_chunks(10, chunk=0))


def test_large_file_has_the_advertised_size():
    assert sum(len(chunk) for chunk in dd.large_file_chunks()) == dd.LARGE_DOCUMENT.size
    small = 2 * (1 << 20) + 7
    assert dd.large_file_sha256(small) == dd.sha256_hex([b"".join(dd.large_file_chunks(small))])
