"""The statement's period, read from the query string (`period`, `from`, `to`).

`period` is one of this_year (the default), last_year, last_12_months or custom (between
dates, `from` and `to` as YYYY-MM-DD, what `<input type="date">` sends). The same query
string serves the page, its PDF and its CSV, so one bookmark names one statement.

Rules, in the spirit of portal/listing.py but for a form a contact fills in by hand:
* a date that is not a date is an error shown next to the field, keeping what the
  contact typed (the page answers 400 with the form, not a bare error page);
* `from` after `to` are swapped (that is what the contact meant);
* between dates needs `from`; `to` left empty means today;
* a parameter given twice, an array key or an overlong value is an error too;
* `from` or `to` without a `period` means between dates; a named period wins over
  leftover dates (the form sends both).
Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.listing import MAX_QUERY_LENGTH, MAX_VALUE_LENGTH, QueryDict

DEFAULT_PERIOD = "this_year"
CUSTOM = "custom"
PERIOD_LABELS: dict[str, Any] = {
    "this_year": gettext_lazy("This year"),
    "last_year": gettext_lazy("Last year"),
    "last_12_months": gettext_lazy("Last 12 months"),
    CUSTOM: gettext_lazy("Between dates…"),
}
PARAMETERS = ("period", "from", "to")


@dataclass(frozen=True)
class StatementPeriod:
    """The days whose payments the statement lists (inclusive), and the last invoice date
    its open items may have."""

    key: str
    start: dt.date
    end: dt.date

    def params(self) -> list[tuple[str, str]]:
        """The canonical query (the default period has none)."""
        if self.key == CUSTOM:
            return [
                ("period", CUSTOM),
                ("from", self.start.isoformat()),
                ("to", self.end.isoformat()),
            ]
        return [] if self.key == DEFAULT_PERIOD else [("period", self.key)]

    def url(self, path: str) -> str:
        params = self.params()
        return f"{path}?{urlencode(params)}" if params else path

    @property
    def label(self) -> Any:
        return PERIOD_LABELS[self.key]


@dataclass(frozen=True)
class PeriodForm:
    """What the contact asked for, as typed, and the period it means (None: errors)."""

    period: str = DEFAULT_PERIOD
    date_from: str = ""
    date_to: str = ""
    errors: dict[str, str] = field(default_factory=dict)  # "period" / "from" / "to" -> text
    result: StatementPeriod | None = None


def named_period(key: str, today: dt.date) -> StatementPeriod:
    if key == "this_year":
        return StatementPeriod(key, dt.date(today.year, 1, 1), today)
    if key == "last_year":
        return StatementPeriod(key, dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31))
    if key == "last_12_months":
        try:
            year_ago = today.replace(year=today.year - 1)
        except ValueError:  # 29 February
            year_ago = today.replace(year=today.year - 1, day=28)
        return StatementPeriod(key, year_ago + dt.timedelta(days=1), today)
    raise ValueError(f"not a named period: {key!r}")


def _single(query: QueryDict, key: str, errors: dict[str, str]) -> str:
    values = query.getlist(key)
    if not values:
        return ""
    if len(values) > 1:
        errors.setdefault(key, _("This was given more than once; choose one value."))
        return values[0][:MAX_VALUE_LENGTH]
    value = values[0]
    if len(value) > MAX_VALUE_LENGTH:
        errors.setdefault(key, _("This is too long to be a date."))
        return value[:MAX_VALUE_LENGTH]
    return value.strip()


def _date(text: str, key: str, errors: dict[str, str]) -> dt.date | None:
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        day = None
    if day is None or len(text) != 10 or not 1900 <= day.year <= 2999:
        errors[key] = _(
            "\u201c%(typed)s\u201d is not a date we can read. Write it as YYYY-MM-DD, "
            "for example %(example)s."
        ) % {"typed": text, "example": "2026-03-31"}
        return None
    return day


def read_period(query: QueryDict, today: dt.date, *, query_length: int = 0) -> PeriodForm:
    """The period asked for in `request.GET`; errors (and what was typed) otherwise."""
    errors: dict[str, str] = {}
    if query_length > MAX_QUERY_LENGTH or any("[" in key or "]" in key for key in query):
        errors["period"] = _("This address cannot be read as a statement period.")
    period = _single(query, "period", errors)
    typed_from = _single(query, "from", errors)
    typed_to = _single(query, "to", errors)
    if not period:
        period = CUSTOM if (typed_from or typed_to) else DEFAULT_PERIOD
    if period not in PERIOD_LABELS:
        errors.setdefault("period", _("Choose one of the periods offered."))
        period = DEFAULT_PERIOD
    if period != CUSTOM:
        if errors:
            return PeriodForm(period, typed_from, typed_to, errors)
        return PeriodForm(period, typed_from, typed_to, result=named_period(period, today))
    start = _date(typed_from, "from", errors)
    end = _date(typed_to, "to", errors)
    if not typed_from and "from" not in errors:
        errors["from"] = _("Enter the first day of the period.")
    if errors or start is None:
        return PeriodForm(period, typed_from, typed_to, errors)
    end = end or today
    if start > end:
        start, end = end, start
    return PeriodForm(
        period=CUSTOM,
        date_from=start.isoformat(),
        date_to=end.isoformat(),
        result=StatementPeriod(CUSTOM, start, end),
    )
