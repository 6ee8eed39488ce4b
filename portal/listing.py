"""The state of a list page (search, filters, sort, page), strictly read from a query string.

Every state of a list lives in its URL, so back, reload and bookmarks work. The rules:

* `q` (search), `status`, `period`, `from`, `to`, `sort`, `dir`, `page` are read, and
  the list's own choice filters (`ListSpec.choice_filters`: the cases' `priority`); other
  parameters are ignored, except PHP-style array keys (`status[]`), which are refused.
* A parameter given twice (`?status=open&status=paid`) is refused: the page cannot know
  which one the visitor meant. So is a value longer than `MAX_VALUE_LENGTH` or a whole
  query string longer than `MAX_QUERY_LENGTH`. Refusals raise `BadListQuery` (a 400 page).
* An unknown `sort` or `dir` falls back to the list's default: sort links are harmless,
  and an old bookmark should still open. An unknown `status` or `period`, or a date that
  is not a date, is refused: silently showing other records than asked would mislead.
* `page` must be digits; 0 reads as 1. A page past the last one is clamped to the last
  page by the view (`clamp_page`), which shows it under its canonical URL.
* `from` after `to` are swapped: that is what the visitor meant. A named `period`
  (this quarter, last year...) wins over `from`/`to` (the form sends both).

`ListQuery.crm_*` turn the state into the gateway's filter objects. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol
from urllib.parse import urlencode

from django.utils.translation import gettext_lazy as _

from crm_gateway import PAGE_LIMIT, DateFilter, DateOperator, Filter

MAX_VALUE_LENGTH = 200
MAX_QUERY_LENGTH = 2000
MAX_PAGE = 10_000
PARAMETERS = ("q", "status", "period", "from", "to", "sort", "dir", "page")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DIGITS = re.compile(r"^[0-9]{1,6}$")

Direction = Literal["asc", "desc"]


class BadListQuery(ValueError):
    """The query string cannot be read as a list state (answered with a 400 page)."""


class QueryDict(Protocol):
    def getlist(self, key: str) -> list[str]: ...

    def __iter__(self) -> Iterator[str]: ...


@dataclass(frozen=True)
class Period:
    label: Any
    operator: DateOperator
    period: str


# The named periods offered in the filter form, with the reference's operators.
PERIODS: dict[str, Period] = {
    "this_month": Period(_("This month"), DateOperator.PERIOD_CURRENT, "month"),
    "last_month": Period(_("Last month"), DateOperator.PERIOD_PREV, "month"),
    "this_quarter": Period(_("This quarter"), DateOperator.PERIOD_CURRENT, "quarter"),
    "last_quarter": Period(_("Last quarter"), DateOperator.PERIOD_PREV, "quarter"),
    "this_year": Period(_("This year"), DateOperator.PERIOD_CURRENT, "year"),
    "last_year": Period(_("Last year"), DateOperator.PERIOD_PREV, "year"),
    "last_30_days": Period(_("Last 30 days"), DateOperator.PERIOD_CURRENT, "days_30"),
    "last_90_days": Period(_("Last 90 days"), DateOperator.PERIOD_CURRENT, "days_90"),
}
CUSTOM_PERIOD = "custom"


@dataclass(frozen=True)
class SortKey:
    field: str  # the CRM field
    label: Any  # a lazy translation
    kind: Literal["text", "date", "number"] = "text"


@dataclass(frozen=True)
class ChoiceFilter:
    """A filter on one CRM field, its value one of the CRM's own options (`priority`):
    a parameter of its own in the query string, sent to the CRM as `filters[field]`.
    The options (and so which values are accepted) come from the section's
    `filter_options` hook."""

    field: str  # the CRM field
    label: Any  # a lazy translation: the select's label
    blank_label: Any = ""  # "" = "All"


@dataclass(frozen=True)
class ListSpec:
    """What one list page offers: sort keys, statuses and the date its periods filter."""

    sorts: Mapping[str, SortKey]
    default_sort: str
    default_dir: Direction
    statuses: Mapping[str, Any] = field(default_factory=dict)  # value -> label
    # What no status means: "All" for most lists; the cases list shows its open ones.
    blank_status_label: Any = ""  # "" = "All"
    date_field: str | None = None
    date_label: Any = ""
    # More filters, each its own query parameter (name -> filter); never one of PARAMETERS.
    choice_filters: Mapping[str, ChoiceFilter] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.default_sort not in self.sorts:
            raise ValueError("the default sort must be one of the sort keys")
        if set(self.choice_filters) & set(PARAMETERS):
            raise ValueError("a choice filter may not take the name of a list parameter")


@dataclass(frozen=True)
class ListQuery:
    q: str = ""
    status: str = ""
    period: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    sort: str = ""
    dir: Direction = "asc"
    page: int = 1
    choices: tuple[tuple[str, str], ...] = ()  # (choice filter, value), in the spec's order

    def choice(self, name: str) -> str:
        return dict(self.choices).get(name, "")

    # --- URLs ---------------------------------------------------------------------------

    def params(self, spec: ListSpec, **changes: Any) -> list[tuple[str, str]]:
        """The canonical query parameters (defaults left out), after `changes`."""
        state = replace(self, **changes) if changes else self
        params: list[tuple[str, str]] = []
        if state.q:
            params.append(("q", state.q))
        if state.status:
            params.append(("status", state.status))
        params.extend((name, value) for name, value in state.choices if value)
        if state.period and state.period != CUSTOM_PERIOD:
            params.append(("period", state.period))
        if state.date_from:
            params.append(("from", state.date_from.isoformat()))
        if state.date_to:
            params.append(("to", state.date_to.isoformat()))
        if state.sort and (state.sort != spec.default_sort or state.dir != spec.default_dir):
            params.append(("sort", state.sort))
            params.append(("dir", state.dir))
        if state.page > 1:
            params.append(("page", str(state.page)))
        return params

    def url(self, path: str, spec: ListSpec, **changes: Any) -> str:
        params = self.params(spec, **changes)
        return f"{path}?{urlencode(params)}" if params else path

    def sort_url(self, path: str, spec: ListSpec, key: str) -> str:
        """Sort by `key`; the current key toggles its direction. Back to page 1."""
        if key == self.sort:
            direction: Direction = "desc" if self.dir == "asc" else "asc"
        else:
            direction = "desc" if spec.sorts[key].kind in {"date", "number"} else "asc"
        return self.url(path, spec, sort=key, dir=direction, page=1)

    @property
    def is_filtered(self) -> bool:
        return bool(
            self.q
            or self.status
            or self.period
            or self.date_from
            or self.date_to
            or any(value for _name, value in self.choices)
        )

    # --- For the gateway ----------------------------------------------------------------

    def crm_order(self, spec: ListSpec) -> str:
        return f"{spec.sorts[self.sort].field} {self.dir.upper()}"

    def crm_choice_filters(self, spec: ListSpec) -> tuple[Filter, ...]:
        """The choice filters asked for, as CRM filters (one value each)."""
        return tuple(
            Filter(spec.choice_filters[name].field, value)
            for name, value in self.choices
            if value and name in spec.choice_filters
        )

    def crm_date_filter(self, spec: ListSpec) -> DateFilter | None:
        """The period or the from/to range as a CRM date filter (inclusive both ends)."""
        if spec.date_field is None:
            return None
        name = spec.date_field
        if self.period in PERIODS:
            period = PERIODS[self.period]
            return DateFilter(name, period.operator, period=period.period)
        start, end = self.date_from, self.date_to
        if start and end:
            return DateFilter(name, DateOperator.BETWEEN_DATES, start, end=end)
        if start:  # after_date is strict: the day before keeps `from` itself in
            return DateFilter(name, DateOperator.AFTER_DATE, start - dt.timedelta(days=1))
        if end:
            return DateFilter(name, DateOperator.BEFORE_DATE, end + dt.timedelta(days=1))
        return None


@dataclass(frozen=True)
class SortHeader:
    key: str
    label: Any
    url: str
    aria_sort: str  # "ascending", "descending" or "" (not sorted by this column)


def sort_headers(query: ListQuery, spec: ListSpec, path: str) -> dict[str, SortHeader]:
    """Column headers as links that sort (and toggle), keyed by sort key."""
    headers = {}
    for key, sort_key in spec.sorts.items():
        active = key == query.sort
        aria = ("ascending" if query.dir == "asc" else "descending") if active else ""
        headers[key] = SortHeader(key, sort_key.label, query.sort_url(path, spec, key), aria)
    return headers


def _single(query: QueryDict, key: str) -> str:
    values = query.getlist(key)
    if not values:
        return ""
    if len(values) > 1:
        raise BadListQuery(f"{key} was given more than once")
    value = values[0]
    if len(value) > MAX_VALUE_LENGTH:
        raise BadListQuery(f"{key} is too long")
    return value


def _date(text: str, key: str) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise BadListQuery(f"{key} is not a date (YYYY-MM-DD)") from None
    if not 1900 <= day.year <= 2999 or len(text) != 10:
        raise BadListQuery(f"{key} is not a date (YYYY-MM-DD)")
    return day


def parse_list_query(query: QueryDict, spec: ListSpec, *, query_length: int = 0) -> ListQuery:
    """Read and validate a list's state from `request.GET`; `BadListQuery` if unreadable."""
    if query_length > MAX_QUERY_LENGTH:
        raise BadListQuery("the query string is too long")
    for key in query:
        if "[" in key or "]" in key:
            raise BadListQuery("array parameters are not accepted")
    text = " ".join(_CONTROL.sub(" ", _single(query, "q")).split())

    status = _single(query, "status").strip()
    if status and status not in spec.statuses:
        raise BadListQuery("unknown status")
    choices = []
    for name in spec.choice_filters:
        value = _single(query, name).strip()
        if _CONTROL.search(value):
            raise BadListQuery(f"{name} is not a value")
        if value:
            choices.append((name, value))

    period = _single(query, "period").strip()
    date_from = _date(_single(query, "from"), "from")
    date_to = _date(_single(query, "to"), "to")
    if spec.date_field is None and (period or date_from or date_to):
        raise BadListQuery("this list has no date filter")
    if period and period != CUSTOM_PERIOD and period not in PERIODS:
        raise BadListQuery("unknown period")
    if period in PERIODS:  # the explicit choice in the form wins over leftover dates
        date_from = date_to = None
    if period == CUSTOM_PERIOD and not (date_from or date_to):
        period = ""
    if date_from and date_to and date_from > date_to:
        date_from, date_to = date_to, date_from
    if date_from or date_to:
        period = CUSTOM_PERIOD

    sort = _single(query, "sort").strip()
    direction_text = _single(query, "dir").strip().lower()
    if sort not in spec.sorts:
        sort = spec.default_sort
    direction: Direction
    if direction_text in {"asc", "desc"}:
        direction = "asc" if direction_text == "asc" else "desc"
    else:
        direction = spec.default_dir if sort == spec.default_sort else "asc"

    page_text = _single(query, "page").strip()
    if page_text and not _DIGITS.match(page_text):
        raise BadListQuery("page must be a number")
    page = max(1, int(page_text)) if page_text else 1
    if page > MAX_PAGE:
        raise BadListQuery("page is too large")

    return ListQuery(
        q=text,
        status=status,
        period=period,
        date_from=date_from,
        date_to=date_to,
        sort=sort,
        dir=direction,
        page=page,
        choices=tuple(choices),
    )


