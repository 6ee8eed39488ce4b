import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from hypothesis import given
from hypothesis import strategies as st

from crm_gateway import Currency, Locale
from portal.formatting import (
    LOCALE_CACHE_KEY,
    CrmLocale,
    aget_crm_locale,
    format_date,
    format_money,
    format_number,
    format_rate,
    format_size,
    php_date,
    to_date,
    to_decimal,
)

EURO = Currency(iso4217="EUR", symbol="€", significant_digits=2, symbol_place_after=True,
                space_separate=True)  # fmt: skip
DOLLAR = Currency(iso4217="USD", symbol="$", significant_digits=2)
US = CrmLocale(dec_sep=".", grp_sep=",", date_format="m/d/Y", base_currency=DOLLAR)
DE = CrmLocale(dec_sep=",", grp_sep=".", date_format="d.m.Y", base_currency=EURO)

META = {
    "date_format": "d.m.Y",
    "time_format": "H:i",
    "number_format": {"display": "1.000,00", "dec_sep": ",", "grp_sep": "."},
    "base_currency": {
        "name": "Euro",
        "iso4217": "EUR",
        "symbol": "€",
        "significant_digits": 2,
        "symbol_place_after": True,
        "space_separate": True,
    },
}


def from_meta(data) -> CrmLocale:
    """The locale from a `/meta/locale` reply, parsed as the gateway parses it."""
    return CrmLocale.from_locale(Locale.from_json(data if isinstance(data, dict) else {}))


def test_locale_from_meta_reads_every_part():
    locale = from_meta(META)
    assert (locale.dec_sep, locale.grp_sep, locale.date_format) == (",", ".", "d.m.Y")
    assert locale.base_currency == Currency(
        iso4217="EUR", symbol="€", significant_digits=2, symbol_place_after=True,
        space_separate=True, name="Euro",
    )  # fmt: skip


def test_an_empty_group_separator_means_no_grouping():
    locale = from_meta({"number_format": {"dec_sep": ".", "grp_sep": ""}})
    assert format_number("1234567.5", locale) == "1234567.5"


@pytest.mark.parametrize(
    "meta",
    [None, {}, {"number_format": "x"}, {"number_format": {"dec_sep": "1", "grp_sep": 5}},
     {"base_currency": {"significant_digits": "lots"}}, {"date_format": ""}],
)  # fmt: skip
def test_odd_locale_replies_keep_safe_defaults(meta):
    locale = from_meta(meta)
    assert locale.dec_sep == "."
    assert locale.date_format == "Y-m-d"
    assert locale.base_currency.significant_digits == 2


def test_equal_separators_drop_grouping():
    locale = from_meta({"number_format": {"dec_sep": ",", "grp_sep": ","}})
    assert format_number("1234.5", locale) == "1234,5"


@pytest.mark.parametrize(
    ("value", "locale", "places", "expected"),
    [
        ("1234567.891", US, 2, "1,234,567.89"),
        ("1234567.891", DE, 2, "1.234.567,89"),
        ("0.005", US, 2, "0.01"),  # half-up, not banker's rounding
        ("0.015", US, 2, "0.02"),
        ("-1234.5", DE, 2, "-1.234,50"),
        ("2.000", US, None, "2"),
        ("2.500", US, None, "2.5"),
        ("999", US, 0, "999"),
        ("1000", US, 0, "1,000"),
        (Decimal("-0.001"), US, 2, "0.00"),
        ("abc", US, 2, ""),
        (None, US, 2, ""),
    ],
)
def test_format_number(value, locale, places, expected):
    assert format_number(value, locale, places) == expected


@pytest.mark.parametrize(
    ("value", "locale", "currency", "expected"),
    [
        ("1234.5", DE, None, "1.234,50\u00a0€"),
        ("1234.5", US, None, "$1,234.50"),
        ("-3", US, None, "-$3.00"),
        ("-3", DE, None, "-3,00\u00a0€"),
        ("-0.004", US, None, "$0.00"),
        ("10", DE, DOLLAR, "$10,00"),
        ("7.1", US, Currency(iso4217="JPY", symbol="", significant_digits=0), "JPY\u00a07"),
    ],
)
def test_format_money(value, locale, currency, expected):
    assert format_money(value, locale, currency) == expected


