"""List filters, `filter_text` and `order`, evaluated in Python over stored records.

Date operators follow the reference: `on_date` (default), `not_on_date`, `before_date`,
`after_date` (strict), `between_dates` (inclusive, needs `-end`), `empty`, `not_empty`,
`yesterday`, `today`, `tomorrow`, and `period_prev|period_current|period_next` with a
`-period` of day, week (Monday first), month, quarter, year, fiscal_quarter, fiscal_year
(the emulator's fiscal year is the calendar year) or days_N. For days_N the current period
is the N days ending today, the previous one the N days before it, the next one the N days
after today.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from crm_emulator.errors import ApiError
from crm_emulator.schema import FilterDef, ModelDef

DATE_OPERATORS = frozenset(
    {
        "on_date",
        "not_on_date",
        "before_date",
        "after_date",
        "between_dates",
        "empty",
        "not_empty",
        "yesterday",
        "today",
        "tomorrow",
        "period_prev",
        "period_current",
        "period_next",
    }
)
NEEDS_VALUE = frozenset({"on_date", "not_on_date", "before_date", "after_date", "between_dates"})
PERIODS = ("day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year")
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
MULTI_SEPARATOR = "^,^"

Predicate = Callable[[dict], bool]


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def parse_date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise ApiError(
            400, "invalid_parameter", f"{what} must be a date (Y-m-d)", hint=f"got {text!r}"
        ) from None


def stored_date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return bool(value)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def period_bounds(period: str, shift: int, now: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day of the period `shift` periods away from the one holding `now`."""
    days = re.fullmatch(r"days_(\d+)", period)
    if days:
        length = int(days.group(1))
        if length < 1:
            raise ApiError(400, "invalid_parameter", "days_N needs N >= 1")
        if shift == 1:
            return now + dt.timedelta(days=1), now + dt.timedelta(days=length)
        end = now + dt.timedelta(days=shift * length)
        return end - dt.timedelta(days=length - 1), end
    if period == "day":
        day = now + dt.timedelta(days=shift)
        return day, day
    if period == "week":
        start = now - dt.timedelta(days=now.weekday()) + dt.timedelta(weeks=shift)
        return start, start + dt.timedelta(days=6)
    months = {"month": 1, "quarter": 3, "fiscal_quarter": 3, "year": 12, "fiscal_year": 12}
    if period not in months:
        raise ApiError(
            400,
            "invalid_parameter",
            f"Unknown period {period!r}",
            hint="One of " + ", ".join(PERIODS) + ", days_N",
        )
    size = months[period]
    first = dt.date(now.year, ((now.month - 1) // size) * size + 1, 1)
    start = _add_months(first, shift * size)
    return start, _add_months(start, size) - dt.timedelta(days=1)


def date_predicate(name: str, field: str, options: dict[str, str]) -> Predicate:
    operator = options.get("operator") or "on_date"
    if operator not in DATE_OPERATORS:
        raise ApiError(
            400,
            "invalid_parameter",
            f"Unknown operator {operator!r} for filter {name!r}",
            hint="One of " + ", ".join(sorted(DATE_OPERATORS)),
        )
    value = options.get("value")
    if operator in NEEDS_VALUE and not value:
        raise ApiError(400, "invalid_parameter", f"Filter {name!r} with {operator} needs a date")
    now = today()

    def between(low: dt.date, high: dt.date) -> Predicate:
        return lambda r: (d := stored_date(r.get(field))) is not None and low <= d <= high

    if operator == "empty":
        return lambda r: stored_date(r.get(field)) is None
    if operator == "not_empty":
        return lambda r: stored_date(r.get(field)) is not None
    if operator in {"yesterday", "today", "tomorrow"}:
        offset = {"yesterday": -1, "today": 0, "tomorrow": 1}[operator]
        day = now + dt.timedelta(days=offset)
        return between(day, day)
    if operator.startswith("period_"):
        period = options.get("period") or ""
        if not period:
            raise ApiError(400, "invalid_parameter", f"Filter {name!r} needs {name}-period")
        shift = {"period_prev": -1, "period_current": 0, "period_next": 1}[operator]
        return between(*period_bounds(period, shift, now))
    assert value is not None
    day = parse_date(value, f"filters[{name}]")
    if operator == "on_date":
        return between(day, day)
    if operator == "not_on_date":
        return lambda r: (d := stored_date(r.get(field))) is not None and d != day
    if operator == "before_date":
        return lambda r: (d := stored_date(r.get(field))) is not None and d < day
    if operator == "after_date":
        return lambda r: (d := stored_date(r.get(field))) is not None and d > day
    end_text = options.get("end")
    if not end_text:
        raise ApiError(
            400,
            "invalid_parameter",
            f"between_dates needs filters[{name}-end]",
        )
    return between(day, parse_date(end_text, f"filters[{name}-end]"))


def _number(text: str, name: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise ApiError(400, "invalid_parameter", f"Filter {name!r} needs a number") from None


def _same(value: str) -> str:
    return value


def simple_predicate(
    definition: FilterDef,
    value: str,
    ref_names: Callable[[str, str], set[str]],
    *,
    literal: bool = False,
    stored_value: Callable[[str], str] = _same,
) -> Predicate:
    """`literal`: the value is one value, `^,^` and all (no alternatives, no multi-select
    parts). `stored_value` turns a value of the installation's vocabulary into the stored one."""
    fields = definition.fields
    needle = value.strip().lower()
    kind = definition.kind
    if kind == "contains":
        return lambda r: any(needle in str(r.get(f) or "").lower() for f in fields)
    if kind in {"exact", "ref_id"}:
        field = fields[0]
        if literal:
            exactly = stored_value(value).strip().lower()
            return lambda r: str(r.get(field) or "").lower() == exactly
        wanted = {stored_value(part).strip().lower() for part in value.split(MULTI_SEPARATOR)}

        def exact(record: dict) -> bool:
            stored = str(record.get(field) or "").lower()
            parts = set(stored.split(MULTI_SEPARATOR)) if MULTI_SEPARATOR in stored else {stored}
            return bool(parts & wanted)

        return exact
    if kind == "bool":
        if needle not in TRUE_WORDS | FALSE_WORDS:
            raise ApiError(400, "invalid_parameter", f"Filter {definition.name!r} needs a boolean")
        expected = needle in TRUE_WORDS
        return lambda r: truthy(r.get(fields[0])) == expected
    if kind == "number":
        number = _number(value, definition.name)

        def equal(record: dict) -> bool:
            try:
                return Decimal(str(record.get(fields[0]))) == number
            except InvalidOperation:
                return False

        return equal
    if kind == "ref_name":
        ids = ref_names(definition.ref_model, needle)
        return lambda r: str(r.get(fields[0]) or "") in ids
    raise AssertionError(f"unknown filter kind {kind}")


def build_predicates(
    model: ModelDef,
    filters: dict[str, str],
    ref_names: Callable[[str, str], set[str]],
    *,
    literal: bool = False,
    stored_value: Callable[[str, str, str], str] | None = None,
) -> list[Predicate]:
    """Validate `filters[...]` against the model's declared filters and compile them.

    `stored_value(model, field, value)` translates the installation's vocabulary."""
    date_options: dict[str, dict[str, str]] = {}
    predicates: list[Predicate] = []
    for key, value in filters.items():
        if not isinstance(value, str):
            raise ApiError(400, "invalid_parameter", f"filters[{key}] must be a single value")
        base, _, suffix = key.partition("-")
        definition = model.filters.get(base) if suffix else model.filters.get(key)
        if definition is None:
            raise ApiError(
                400,
                "invalid_filter",
                f"Unknown filter {key!r} for model {model.name}",
                hint=f"See /meta/fields/{model.name} for the filters this model accepts",
            )
        if suffix:
            if definition.kind != "date" or suffix not in {"operator", "end", "period"}:
                raise ApiError(400, "invalid_filter", f"Unknown filter {key!r} for {model.name}")
            date_options.setdefault(base, {})[suffix] = value
        elif definition.kind == "date":
            date_options.setdefault(base, {})["value"] = value
        else:
            field = definition.fields[0]

            def translate(text: str, field: str = field) -> str:
                return stored_value(model.name, field, text) if stored_value else text

            predicates.append(
                simple_predicate(
                    definition, value, ref_names, literal=literal, stored_value=translate
                )
            )
    for name, options in date_options.items():
        predicates.append(date_predicate(name, model.filters[name].fields[0], options))
    return predicates


def text_predicate(model: ModelDef, text: str) -> Predicate:
    needle = text.strip().lower()
    fields = model.text_search
    return lambda r: any(needle in str(r.get(f) or "").lower() for f in fields)


def parse_order(model: ModelDef, order: str | None) -> tuple[str, bool]:
    text = (order or model.default_order).strip()
    match = re.fullmatch(r"(\w+)(?:\s+(ASC|DESC|asc|desc))?", text)
    if not match or match.group(1) not in model.fields:
        raise ApiError(
            400,
            "invalid_parameter",
            f"Invalid order {text!r} for {model.name}",
            hint="Use a field name, optionally followed by ASC or DESC",
        )
    return match.group(1), (match.group(2) or "ASC").upper() == "DESC"


def sort_records(records: Iterable[dict], field: str, descending: bool) -> list[dict]:
    def key(record: dict) -> tuple:
        value = record.get(field)
        if value in (None, ""):
            return (1, 0, "")  # empty values last in both directions
        if isinstance(value, int | float) and not isinstance(value, bool):
            return (0, value, "")
        text = str(value)
        try:
            return (0, float(text), "") if re.fullmatch(r"-?\d+(\.\d+)?", text) else (0, 0, text)
        except ValueError:
            return (0, 0, text)

    by_id = sorted(records, key=lambda r: str(r.get("id")))
    present = [r for r in by_id if r.get(field) not in (None, "")]
    empty = [r for r in by_id if r.get(field) in (None, "")]
    return sorted(present, key=key, reverse=descending) + empty
