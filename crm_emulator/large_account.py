"""A large customer account on demand, to measure how a page's cost grows with the data:
`manage.py seed_emulator --large-account 10000` adds an account with 10,000 invoices
(line items, tallies and payments like the demo's), a fifth as many documents (at most
2,000) and a twentieth as many support cases (at most 500), plus one portal contact who
signs in with the demo password (`large_account_email(10000)`).

Deterministic like the demo data: the same count and `today` give the same records.
The products and currencies are the demo's own (`_Builder.build_parties` draws the
same ids from the same seed), so the line items point at records that exist; the new
account's draws come from a random generator seeded with its count, so accounts of
different sizes can live side by side in one emulator.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from crm_emulator.demo_data import (
    MIMETYPES,
    ONECRM_SEED,
    TERMS_DAYS,
    TITLES,
    DemoData,
    _Builder,
    d,
    m,
    ts,
)

DOCUMENTS_PER_INVOICE = 5  # one document for every five invoices ...
MAX_DOCUMENTS = 2_000
CASES_PER_INVOICE = 20  # ... one case for every twenty
MAX_CASES = 500
# Invoice numbers of a large account start at its count times this (no clash with the
# demo's INV-1001.. or with another large account).
NUMBER_BASE = 10


def large_account_email(invoices: int) -> str:
    return f"buyer@bulk-{invoices}.example.com"


def large_account_name(invoices: int) -> str:
    return f"Bulk Buyer {invoices} GmbH"


class _LargeBuilder(_Builder):
    def __init__(self, today: dt.date, invoices: int) -> None:
        super().__init__(today)
        self.build_parties()  # the demo's currencies and products, same ids as seeded
        self.records, self.links, self.files = [], [], []
        self.rng = random.Random(ONECRM_SEED + invoices)
        self.size = invoices
        self.account_fields()

    def account_fields(self) -> None:
        name = large_account_name(self.size)
        address = {
            "street": "Großmarktstraße 1",
            "city": "Hamburg",
            "state": "",
            "postalcode": "20097",
            "country": "Germany",
        }
        fields: dict[str, Any] = {
            "name": name,
            "account_type": "Customer",
            "industry": "Retail",
            "email1": f"office@bulk-{self.size}.example.com",
            "phone_office": "+49 40 5550 100",
            "website": f"https://bulk-{self.size}.example.com",
            "currency_id": self.currency_ids["EUR"],
            "date_entered": ts(self.today - dt.timedelta(days=4 * 365), self.rng),
        }
        for prefix in ("billing", "shipping"):
            fields.update({f"{prefix}_address_{k}": v for k, v in address.items()})
        account_id = self.add("Account", fields)
        self.accounts = [{"id": account_id, "currency": "EUR", **fields}]
        email = large_account_email(self.size)
        contact: dict[str, Any] = {
            "salutation": "Ms.",
            "first_name": "Bea",
            "last_name": f"Buyer {self.size}",
            "title": "Purchasing",
            "email1": email,
            "email2": "",
            "phone_work": fields["phone_office"],
            "primary_account_id": account_id,
            "portal_active": True,
            "portal_name": email,
            "primary_address_street": address["street"],
            "primary_address_city": address["city"],
            "primary_address_postalcode": address["postalcode"],
            "primary_address_country": address["country"],
            "date_entered": fields["date_entered"],
        }
        contact_id = self.add("Contact", contact)
        self.contacts = [{"id": contact_id, "account_index": 0, **contact}]
        self.link("Account", account_id, "contacts", "Contact", contact_id)

    def build_large_invoices(self) -> None:
        rng = self.rng
        # Spread over as many years as it takes at ten invoices a working day or so.
        span = max(365, self.size // 8)
        dates = sorted(self.days_ago(1, span) for _ in range(self.size))
        payment_number = self.size * NUMBER_BASE * 10
        for number, invoice_date in enumerate(dates, start=self.size * NUMBER_BASE):
            invoice_id = self.new_id()
            terms = rng.choice(list(TERMS_DAYS))
            due_date = invoice_date + dt.timedelta(days=TERMS_DAYS[terms])
            age = (self.today - invoice_date).days
            fields: dict[str, Any] = {
                "prefix": "INV-",
                "invoice_number": number,
                "full_number": f"INV-{number}",
                "name": f"{rng.choice(TITLES)} - {self.accounts[0]['name']}",
                "invoice_date": d(invoice_date),
                "due_date": d(due_date),
                "terms": terms,
                "shipping_stage": "Pending" if age < 10 else "Shipped",
                "cancelled": False,
                "purchase_order_num": f"PO-{rng.randint(10000, 99999)}",
                "from_quote_id": "",
                "date_entered": ts(invoice_date, rng),
                **self.party_fields(0),
            }
            groups, lines, adjustments = self.line_items("Invoice", "invoice_id", invoice_id, "EUR")
            amount = Decimal(self.store_tally("Invoice", fields, groups, lines, adjustments))
            fields["amount"] = m(amount)
            # Old invoices are mostly paid; about one in seven stays open (a big customer's
            # ledger: the dashboard's balance reads every open one).
            paid = amount if rng.random() < (0.85 if age > 60 else 0.3) else Decimal(0)
            fields["amount_due"] = m(amount - paid)
            self.add("Invoice", fields, invoice_id)
            if paid:
                payment_number += 1
                payment_id = self.add(
                    "Payment",
                    {
                        "prefix": "PMT-",
                        "payment_id": payment_number,
                        "full_number": f"PMT-{payment_number}",
                        "payment_type": "Wire Transfer",
                        "payment_date": d(min(self.today, due_date)),
                        "amount": m(paid),
                        "currency_id": fields["currency_id"],
                        "exchange_rate": fields["exchange_rate"],
                        "account_id": self.accounts[0]["id"],
                        "direction": "incoming",
                        "customer_reference": fields["purchase_order_num"],
                    },
                )
                self.link(
                    "Invoice",
                    invoice_id,
                    "invoices_payments",
                    "Payment",
                    payment_id,
                    applied_amount=m(paid),
                )

    def build_large_documents(self, count: int) -> list[str]:
        """`count` documents of the account; their bytes are one shared text file."""
        ids = []
        content = b"Delivery note, scanned.\n"
        for index in range(count):
            when = self.days_ago(1, 900)
            name = f"Delivery note {index + 1}"
            ids.append(
                self.add_document(
                    name, f"{name}.txt", MIMETYPES["txt"], len(content), "Sales", when, 0, content
                )
            )
        return ids

    def build_large_cases(self, count: int) -> None:
        rng = self.rng
        account = self.accounts[0]
        for index in range(count):
            opened = self.days_ago(0, 900)
            closed = index % 4 != 0
            self.add(
                "aCase",
                {
                    "case_number": self.size * NUMBER_BASE + index,
                    "name": f"Delivery question {index + 1}",
                    "category": "Documentation",
                    "status": "Closed - Complete" if closed else "Active - New",
                    "priority": rng.choice(("P1", "P2", "P3")),
                    "description": "Asked about a delivery.",
                    "date_entered": ts(opened, rng),
                    "date_closed": d(min(self.today, opened + dt.timedelta(days=3)))
                    if closed
                    else "",
                    "account_id": account["id"],
                    "cust_contact_id": self.contacts[0]["id"],
                },
            )


def build_large_account(today: dt.date, invoices: int) -> tuple[DemoData, list[str]]:
    """The account's records and links, and the ids of its documents. Their bytes are
    the same few: `DemoData.files` holds one, which the seeder stores once for all."""
    builder = _LargeBuilder(today, invoices)
    builder.build_large_invoices()
    documents = builder.build_large_documents(min(MAX_DOCUMENTS, invoices // DOCUMENTS_PER_INVOICE))
    builder.build_large_cases(min(MAX_CASES, invoices // CASES_PER_INVOICE))
    return DemoData(builder.records, builder.files[:1], [], builder.links), documents
