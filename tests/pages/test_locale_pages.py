"""Money and dates on real pages follow the CRM's locale, per language, in each record's
own currency."""

from __future__ import annotations

import pytest
from django.test import Client

from crm_gateway import Currency
from portal.formatting import format_date, format_money
from tests.pages.conftest import locale_from_reply, sign_in, staff_get, staff_token

pytestmark = pytest.mark.django_db


def test_german_pages_use_the_crms_german_format(contact_client, crm_pages, demo):
    invoice_id = demo.own["Invoice"]
    token = staff_token(crm_pages.api_url)
    tally = staff_get(crm_pages.api_url, token, f"/tally/Invoice/{invoice_id}", [])
    german = locale_from_reply(
        staff_get(crm_pages.api_url, token, "/meta/locale", []) | {
            "number_format": {"dec_sep": ",", "grp_sep": "."}, "date_format": "d.m.Y",
            "base_currency": {"iso4217": "EUR", "symbol": "€", "significant_digits": 2,
                              "symbol_place_after": True, "space_separate": True},
        }
    )  # fmt: skip
    response = contact_client.get(f"/invoices/{invoice_id}/", HTTP_ACCEPT_LANGUAGE="de")
    html = response.content.decode()
    assert format_money(tally["totals"]["total"], german, "EUR") in html  # "1.234,56 €"
    day, month, year = (tally["record"]["invoice_date"].split("-")[i] for i in (2, 1, 0))
    assert f"{day}.{month}.{year}" in html


def test_records_show_their_own_currency(crm_pages, demo, client: Client):
    token = staff_token(crm_pages.api_url)
    currencies = {
        c["id"]: c
        for c in staff_get(
            crm_pages.api_url, token, "/data/Currency", [("fields[]", "iso4217"),
                                                         ("fields[]", "symbol")]
        )["records"]
    }  # fmt: skip
    params = [("fields[]", "currency_id"), ("fields[]", "amount"), ("limit", "200")]
    invoices = staff_get(crm_pages.api_url, token, "/data/Invoice", params)["records"]
    foreign = next(i for i in invoices if currencies[i["currency_id"]]["iso4217"] != "EUR")
    account = staff_get(crm_pages.api_url, token, f"/data/Invoice/{foreign['id']}", [])["record"][
        "billing_account_id"
    ]
    person = demo.other if demo.other.account_id == account else None
    if person is None:
        from tests.pages.test_quotes_documents import _contact_of

        person = _contact_of(crm_pages, account)
    sign_in(client, crm_pages.api_url, person)
    html = client.get(f"/invoices/{foreign['id']}/").content.decode()
    symbol = currencies[foreign["currency_id"]]["symbol"]
    # The CRM's formats in the page's language (English here; its base locale may differ).
    locale = locale_from_reply(
        staff_get(crm_pages.api_url, token, "/meta/locale", [], accept_language="en")
    )
    layout = locale.base_currency
    expected = Currency(
        iso4217=currencies[foreign["currency_id"]]["iso4217"],
        symbol=symbol,
        significant_digits=layout.significant_digits,
        symbol_place_after=layout.symbol_place_after,
        space_separate=layout.space_separate,
    )
    assert format_money(foreign["amount"], locale, expected) in html
    assert "€" not in html.split('data-total="total">')[1][:20]


def test_a_french_page_shows_the_numbers_the_crm_gave_it(contact_client, crm_pages, demo):
    """The emulator has no French locale: asked in French, it answers with its base locale,
    and the French page shows those separators and that date pattern (what it got, not a
    French guess), with French words around them."""
    import httpx2 as httpx

    invoice_id = demo.own["Invoice"]
    token = staff_token(crm_pages.api_url)
    tally = staff_get(crm_pages.api_url, token, f"/tally/Invoice/{invoice_id}", [])
    reply = httpx.get(
        f"{crm_pages.api_url}/meta/locale",
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "fr"},
        timeout=10,
    )
    answered = locale_from_reply(reply.json())
    response = contact_client.get(f"/invoices/{invoice_id}/", HTTP_ACCEPT_LANGUAGE="fr")
    html = response.content.decode()
    assert '<html lang="fr"' in html
    assert format_money(tally["totals"]["total"], answered, "EUR") in html
    assert format_date(tally["record"]["invoice_date"], answered) in html
