"""render_pdf: a real PDF whose text carries the number, the formatted total and the lines."""

import datetime as dt
import io

import pytest
from pypdf import PdfReader

from crm_emulator import demo_data as dd
from crm_emulator.printing import format_date, format_money, format_plain, render_pdf
from crm_emulator.tally import compute_tally

EN = {
    "date_format": "M j, Y",
    "number_format": {"dec_sep": ".", "grp_sep": ","},
    "base_currency": {"iso4217": "EUR", "symbol": "€", "significant_digits": 2},
    "currency": {"iso4217": "USD", "symbol": "$", "significant_digits": 2},
}
DE = {
    "date_format": "d.m.Y",
    "number_format": {"dec_sep": ",", "grp_sep": "."},
    "base_currency": {
        "iso4217": "EUR",
        "symbol": "€",
        "significant_digits": 2,
        "symbol_place_after": True,
        "space_separate": True,
    },
}
RECORD = {
    "full_number": "INV-4711",
    "name": "Workshop equipment - Zoë's team",
    "invoice_date": "2026-03-05",
    "due_date": "2026-04-04",
    "terms": "Net 30 Days",
    "purchase_order_num": "PO-1234",
    "billing_account_name": "Müller & Söhne Metallbau GmbH",
    "billing_contact_name": "Zoë Ångström-Müller",
    "billing_address_street": "Industriestraße 12",
    "billing_address_city": "Berlin",
    "billing_address_postalcode": "10115",
    "billing_address_country": "Germany",
}


def sample_tally(n_lines=6, record=None):
    groups = [
        {"id": "g1", "name": "Hardware", "position": 1},
        {"id": "g2", "name": "Services", "position": 2},
    ]
    lines = [
        {
            "id": "kit",
            "line_group_id": "g1",
            "name": "Contractor Starter Kit",
            "quantity": 2,
            "sum_of_components": True,
            "mfr_part_no": "KIT-CON",
            "position": 0,
        },
        {
            "id": "c1",
            "line_group_id": "g1",
            "parent_id": "kit",
            "name": "Cordless Drill 18V",
            "quantity": 1,
            "unit_price": "149.00",
            "serial_no": "SN-123456",
        },
        {
            "id": "c2",
            "line_group_id": "g1",
            "parent_id": "kit",
            "name": "Battery Pack 5Ah",
            "quantity": 2,
            "unit_price": "79.90",
        },
        {
            "id": "note",
            "line_group_id": "g1",
            "name": "Delivery to loading dock B",
            "is_comment": True,
            "position": 1,
        },
    ]
    for i in range(n_lines):
        lines.append(
            {
                "id": f"s{i}",
                "line_group_id": "g2" if i % 2 else "g1",
                "position": 10 + i,
                "name": f"On-site installation, visit {i + 1} (two technicians, travel included)",
                "quantity": i + 1,
                "unit_price": "1095.50",
            }
        )
    adjustments = [
        {
            "line_group_id": "g1",
            "type": "StdPercentDiscount",
            "name": "Volume discount",
            "rate": "10",
            "position": 1,
        },
        {
            "line_group_id": "g1",
            "type": "TaxedShipping",
            "name": "Freight",
            "amount": "49.00",
            "position": 2,
        },
        {"line_group_id": "g1", "type": "StandardTax", "name": "VAT", "rate": "19", "position": 3},
        {
            "line_group_id": "g2",
            "type": "UntaxedShipping",
            "name": "Courier",
            "amount": "15.00",
            "position": 1,
        },
        {"line_group_id": "g2", "type": "StandardTax", "name": "VAT", "rate": "19", "position": 2},
    ]
    return compute_tally(record or RECORD, groups, lines, adjustments)


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_english_invoice_has_number_total_and_lines():
    tally = sample_tally()
    pdf = render_pdf(tally, title="Invoice", locale=EN)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    text = text_of(pdf)
    total = format_money(tally["totals"]["total"], EN["currency"], EN["number_format"])
    assert total.startswith("$") and "," in total
    assert "INV-4711" in text and total in text
    for expected in (
        "Invoice",
        "Zoë Ångström-Müller",
        "Müller & Söhne Metallbau GmbH",
        "Industriestraße 12",
        "10115 Berlin",
        "Mar 5, 2026",
        "Apr 4, 2026",
        "Net 30 Days",
        "PO-1234",
        "Contractor Starter Kit",
        "Cordless Drill 18V",
        "SN-123456",
        "Delivery to loading dock B",
        "Volume discount (10 %)",
        "VAT 19 %",
        "Freight",
        "Courier",
        "Total (USD)",
        "Hardware",
        "Services",
    ):
        assert expected in text, expected


