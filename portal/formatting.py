"""Money, numbers and dates the way the CRM is configured to show them.

The one rule (docs/languages.md): the CRM's `/meta/locale`, asked in the page's language
and cached per language, gives the separators, the currency layout and the date pattern;
the page's language gives the words (month and weekday names, file size units, English
ordinals only in English). So a French page on a CRM set up in English reads
"1,234.50 €" and "12 déc 2026" when the pattern is "j M Y".

The CRM's `/meta/locale` says which decimal and group separators to use, where the
currency symbol goes, how many decimal places money has and how dates are written (a PHP
`date()` format). Everything here is pure: a `CrmLocale` in, text out. Money is Decimal
from end to end (text from the CRM is parsed straight into Decimal, never through float).

Currencies are the gateway's typed `Currency`, and the locale is built from its typed
`Locale` (`CrmLocale.from_locale`): one parse of the CRM's reply, here only validation.

`aget_crm_locale(fetch)` caches the locale in Django's cache (per process with locmem,
shared with Redis), so a page costs no extra CRM call once the cache is warm.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import dates as names  # month and weekday names, translated
from django.utils import translation
from django.utils.translation import ngettext, pgettext

from crm_gateway import Currency, Locale
from crm_gateway import to_date as parse_date
from crm_gateway import to_decimal as parse_decimal
from portal import request_cache

logger = logging.getLogger(__name__)

LOCALE_CACHE_KEY = "portal:crm-locale:v1"
LOCALE_CACHE_SECONDS = 3600
# When the CRM cannot say (down, or an odd reply), pages still render in this format.
FALLBACK_CURRENCY_DIGITS = 2


def currency_layout(currency: Currency | None) -> Currency:
    """A CRM currency made fit to print: trimmed texts, sane decimals, flags set.

    The gateway's `Currency` keeps what the CRM said (None where it said nothing); the
    locale keeps only currencies passed through here, so formatting never guesses.
    """
    if currency is None:
        return Currency(significant_digits=FALLBACK_CURRENCY_DIGITS)
    digits = currency.significant_digits
    return Currency(
        iso4217=(currency.iso4217 or "").strip()[:8],
        symbol=(currency.symbol or "").strip()[:8],
        significant_digits=digits if digits is not None and 0 <= digits <= 6 else 2,
        symbol_place_after=bool(currency.symbol_place_after),
        space_separate=bool(currency.space_separate),
        name=(currency.name or "").strip()[:60],
    )


def _sign(currency: Currency) -> str:
    return currency.symbol or currency.iso4217 or ""


def _places(currency: Currency) -> int:
    digits = currency.significant_digits
    return FALLBACK_CURRENCY_DIGITS if digits is None else digits


@dataclass(frozen=True)
class CrmLocale:
    dec_sep: str = "."
    grp_sep: str = ","
    date_format: str = "Y-m-d"
    time_format: str = "H:i"
    base_currency: Currency = field(default_factory=lambda: currency_layout(None))
    # Other currencies the portal learnt about, by CRM id and by ISO code.
    currencies: Mapping[str, Currency] = field(default_factory=dict)

    @classmethod
    def from_locale(cls, locale: Locale) -> CrmLocale:
        """From the gateway's typed `/meta/locale`; anything missing or odd keeps the default."""
        default = cls()
        dec_sep = _separator(locale.decimal_separator, default.dec_sep)
        grp_sep = _separator(locale.group_separator, default.grp_sep, allow_empty=True)
        if grp_sep == dec_sep:  # unreadable numbers: keep the CRM's decimal sign only
            grp_sep = ""
        return cls(
            dec_sep=dec_sep,
            grp_sep=grp_sep,
            date_format=_format(locale.date_format, default.date_format),
            time_format=_format(locale.time_format, default.time_format),
            base_currency=currency_layout(locale.base_currency),
        )

    def with_currencies(self, currencies: Mapping[str, Currency]) -> CrmLocale:
        return replace(self, currencies={**self.currencies, **currencies})

    def currency(self, key: str | None) -> Currency:
        """The currency for a record's `currency_id` (or ISO code); the base one if unknown.

        An unknown id in a locale that knows other currencies gets the base currency's
        layout with no symbol guess: better "1,234.50" than a wrong "€".
        """
        if not key or key == "-99":  # -99: 1CRM's id for the base currency
            return self.base_currency
        found = self.currencies.get(key)
        if found is not None:
            return found
        if key == self.base_currency.iso4217:
            return self.base_currency
        return replace(self.base_currency, symbol="", iso4217="", name="")

    def as_dict(self) -> dict[str, Any]:
        """For Django's cache (plain data pickles across versions)."""
        return {
            "dec_sep": self.dec_sep,
            "grp_sep": self.grp_sep,
            "date_format": self.date_format,
            "time_format": self.time_format,
            "base_currency": _currency_dict(self.base_currency),
            "currencies": {k: _currency_dict(v) for k, v in self.currencies.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CrmLocale:
        return cls(
            dec_sep=data["dec_sep"],
            grp_sep=data["grp_sep"],
            date_format=data["date_format"],
            time_format=data["time_format"],
            base_currency=Currency(**data["base_currency"]),
            currencies={k: Currency(**v) for k, v in data.get("currencies", {}).items()},
        )


def _currency_dict(currency: Currency) -> dict[str, Any]:
    return {
        "iso4217": currency.iso4217,
        "symbol": currency.symbol,
        "significant_digits": currency.significant_digits,
        "symbol_place_after": currency.symbol_place_after,
        "space_separate": currency.space_separate,
        "name": currency.name,
    }


def _separator(value: Any, default: str, *, allow_empty: bool = False) -> str:
    readable = isinstance(value, str) and len(value) <= 3 and not any(c.isdigit() for c in value)
    if readable and (value or allow_empty):
        return value
    return default


def _format(value: Any, default: str) -> str:
    return value if isinstance(value, str) and 0 < len(value) <= 40 else default


# --- Numbers and money -------------------------------------------------------------------


def to_decimal(value: Any) -> Decimal | None:
    """A value to print as a number. Records come typed from the gateway (`Decimal`);
    anything else goes through the gateway's one parser (never through float), and
    overlong text is refused."""
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str) and len(value.strip()) > 40:
        return None
    return parse_decimal(value)


def _group(digits: str, separator: str) -> str:
    if not separator or len(digits) <= 3:
        return digits
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return separator.join(parts)


def format_number(value: Any, locale: CrmLocale, places: int | None = None) -> str:
    """1234.5 -> "1,234.5" (or "1.234,5"); `places` rounds half-up and pads with zeros.

    Without `places`, trailing zeros after the decimal sign are dropped ("2.000" -> "2"),
    which is how quantities read best. Not a number -> "".
    """
    number = to_decimal(value)
    if number is None:
        return ""
    if places is not None:
        number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    elif number == number.to_integral_value():
        number = number.quantize(Decimal(1))
    else:
        number = number.normalize()
    negative = number < 0
    text = f"{abs(number):f}"
    whole, _, fraction = text.partition(".")
    result = _group(whole, locale.grp_sep)
    if fraction:
        result += locale.dec_sep + fraction
    if negative and number != 0:
        result = "-" + result
    return result


def format_money(value: Any, locale: CrmLocale, currency: Currency | str | None = None) -> str:
    """An amount in a record's currency: "€1,234.50", "1.234,50 €", "-$3.00".

    `currency` is a `Currency`, or a record's `currency_id` / ISO code looked up in the
    locale. Rounded half-up to the currency's significant digits.
    """
    if not isinstance(currency, Currency):
        currency = locale.currency(currency)
    number = to_decimal(value)
    if number is None:
        return ""
    places = _places(currency)
    text = format_number(abs(number), locale, places)
    sign = _sign(currency)
    if sign:
        gap = "\u00a0" if currency.space_separate or len(sign) > 1 else ""
        text = f"{text}{gap}{sign}" if currency.symbol_place_after else f"{sign}{gap}{text}"
    rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"-{text}" if rounded < 0 else text


def format_rate(value: Any, locale: CrmLocale) -> str:
    """A tax or discount rate: "19 %" / "7.5 %"."""
    text = format_number(value, locale)
    return f"{text}\u00a0%" if text else ""


# --- Dates -------------------------------------------------------------------------------


def to_date(value: Any) -> dt.date | None:
    """A date or datetime as a date; text through the gateway's parser ("Y-m-d ...")."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return parse_date(value)


def _ordinal_suffix(day: int) -> str:
    """PHP's "S" ("1st", "2nd"): English only; other languages write "1." or just "1"."""
    if not (translation.get_language() or "en").startswith("en"):
        return ""
    if 11 <= day % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _month_abbreviation(month: int) -> str:
    """ "Dec", "Dez", "déc": Django's catalogues write them in each language's own case,
    except English's, which it keeps lower-case ("dec")."""
    text = str(names.MONTHS_3[month])
    return text.title() if (translation.get_language() or "en").startswith("en") else text


def php_date(moment: dt.datetime | dt.date, pattern: str) -> str:
    """PHP `date()` for the format characters a CRM date or time format uses.

    Unknown letters are copied as they are; a backslash escapes the next character.
    """
    when = moment if isinstance(moment, dt.datetime) else dt.datetime.combine(moment, dt.time())
    hour12 = when.hour % 12 or 12
    mapping = {
        "d": f"{when.day:02d}",
        "j": str(when.day),
        "S": _ordinal_suffix(when.day),
        "D": str(names.WEEKDAYS_ABBR[when.weekday()]),
        "l": str(names.WEEKDAYS[when.weekday()]),
        "N": str(when.isoweekday()),
        "m": f"{when.month:02d}",
        "n": str(when.month),
        "M": _month_abbreviation(when.month),
        "F": str(names.MONTHS[when.month]),
        "Y": f"{when.year:04d}",
        "y": f"{when.year % 100:02d}",
        "H": f"{when.hour:02d}",
        "G": str(when.hour),
        "h": f"{hour12:02d}",
        "g": str(hour12),
        "i": f"{when.minute:02d}",
        "s": f"{when.second:02d}",
        "a": "am" if when.hour < 12 else "pm",
        "A": "AM" if when.hour < 12 else "PM",
    }
    out: list[str] = []
    escape = False
    for char in pattern:
        if escape:
            out.append(char)
            escape = False
            continue
        if char == "\\":
            escape = True
            continue
        out.append(mapping.get(char, char))
    return "".join(out)


def format_date(value: Any, locale: CrmLocale) -> str:
    day = to_date(value)
    return php_date(day, locale.date_format) if day is not None else ""


def format_time(value: Any, locale: CrmLocale) -> str:
    """A moment's time of day in the CRM's time format ("14:05", "2:05pm")."""
    return php_date(value, locale.time_format) if isinstance(value, dt.datetime) else ""


def format_size(size: Any, locale: CrmLocale) -> str:
    """A file size for people: "812 bytes", "1.4 KB", "200 MB" (1024-based), with the
    unit in the page's language ("Ko", "Mo" in French)."""
    number = to_decimal(size)
    if number is None or number < 0:
        return ""
    if number < 1024:
        count = int(number)
        text = ngettext("%(size)s byte", "%(size)s bytes", count)
        return text % {"size": format_number(number, locale, 0)}
    units = (
        pgettext("file size", "KB"),
        pgettext("file size", "MB"),
        pgettext("file size", "GB"),
        pgettext("file size", "TB"),
    )
    for index, unit in enumerate(units):
        number /= 1024
        if number < 1024 or index == len(units) - 1:
            places = 0 if number >= 100 else 1
            return f"{format_number(number, locale, places)}\u00a0{unit}"
    raise AssertionError("unreachable")


# --- The cached locale -------------------------------------------------------------------


def locale_cache_key(language: str) -> str:
    return f"{LOCALE_CACHE_KEY}:{language[:16]}" if language else LOCALE_CACHE_KEY


async def aget_crm_locale(
    fetch: Callable[[], Awaitable[Locale]],
    *,
    currencies: Callable[[], Awaitable[Mapping[str, Currency]]] | None = None,
    language: str = "",
) -> CrmLocale:
    """The CRM's locale from Django's cache, else fetched once and cached for an hour.

    The CRM answers per language (Accept-Language), so each language is cached apart.
    If the CRM cannot be asked, pages still render with the default locale (and the
    next request tries again): formatting must never be why a page fails.
    """
    key = locale_cache_key(language)
    cached = await request_cache.aget(key)
    if isinstance(cached, dict):
        try:
            return CrmLocale.from_dict(cached)
        except (KeyError, TypeError):
            pass
    try:
        locale = CrmLocale.from_locale(await fetch())
        if currencies is not None:
            locale = locale.with_currencies(await currencies())
    except Exception as exc:  # the CRM's trouble is reported by the page's own calls
        logger.warning("CRM locale unavailable, using defaults: %s", type(exc).__name__)
        return CrmLocale()
    await request_cache.aset(key, locale.as_dict(), LOCALE_CACHE_SECONDS)
    return locale
