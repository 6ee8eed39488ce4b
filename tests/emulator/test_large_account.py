"""`seed_emulator --large-account N`: an account of N invoices added to the demo data, as
the benchmark's growth table (bench/growth.py) reads it."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal

import httpx2 as httpx
import pytest

from crm_emulator import demo_data as dd
from crm_emulator.large_account import (
    build_large_account,
    large_account_email,
    large_account_name,
)
from crm_emulator.tally import compute_tally
from tests.emulator.conftest import Api
from tests.emulator_server import ROOT, start_emulator

TODAY = dt.date(2026, 11, 29)


def fields_of(data: dd.DemoData, model: str) -> dict[str, dict]:
    return {record.id: record.fields for record in data.of(model)}


def test_the_account_holds_what_its_size_says_and_adds_up():
    data, documents = build_large_account(TODAY, 100)
    (account_id,) = fields_of(data, "Account")
    invoices = fields_of(data, "Invoice")
    assert len(invoices) == 100
    assert {i["billing_account_id"] for i in invoices.values()} == {account_id}
    assert len(documents) == 20 and len(data.of("aCase")) == 5
    assert {c["account_id"] for c in fields_of(data, "aCase").values()} == {account_id}
    # Every invoice's stored amount is its tally, and what is due is the amount less
    # what its payments applied, as in the demo data.
    groups, lines, adjustments = (
        fields_of(data, f"Invoice{kind}") for kind in ("LineGroup", "Line", "Adjustment")
    )
    applied: dict[str, Decimal] = {}
    for link in data.links:
        if link.link == "invoices_payments":
            applied[link.id] = applied.get(link.id, Decimal(0)) + Decimal(
                link.data["applied_amount"]
            )
    for invoice_id, invoice in invoices.items():

        def mine(records: dict[str, dict]) -> list[dict]:
            return [
                {"id": k, **v}
                for k, v in records.items()
                if v["invoice_id"] == invoice_id  # noqa: B023 (used in this iteration)
            ]

        tally = compute_tally(invoice, mine(groups), mine(lines), mine(adjustments))
        assert tally["totals"]["total"] == invoice["amount"]
        due = Decimal(invoice["amount"]) - applied.get(invoice_id, Decimal(0))
        assert Decimal(invoice["amount_due"]) == due
    assert any(Decimal(i["amount_due"]) > 0 for i in invoices.values())


def test_it_points_at_the_demo_products_and_shares_no_id_with_the_demo():
    demo = dd.build_demo_data(TODAY)
    data, _ = build_large_account(TODAY, 50)
    products = {record.id for record in demo.of("ProductCatalog")}
    currencies = {record.id for record in demo.of("Currency")}
    related = {
        line["related_id"]
        for line in fields_of(data, "InvoiceLine").values()
        if line["related_type"] == "ProductCatalog"
    }
    assert related and related <= products
    assert {i["currency_id"] for i in fields_of(data, "Invoice").values()} <= currencies
    assert not {r.id for r in data.records} & {r.id for r in demo.records}
    other, _ = build_large_account(TODAY, 60)
    assert not {r.id for r in data.records} & {r.id for r in other.records}
    assert build_large_account(TODAY, 50)[0] == data  # deterministic


@pytest.fixture(scope="module")
def large_crm(tmp_path_factory):
    """An emulator of its own: the session's servers keep the demo data as it is."""
    server = start_emulator(tmp_path_factory.mktemp("large-account"))
    manage = [sys.executable, str(ROOT / "manage.py"), "seed_emulator"]
    try:
        subprocess.run(
            [*manage, "--large-account", "40", "--large-account", "40"],
            env=server.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        yield server
    finally:
        server.stop()


def test_the_running_emulator_serves_the_added_account_once(large_crm):
    with httpx.Client(timeout=30) as http:
        api = Api(large_crm, http)
        staff = api.staff()
        accounts = api.records("Account", staff, **{"fields[]": "name"})
        names = [a["name"] for a in accounts]
        assert names.count(large_account_name(40)) == 1  # a second --large-account 40: no-op
        assert len(accounts) == 6  # the demo's five and this one
        email = large_account_email(40)
        api.contact_oauth(email)  # the contact signs in with the demo password
        contacts = api.records("Contact", staff, **{"fields[]": "email1"})
        (contact,) = [c for c in contacts if c["email1"] == email]
        token = api.portal(contact["id"])  # what the portal acts with for that contact
        invoices = api.records("Invoice", token, **{"fields[]": "amount_due"})
        assert len(invoices) == 40
        documents = api.records("Document", token, **{"fields[]": "name"})
        # The account's own eight, and the company-wide documents every contact sees.
        assert sum(d["name"].startswith("Delivery note") for d in documents) == 8