# --- Paging ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paging:
    page: int
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def first_item(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.page_size + 1

    @property
    def last_item(self) -> int:
        return min(self.total, self.page * self.page_size)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def window(self, radius: int = 2) -> list[int | None]:
        """Page numbers to link: first, last and `radius` around the current; None = gap."""
        wanted = {1, self.pages, *range(self.page - radius, self.page + radius + 1)}
        numbers = sorted(n for n in wanted if 1 <= n <= self.pages)
        out: list[int | None] = []
        for number in numbers:
            if out and number - (out[-1] or 0) > 1:
                out.append(None)
            out.append(number)
        return out


def page_links(query: ListQuery, spec: ListSpec, path: str, paging: Paging) -> dict[str, Any]:
    """Previous/next URLs and the numbered window ((number, url), None for a gap)."""

    def url(number: int) -> str:
        return query.url(path, spec, page=number)

    return {
        "previous": url(paging.page - 1) if paging.has_previous else "",
        "next": url(paging.page + 1) if paging.has_next else "",
        "numbers": [(n, url(n)) if n is not None else (None, "") for n in paging.window()],
    }


def clamp_page(page: int, total: int, page_size: int) -> int:
    """The page to show for `page` when the list has `total` records."""
    last = max(1, -(-total // page_size))
    return min(max(1, page), last)


def page_size_for(setting: int) -> int:
    return min(max(1, int(setting)), PAGE_LIMIT)


# --- Statuses the CRM cannot filter ------------------------------------------------------


@dataclass(frozen=True)
class StatusPlan:
    """How a status reaches the CRM.

    `filters` go to the CRM. When the CRM cannot express a status ("amount due above
    zero": its number filters only test equality), `keep` selects rows locally: the
    view then asks for one page of at most 200 records ordered by `prefetch_order`, so the
    ones that can match come first, and sorts and pages them itself.
    """

    filters: tuple[Filter | DateFilter, ...] = ()
    keep: Callable[[Any], bool] | None = None
    prefetch_order: str | None = None
    view_closed: bool = False  # the status needs closed records: ask the CRM for them

    @property
    def local(self) -> bool:
        return self.keep is not None


# --- Local sorting (for statuses the CRM cannot filter) -----------------------------------


def sort_records(rows: Iterable[Any], key: SortKey, descending: bool) -> list[Any]:
    """Sort rows like the CRM does: by their record's typed value, empty values last."""

    def value(row: Any) -> Any:
        raw = getattr(row.record, key.field, None)
        if key.kind == "text":
            return str(raw).casefold() if raw not in (None, "") else None
        return raw

    ordered = sorted(rows, key=lambda row: row.record.id)
    present = [row for row in ordered if value(row) is not None]
    empty = [row for row in ordered if value(row) is None]
    present.sort(key=value, reverse=descending)
    return present + empty
