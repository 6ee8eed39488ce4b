"""The section declarations: their URLs stay what bookmarks and e-mails point at, each
row's status is computed once from the typed record, and nothing a section shows
depends on a template of its own for the list."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from crm_gateway import Invoice, Quote
from portal.sections import SECTIONS
from portal.sections.invoices import InvoiceRow
from portal.sections.quotes import QuoteRow
from portal.statement.balance import Balance, BalanceScope, cache_key, summarize
from portal.statement.ledger import Reading, open_item

TODAY = dt.date(2026, 11, 29)

# Public paths: they must never change (bookmarks, e-mailed links, the CRM's templates).
FIXED_PATHS = {
    ("invoices", ()): "/invoices/",
    ("invoice", ("i1",)): "/invoices/i1/",
    ("invoice-pdf", ("i1",)): "/invoices/i1/pdf",
    ("invoice-attachment", ("i1", "n1")): "/invoices/i1/attachments/n1",
    ("quotes", ()): "/quotes/",
    ("quote", ("q1",)): "/quotes/q1/",
    ("quote-pdf", ("q1",)): "/quotes/q1/pdf",
    ("quote-accept", ("q1",)): "/quotes/q1/accept",
    ("quote-decline", ("q1",)): "/quotes/q1/decline",
    ("documents", ()): "/documents/",
    ("document", ("d1",)): "/documents/d1/",
    ("document-download", ("d1",)): "/documents/d1/download",
    ("dashboard", ()): "/",
}


@pytest.mark.parametrize(("route", "path"), FIXED_PATHS.items(), ids=lambda v: str(v))
def test_url_names_and_paths_stay_as_they_are(route, path):
    name, args = route
    assert reverse(name, args=args) == path


def test_each_section_declares_its_urls_and_templates():
    assert [s.key for s in SECTIONS] == ["invoices", "quotes", "documents", "cases"]
    for section in SECTIONS:
        assert section.list_url() == f"/{section.key}/"
        assert section.template == f"portal/{section.key}/detail.html"
        assert not (section.pdf and section.download)  # a printed PDF or a file, not both


def invoice(**data) -> Invoice:
    return Invoice.from_json({"id": "inv", **data})


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"cancelled": "1", "amount_due": "5", "due_date": "2020-01-01"}, "cancelled"),
        ({"amount_due": "0.00", "due_date": "2020-01-01"}, "paid"),
        ({"amount_due": None}, "paid"),
        ({"amount_due": "5", "due_date": "2026-11-28"}, "overdue"),
        ({"amount_due": "5", "due_date": "2026-11-29"}, "open"),
        ({"amount_due": "5"}, "open"),
    ],
)
def test_invoice_rows_compute_their_status_from_the_typed_record(data, status):
    row = InvoiceRow.of(invoice(**data), TODAY)
    assert row.status == status
    assert f"badge--{status}" in row.badge


def test_the_dashboard_counts_the_open_items_and_their_aging():
    items = [
        open_item(invoice(amount_due="10.10", currency_id="EUR", due_date="2026-10-01"), TODAY),
        open_item(invoice(amount_due="0.20", currency_id="EUR", due_date="2026-12-01"), TODAY),
        open_item(invoice(amount_due="3", currency_id="USD", due_date="2026-11-20"), TODAY),
    ]
    summary = summarize(Reading(items))
    assert summary.open == 3 and summary.overdue == 2
    assert [(c, str(a)) for c, a in summary.balances] == [("EUR", "10.30"), ("USD", "3")]
    eur, usd = summary.aging
    assert (eur.over_30, eur.past_due, usd.over_30, usd.past_due) == (
        Decimal("10.10"),
        Decimal("10.10"),
        0,
        Decimal(3),
    )
    assert summary.at_least is False
    assert summarize(Reading(items, stopped=True)).at_least is True


def test_the_cached_balance_is_the_computed_one_and_only_for_its_scope(settings):
    settings.DASHBOARD_BALANCE_TTL = 600
    items = [
        open_item(invoice(amount_due="10.10", currency_id="EUR", due_date="2026-10-01"), TODAY),
        open_item(invoice(amount_due="3", currency_id="USD", due_date="2026-11-20"), TODAY),
    ]
    computed = summarize(Reading(items, stopped=True), read=5000, started=1000.0)
    scope = BalanceScope.of("c1", "a1", "portal_auth")
    assert scope is not None
    kept = computed.to_cache(scope)
    found = Balance.from_cache(kept, scope, now=1000.0 + 599)
    assert found is not None and found.cached and not computed.cached
    assert found.balances == computed.balances
    assert [p.aging for p in found.aging] == [p.aging for p in computed.aging]
    assert (found.open, found.overdue, found.at_least, found.read) == (2, 2, True, 5000)
    assert found.as_of == dt.datetime(1970, 1, 1, 0, 16, 40, tzinfo=dt.UTC)
    assert Balance.from_cache(kept, scope, now=1000.0 + 600) is None  # the TTL is over
    other = BalanceScope.of("c1", "a2", "portal_auth")
    assert Balance.from_cache(kept, other, now=1000.0) is None  # another account's
    staff = BalanceScope.of("c1", "a1", "staff")
    assert Balance.from_cache(kept, staff, now=1000.0) is None  # another credential's
    assert Balance.from_cache({**kept, "aging": [["EUR", ["1"]]]}, scope, now=1000.0) is None


def test_a_contact_without_an_account_has_a_figure_of_their_own(settings):
    from portal.models import PortalSettings
    from portal.site_settings import SiteSettings

    site = SiteSettings.from_model(PortalSettings())
    alone = BalanceScope.of("c1", "", "")
    assert alone == BalanceScope("c1", "", settings.ONECRM_DATA_ACCESS)
    assert BalanceScope.of("", "", "staff") is None  # nobody: nothing is kept
    assert BalanceScope.of("c1", "a1", "nonsense") == BalanceScope("c1", "a1", "portal_auth")
    # The account's contacts share a figure only where the portal scopes the reading (the
    # staff credential); a contact's own token may see less than its account.
    assert BalanceScope.of("c1", "a1", "staff") == BalanceScope.of("c9", "a1", "staff")
    for mode in ("contact_token", "portal_auth"):
        assert BalanceScope.of("c1", "a1", mode) != BalanceScope.of("c9", "a1", mode)
    account = BalanceScope.of("c2", "c1", "staff")
    assert alone is not None and account is not None
    # A contact's id never stands for an account of the same id, nor one day for the next.
    keys = {cache_key(alone, site, TODAY), cache_key(account, site, TODAY)}
    keys.add(cache_key(account, site, TODAY + dt.timedelta(days=1)))
    assert len(keys) == 3


@pytest.mark.parametrize(
    ("stage", "valid_until", "status", "expired"),
    [
        ("Delivered", "2026-12-31", "awaiting", False),
        ("Negotiation", "2026-11-29", "awaiting", False),  # valid through its last day
        ("Delivered", "2026-11-28", "", True),
        ("Closed Accepted", "2026-01-01", "accepted", True),
        ("Confirmed", None, "accepted", False),
        ("Closed Lost", None, "declined", False),
        ("Draft", None, "", False),
    ],
)
def test_quote_rows_compute_their_status(stage, valid_until, status, expired):
    quote = Quote.from_json({"id": "q", "quote_stage": stage, "valid_until": valid_until})
    row = QuoteRow.of(quote, TODAY)
    assert (row.status, row.expired, row.awaiting) == (status, expired, status == "awaiting")
    assert ("Expired" in row.badge) == (expired and status != "accepted")