def test_money_looks_up_a_records_currency_by_id():
    locale = DE.with_currencies({"cur-usd": DOLLAR})
    assert format_money("5", locale, "cur-usd") == "$5,00"
    assert format_money("5", locale, "-99") == "5,00\u00a0€"
    assert format_money("5", locale, "EUR") == "5,00\u00a0€"
    # An unknown currency: the number, with no guessed symbol.
    assert format_money("5", locale, "cur-unknown") == "5,00"


def test_to_decimal_never_goes_through_float():
    assert to_decimal("0.1") + to_decimal("0.2") == Decimal("0.3")
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal("NaN") is None
    assert to_decimal("Infinity") is None
    assert to_decimal(True) is None
    assert to_decimal("1" * 41) is None


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2))
def test_grouping_round_trips(value):
    text = format_number(value, DE, 2)
    assert Decimal(text.replace(".", "").replace(",", ".")) == value


def test_php_date_formats():
    moment = dt.datetime(2026, 3, 1, 14, 5, 9)
    assert php_date(moment, "d.m.Y") == "01.03.2026"
    assert php_date(moment, "j M Y") == "1 Mar 2026"
    assert php_date(moment, "l, F jS, y") == "Sunday, March 1st, 26"
    assert php_date(moment, "g:i a") == "2:05 pm"
    assert php_date(moment, "H:i:s") == "14:05:09"
    assert php_date(moment, r"Y \Y\e\a\r") == "2026 Year"


def test_format_date_and_datetime():
    assert format_date("2026-02-03", DE) == "03.02.2026"
    assert format_date("2026-02-03 23:10:00", US) == "02/03/2026"
    assert format_date("", US) == ""
    assert format_date("not a date", US) == ""
    assert to_date("2026-13-01") is None


def test_format_size_and_rate():
    assert format_size(812, US) == "812 bytes"
    assert format_size(1536, US) == "1.5\u00a0KB"
    assert format_size(200 * 1024 * 1024, DE) == "200\u00a0MB"
    assert format_size(None, US) == ""
    assert format_rate("19.000", DE) == "19\u00a0%"
    assert format_rate("7.5", DE) == "7,5\u00a0%"


async def test_locale_is_fetched_once_then_cached():
    await cache.adelete(LOCALE_CACHE_KEY)
    calls = []

    async def fetch():
        calls.append(1)
        return Locale.from_json(META)

    first = await aget_crm_locale(fetch)
    second = await aget_crm_locale(fetch)
    assert first == second == from_meta(META)
    assert calls == [1]
    await cache.adelete(LOCALE_CACHE_KEY)


async def test_unreachable_locale_falls_back_and_is_not_cached():
    await cache.adelete(LOCALE_CACHE_KEY)

    async def fetch():
        raise ConnectionError("down")

    assert await aget_crm_locale(fetch) == CrmLocale()
    assert await cache.aget(LOCALE_CACHE_KEY) is None


@pytest.mark.parametrize(
    ("language", "long_date", "short_date", "size", "bytes_"),
    [
        ("en", "Sunday, 1st March 2026", "Thu 3 Dec 2026", "1.5\u00a0KB", "812 bytes"),
        ("de", "Sonntag, 1 März 2026", "Do 3 Dez 2026", "1.5\u00a0KB", "812 Byte"),
        ("fr", "dimanche, 1 mars 2026", "jeu 3 déc 2026", "1.5\u00a0Ko", "812 octets"),
    ],
)
def test_words_follow_the_page_and_numbers_the_crm(language, long_date, short_date, size, bytes_):
    """The one rule (docs/languages.md): month and weekday names, ordinals and units in the
    page's language; separators, currency layout and the date pattern from the CRM's locale,
    whatever the page's language (here a CRM set up the US way)."""
    from django.utils import translation

    with translation.override(language):
        assert php_date(dt.date(2026, 3, 1), "l, jS F Y") == long_date
        assert php_date(dt.date(2026, 12, 3), "D j M Y") == short_date
        assert format_size(1536, US) == size
        assert format_size(812, US) == bytes_
        assert format_date("2026-12-03", US) == "12/03/2026"
        assert format_money("1234.5", US) == format_money("1234.5", US, "USD")
        assert format_number("1234.5", US, 2) == "1,234.50"
        assert format_number("1234.5", DE, 2) == "1.234,50"
