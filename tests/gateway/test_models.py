"""Typed replies tolerate unknown, missing and odd fields; money is Decimal."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_gateway import BadReply, FileInfo, Invoice, Locale, Me, Tally
from crm_gateway.models import ModelFields, Version

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


def test_invoice_types_unknown_and_missing_fields():
    invoice = Invoice.from_json(
        {
            "id": "a1",
            "amount": "1234.50",
            "amount_due": 0.1,
            "due_date": "2026-02-01",
            "date_entered": "2026-01-02 10:11:12",
            "cancelled": "0",
            "invoice_number": 42,
            "_display": "INV-42",
            "brand_new_field": {"x": 1},
        }
    )
    assert invoice.amount == Decimal("1234.50") and invoice.amount_due == Decimal("0.1")
    assert invoice.due_date == dt.date(2026, 2, 1)
    assert invoice.date_entered == dt.datetime(2026, 1, 2, 10, 11, 12, tzinfo=dt.UTC)
    assert invoice.cancelled is False and invoice.invoice_number == "42"
    assert invoice.display == "INV-42" and invoice.label == "INV-42"
    assert invoice.extra == {"brand_new_field": {"x": 1}}
    assert invoice.terms is None and invoice.billing_account_id is None


def test_allowed_fields_drop_the_rest():
    invoice = Invoice.from_json(
        {"id": "a1", "amount": "1", "secret_margin": "99"}, frozenset({"id", "amount"})
    )
    assert invoice.extra == {} and invoice.amount == Decimal("1")


@given(st.dictionaries(st.sampled_from(["amount", "due_date", "cancelled", "name", "x"]), JSON))
def test_odd_values_never_crash(values):
    invoice = Invoice.from_json({**values, "id": "a1"})
    assert invoice.amount is None or isinstance(invoice.amount, Decimal)
    assert invoice.due_date is None or isinstance(invoice.due_date, dt.date)


@pytest.mark.parametrize("reply", [{}, {"id": ""}, {"id": None}, [], "x"])
def test_record_without_id_is_bad_reply(reply):
    with pytest.raises(BadReply):
        Invoice.from_json(reply)


def test_tally_files_me_version_locale_fields():
    tally = Tally.from_json(
        {
            "record": {"id": "a"},
            "groups": [
                {
                    "name": "G",
                    "line_items": [{"name": "L", "quantity": "2", "components": [{"name": "c"}]}],
                    "adjusts": [{"type": "StandardTax", "rate": "19", "value": "3.80"}],
                }
            ],
            "totals": {"total": "23.80", "taxes": [{"name": "VAT", "amount": "3.80"}]},
        }
    )
    assert tally.totals.total == Decimal("23.80")
    assert tally.groups[0].line_items[0].components[0].name == "c"
    assert tally.groups[0].adjusts[0].value == Decimal("3.80")
    with pytest.raises(BadReply):
        Tally.from_json({"groups": []})
    info = FileInfo.from_json(
        {
            "name": "a.pdf",
            "mime_type": "application/pdf",
            "size": "10",
            "temp_url": "http://crm/secret",
        }
    )
    assert (info.mimetype, info.size) == ("application/pdf", 10)
    assert "temp_url" not in info.extra
    me = Me.from_json({"id": "Contacts:abc", "groups": ["g"], "role": "contact"})
    assert (me.kind, me.record_id, me.groups) == ("Contacts", "abc", ["g"])
    assert Version.from_json({"version": "8.6", "products": ["enterprise"]}).products == [
        "enterprise"
    ]
    locale = Locale.from_json(
        {
            "date_format": "d.m.Y",
            "number_format": {"dec_sep": ",", "grp_sep": "."},
            "base_currency": {"iso4217": "EUR", "significant_digits": "2"},
        }
    )
    assert (locale.decimal_separator, locale.group_separator) == (",", ".")
    assert locale.base_currency and locale.base_currency.significant_digits == 2
    fields = ModelFields.from_json(
        {"fields": {"due_date": {"type": "date", "label": "Due"}}, "filters": [{"name": "x"}]}
    )
    assert fields.fields["due_date"].type == "date" and "x" in fields.filters


def test_from_json_builds_records_through_their_own_dataclass_init():
    """Defaults made by a factory, and __post_init__, apply to parsed records too."""
    from dataclasses import dataclass, field

    from crm_gateway.models import Record

    @dataclass(frozen=True)
    class Tagged(Record):
        MODEL = "Tagged"
        tags: list[str] = field(default_factory=list)

        def __post_init__(self) -> None:
            object.__setattr__(self, "name", (self.name or "").strip() or None)

    tagged = Tagged.from_json({"id": "t1", "name": "  Spaced  "})
    assert tagged.tags == []
    assert tagged.name == "Spaced"
    assert tagged == Tagged(id="t1", name="Spaced")
