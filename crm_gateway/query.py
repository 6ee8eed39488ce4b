"""List queries that cannot be smuggled.

Names (fields, filters, order) must be plain identifiers, so they can never add a
parameter; values are arbitrary text and reach the CRM exactly as meant, because httpx
percent-encodes every `&`, `=`, `[`, `]`, `#`, `%`, newline and non-ASCII character.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from crm_gateway.errors import InvalidQuery

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
PAGE_LIMIT = 200
MULTI_SEPARATOR = "^,^"


class DateOperator(StrEnum):
    NOT_EMPTY = "not_empty"
    EMPTY = "empty"
    BEFORE_DATE = "before_date"
    AFTER_DATE = "after_date"
    ON_DATE = "on_date"
    NOT_ON_DATE = "not_on_date"
    YESTERDAY = "yesterday"
    TODAY = "today"
    TOMORROW = "tomorrow"
    BETWEEN_DATES = "between_dates"
    PERIOD_PREV = "period_prev"
    PERIOD_CURRENT = "period_current"
    PERIOD_NEXT = "period_next"


NO_VALUE_OPERATORS = frozenset(
    {
        DateOperator.NOT_EMPTY,
        DateOperator.EMPTY,
        DateOperator.YESTERDAY,
        DateOperator.TODAY,
        DateOperator.TOMORROW,
        DateOperator.PERIOD_PREV,
        DateOperator.PERIOD_CURRENT,
        DateOperator.PERIOD_NEXT,
    }
)
PERIOD_OPERATORS = frozenset(
    {DateOperator.PERIOD_PREV, DateOperator.PERIOD_CURRENT, DateOperator.PERIOD_NEXT}
)
_PERIOD = re.compile(
    r"^(day|week|month|quarter|year|fiscal_quarter|fiscal_year|days_[1-9]\d{0,3})$"
)


def check_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidQuery(f"not a valid {what}: {name[:40]!r}")
    return name


def _date_text(value: dt.date | str) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class Filter:
    """`filters[name]=value`; a sequence of values is a multi-select (joined by ^,^)."""

    name: str
    value: str | Sequence[str]

    def params(self) -> list[tuple[str, str]]:
        check_name(self.name, "filter name")
        value = self.value
        text = value if isinstance(value, str) else MULTI_SEPARATOR.join(value)
        return [(f"filters[{self.name}]", text)]

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class DateFilter:
    """A date filter with every operator the CRM knows (default on_date)."""

    name: str
    operator: DateOperator = DateOperator.ON_DATE
    value: dt.date | str | None = None
    end: dt.date | str | None = None
    period: str | None = None

    def __post_init__(self) -> None:
        check_name(self.name, "filter name")
        operator = DateOperator(self.operator)
        object.__setattr__(self, "operator", operator)
        if operator in NO_VALUE_OPERATORS:
            if self.value is not None:
                raise InvalidQuery(f"date operator {operator} takes no date")
        elif self.value is None:
            raise InvalidQuery(f"date operator {operator} needs a date")
        if (operator is DateOperator.BETWEEN_DATES) != (self.end is not None):
            raise InvalidQuery("between_dates needs an end date, and only it takes one")
        if operator in PERIOD_OPERATORS:
            if not self.period or not _PERIOD.fullmatch(self.period):
                raise InvalidQuery(f"date operator {operator} needs a valid period")
        elif self.period is not None:
            raise InvalidQuery("only period_* operators take a period")

    def params(self) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = []
        if self.value is not None:
            params.append((f"filters[{self.name}]", _date_text(self.value)))
        params.append((f"filters[{self.name}-operator]", str(self.operator)))
        if self.end is not None:
            params.append((f"filters[{self.name}-end]", _date_text(self.end)))
        if self.period is not None:
            params.append((f"filters[{self.name}-period]", self.period))
        return params

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)


AnyFilter = Filter | DateFilter
_ORDER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]{0,63})(?: (ASC|DESC))?$", re.IGNORECASE)


@dataclass(frozen=True)
class ListQuery:
    fields: tuple[str, ...] = ()
    filters: tuple[AnyFilter, ...] = ()
    filter_text: str | None = None
    order: str | None = None
    offset: int = 0
    limit: int = 20
    # `view_closed=1`: a case list with its closed cases too (the vendor's portal lists
    # closed cases only on request). A CRM may ignore it: the caller still filters.
    view_closed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "filters", tuple(self.filters))
        for name in self.fields:
            check_name(name, "field name")
        for item in self.filters:
            if not isinstance(item, Filter | DateFilter):
                raise InvalidQuery("filters must be Filter or DateFilter objects")
            for name in item.names:
                check_name(name, "filter name")
        if self.order is not None and not _ORDER.fullmatch(self.order):
            raise InvalidQuery("order must be 'field' or 'field ASC|DESC'")
        if isinstance(self.offset, bool) or not isinstance(self.offset, int) or self.offset < 0:
            raise InvalidQuery("offset must be a non-negative integer")
        if (
            isinstance(self.limit, bool)
            or not isinstance(self.limit, int)
            or not 1 <= self.limit <= PAGE_LIMIT
        ):
            raise InvalidQuery(f"limit must be between 1 and {PAGE_LIMIT}")
        if not isinstance(self.view_closed, bool):
            raise InvalidQuery("view_closed must be true or false")

    @property
    def order_field(self) -> str | None:
        if self.order is None:
            return None
        match = _ORDER.fullmatch(self.order)
        return match.group(1) if match else None

    def with_filters(self, extra: Iterable[AnyFilter]) -> ListQuery:
        return replace(self, filters=(*self.filters, *extra))

    def params(self) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = [("fields[]", name) for name in self.fields]
        for item in self.filters:
            params.extend(item.params())
        if self.filter_text:
            params.append(("filter_text", self.filter_text))
        if self.order:
            params.append(("order", self.order))
        if self.view_closed:
            params.append(("view_closed", "1"))
        params.append(("offset", str(self.offset)))
        params.append(("limit", str(self.limit)))
        return params