def test_german_quote_uses_labels_and_number_format():
    record = {
        **RECORD,
        "full_number": "QT-501",
        "valid_until": "2026-04-30",
        "invoice_date": "",
        "date_entered": "2026-03-31 10:00:00",
        "due_date": "",
    }
    tally = sample_tally(record=record)
    text = text_of(render_pdf(tally, title="Angebot", locale=DE, language="de"))
    total = format_money(tally["totals"]["total"], DE["base_currency"], DE["number_format"])
    assert total.endswith(" €") and "." in total and "," in total
    assert "QT-501" in text and total in text
    for expected in (
        "Angebot",
        "Gültig bis",
        "30.04.2026",
        "31.03.2026",
        "Gesamtbetrag (EUR)",
        "Zwischensumme",
        "EINZELPREIS",
        "Rabatt",
    ):
        assert expected in text, expected
    assert "Invoice" not in text


def test_long_invoice_breaks_pages_and_repeats_the_table_header():
    pdf = render_pdf(sample_tally(n_lines=80), title="Invoice", locale=EN)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 3
    assert "DESCRIPTION" in reader.pages[1].extract_text()
    assert f"2/{len(reader.pages)}" in reader.pages[1].extract_text()


def test_cancelled_and_amount_due_are_shown():
    tally = sample_tally(record={**RECORD, "cancelled": True, "amount_due": "100.00"})
    text = text_of(render_pdf(tally, title="Invoice", locale=EN))
    assert "CANCELLED" in text and "Amount due" in text and "$100.00" in text


def test_characters_outside_the_font_do_not_fail():
    tally = sample_tally(
        record={**RECORD, "billing_account_name": "東京 Trading 株式会社 Ωmega Москва"}
    )
    text = text_of(render_pdf(tally, title="Invoice", locale=EN))
    assert "Trading" in text and "Москва" in text


def test_output_is_deterministic_and_documents_do_not_share_state():
    first, other = (
        sample_tally(),
        sample_tally(n_lines=2, record={**RECORD, "full_number": "X-ÆØÅ"}),
    )
    a = render_pdf(first, title="Invoice", locale=EN)
    b = render_pdf(other, title="Rechnung", locale=DE, language="de")
    assert render_pdf(first, title="Invoice", locale=EN) == a
    assert render_pdf(other, title="Rechnung", locale=DE, language="de") == b
    assert "X-ÆØÅ" in text_of(b) and "X-ÆØÅ" not in text_of(a)


def test_every_demo_invoice_style_renders():
    data = dd.build_demo_data(dt.date(2026, 11, 29))
    invoice = data.of("Invoice")[0]
    parts = {
        m: [
            {"id": r.id, **r.fields}
            for r in data.of(f"Invoice{m}")
            if r.fields["invoice_id"] == invoice.id
        ]
        for m in ("LineGroup", "Line", "Adjustment")
    }
    tally = compute_tally(invoice.fields, parts["LineGroup"], parts["Line"], parts["Adjustment"])
    text = text_of(render_pdf(tally, title="Invoice", locale=DE))
    assert invoice.fields["full_number"] in text
    assert format_money(invoice.fields["amount"], DE["base_currency"], DE["number_format"]) in text


@pytest.mark.parametrize(
    ("value", "currency", "number_format", "expected"),
    [
        ("1234.5", {"symbol": "$"}, {"dec_sep": ".", "grp_sep": ","}, "$1,234.50"),
        (
            "1234567.891",
            {"symbol": "€", "symbol_place_after": True, "space_separate": True},
            {"dec_sep": ",", "grp_sep": "."},
            "1.234.567,89 €",
        ),
        ("-25", {"symbol": "$"}, None, "-$25.00"),
        (
            "0",
            {"iso4217": "CHF", "space_separate": True},
            {"dec_sep": ".", "grp_sep": "'"},
            "CHF 0.00",
        ),
        ("12.5", {"symbol": "¥", "significant_digits": 0}, None, "¥13"),
    ],
)
def test_format_money(value, currency, number_format, expected):
    assert format_money(value, currency, number_format) == expected


def test_format_date_and_plain_numbers():
    assert format_date("2026-03-05 10:11:12", "d.m.Y") == "05.03.2026"
    assert format_date("2026-03-05", "D, j F Y", "de") == "Don, 5 März 2026"
    assert format_date("2026-03-05", "\\Y: Y, y/n") == "Y: 2026, 26/3"
    assert format_date("", "Y") == "" and format_date("garbage", "Y") == "garbage"
    assert format_plain("19.000", None) == "19"
    assert format_plain("7.50", {"dec_sep": ",", "grp_sep": "."}) == "7,5"
    assert format_plain("1200", {"dec_sep": ",", "grp_sep": "."}) == "1.200"
