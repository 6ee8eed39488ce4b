"""Webhook filters, period arithmetic and delivery for the 1CRM emulator.

The vendor's reference lost its list of how filters are examined, so the rules below are
ours, written to be predictable; the public schema (WebhookFilter, StringFilter, NumberFilter,
DatetimeFilter, EnumFilter, BoolFilter, WebhookWhen) is followed to the letter.

Contract (pure except ``Deliverer``; no Django)::

    validate_filters(filters) -> list[str]                  # [] when valid
    matches(filters, old, new, today, field_types=None) -> bool
    webhook_applies(webhook, event_type, model, old, new, today, field_types=None) -> bool
    period_bounds(period, which, today, fiscal_start_month=1) -> (start, end)
    Deliverer(...).deliver(webhook, event_type, model, record) -> threading.Thread

Filter shapes
-------------
``filters`` is ``None``/``{}``/``[]`` (no filter: every event passes), a WebhookFilter
``{"glue": "and"|"or", "conditions": [...]}`` (``glue`` defaults to "and"; an empty
``conditions`` list passes), or a bare list of conditions or a single condition (both
read as glue "and").
A condition is a nested WebhookFilter (it has ``conditions``) or a field filter
``{"field", "filter", "value"?, "value2"?, "when"?, "type"?}``.

Which filter type a condition is: its ``type`` key if given ("string", "number",
"datetime", "enum", "bool"), else the operator when it belongs to one type only (e.g.
``prefix`` -> string, ``between_dates`` -> datetime, ``any_of`` -> enum, ``is_true`` ->
bool), else ``field_types[field]`` if the caller passes the model's field types (1CRM
names: "multienum" counts as "enum", "date" as "datetime", "int"/"float"/"decimal"/
"currency" as "number", "varchar"/"text"/... as "string"), else the value (a list -> enum,
an int/float -> number), else string. So pass ``field_types`` to make ``eq``/``empty`` on
a multienum or a number behave as such.

Operators (``v`` is the record's value, ``x``/``y`` the filter's value/value2):

* StringFilter, case-insensitive (like MySQL's default collation): ``eq``, ``not_eq``,
  ``prefix``, ``suffix``, ``like`` (substring; with ``%`` in ``x`` it is a SQL LIKE pattern
  where ``%`` is any run and ``_`` one character), ``not_like``, ``empty`` (None or only
  whitespace), ``not_empty``.
* NumberFilter on Decimal: ``lt gt lte gte eq not_eq`` against ``x``; ``between`` is
  ``x <= v <= y``; ``empty``/``not_empty``. An empty ``v`` is SQL NULL: only ``empty`` matches.
* DatetimeFilter on the *date part* (values "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS", GMT):
  ``before_date`` (v < x), ``after_date`` (v > x), ``on_date``, ``not_on_date``,
  ``between_dates`` (x <= v <= y), ``yesterday``/``today``/``tomorrow`` relative to
  ``today``, ``period_prev``/``period_current``/``period_next`` with the period name in
  ``x`` (or a ``period`` key): see :func:`period_bounds`. Empty ``v``: only ``empty`` matches.
* EnumFilter: ``v`` and ``x`` are sets of options. A multienum value is a list or a string
  joined with ``^,^`` (leading/trailing ``^`` ignored, so "^a^,^b^" == "a^,^b"); a plain
  enum is a one-element set; empty is the empty set. ``eq``/``not_eq`` compare sets,
  ``any_of`` (intersection), ``not_any_of`` (no intersection), ``all_of`` (x ⊆ v),
  ``empty``/``not_empty``.
* BoolFilter: ``is_true`` (True, 1, "1", "true", "yes", "on"), ``is_false`` (anything else).

``when`` (WebhookWhen), with ``old`` = the record before the change (``{}`` on create):

* ``current_value`` (default): the condition holds for the new value.
* ``prev_value``: the condition holds for the old value.
* ``changed``: the field's value differs between old and new, compared after normalising
  (None == "", multienums as sets; with a known type - ``type`` key or ``field_types`` -
  numbers by value so "100.00" == "100", booleans as bools; without one, strings compare
  as text so "0123" != "123");
  ``filter``/``value`` are not used and may be omitted. On create, a non-empty field counts
  as changed.
* ``not_changed``: the opposite of ``changed``.
* ``changed_to``: the condition holds for the new value and did not hold for the old one
  (the record *became* matching, e.g. ``shipping_stage eq Shipped``).

``matches`` raises ``ValueError`` for invalid filters: validate with
:func:`validate_filters` when a webhook is created or updated (answer 400 with the errors)
so stored filters are always valid. ``webhook_applies`` checks type ("create", "update",
"create_update") and model, then the filters; the read-access check of the webhook's user
is the caller's job.

Delivery
--------
``Deliverer`` POSTs ``{"model", "type", "id", "record"}`` as JSON (no signature; the
receiver authenticates with a secret in its URL) in a daemon thread, retrying connection
errors, timeouts, 429 and 5xx with exponential backoff (``base_delay * 2**(n-1)`` capped at
``max_delay``; a numeric ``Retry-After`` is honoured up to ``max_delay``) for at most
``max_attempts`` attempts. Other statuses are final. Every attempt becomes a
``DeliveryAttempt`` appended to ``deliverer.log`` (bounded) and passed to ``on_attempt``
(the core persists it; it runs in the delivery thread, so a Django callback gets its own
database connection and should close it; exceptions it raises are swallowed). Because
the URL carries the receiver's secret, attempts record only
the URL's origin (``target``), never its path or query, and errors only as exception class
names. By default only loopback hosts are called (``allowed_hosts``); pass
``allowed_hosts=None`` to allow any host.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx

# --- periods --------------------------------------------------------------------------------

PERIODS = ("day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year")
DAYS_PERIOD = re.compile(r"^days_([1-9][0-9]{0,3})$")


def _add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def _month_span(year: int, month: int, months: int) -> tuple[dt.date, dt.date]:
    end_year, end_month = _add_months(year, month, months - 1)
    last_day = calendar.monthrange(end_year, end_month)[1]
    return dt.date(year, month, 1), dt.date(end_year, end_month, last_day)


def is_period(period: str) -> bool:
    return period in PERIODS or bool(DAYS_PERIOD.match(period or ""))


def period_bounds(
    period: str, which: str, today: dt.date, fiscal_start_month: int = 1
) -> tuple[dt.date, dt.date]:
    """Inclusive (start, end) of the previous, current or next `period` around `today`.

    * ``day``: yesterday / today / tomorrow.
    * ``week``: ISO calendar weeks, Monday to Sunday.
    * ``month``, ``quarter`` (Jan-Mar, ...), ``year``: calendar periods.
    * ``fiscal_quarter``, ``fiscal_year``: like quarter and year, but the year starts on the
      first day of ``fiscal_start_month``; the default 1 makes the fiscal year the calendar
      year. Pass the installation's setting when it has one.
    * ``days_N`` (N = 1..9999): current is the last N days up to and including today,
      previous the N days before those, next the N days after today.

    The three periods always tile: ``prev.end + 1 day == current.start`` and
    ``current.end + 1 day == next.start``; ``current`` always contains ``today``.
    """
    if which not in ("prev", "current", "next"):
        raise ValueError(f"which must be prev, current or next, not {which!r}")
    if not 1 <= fiscal_start_month <= 12:
        raise ValueError("fiscal_start_month must be 1..12")
    shift = {"prev": -1, "current": 0, "next": 1}[which]
    one_day = dt.timedelta(days=1)
    days = DAYS_PERIOD.match(period or "")
    if days:
        n = int(days.group(1))
        end = today + dt.timedelta(days=n * shift)
        return end - dt.timedelta(days=n - 1), end
    if period == "day":
        day = today + shift * one_day
        return day, day
    if period == "week":
        monday = today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=shift)
        return monday, monday + dt.timedelta(days=6)
    if period == "month":
        year, month = _add_months(today.year, today.month, shift)
        return _month_span(year, month, 1)
    if period in ("quarter", "fiscal_quarter", "year", "fiscal_year"):
        start_month = fiscal_start_month if period.startswith("fiscal") else 1
        length = 3 if period.endswith("quarter") else 12
        # months elapsed since the start of the (fiscal) year containing today
        offset = (today.month - start_month) % 12
        year, month = _add_months(today.year, today.month, -(offset % length))
        year, month = _add_months(year, month, shift * length)
        return _month_span(year, month, length)
    raise ValueError(f"unknown period {period!r}")


# --- value normalisation ---------------------------------------------------------------------

STRING_OPS = frozenset(
    {"eq", "not_eq", "prefix", "suffix", "like", "not_like", "empty", "not_empty"}
)
NUMBER_OPS = frozenset({"lt", "gt", "lte", "gte", "between", "empty", "not_empty", "eq", "not_eq"})
DATETIME_OPS = frozenset(
    {
        "not_empty",
        "empty",
        "before_date",
        "after_date",
        "on_date",
        "not_on_date",
        "yesterday",
        "today",
        "tomorrow",
        "period_prev",
        "period_current",
        "period_next",
        "between_dates",
    }
)
ENUM_OPS = frozenset({"eq", "not_eq", "any_of", "not_any_of", "all_of", "empty", "not_empty"})
BOOL_OPS = frozenset({"is_true", "is_false"})
OPS_BY_TYPE = {
    "string": STRING_OPS,
    "number": NUMBER_OPS,
    "datetime": DATETIME_OPS,
    "enum": ENUM_OPS,
    "bool": BOOL_OPS,
}
TYPE_ALIASES = {
    "string": "string",
    "varchar": "string",
    "char": "string",
    "text": "string",
    "name": "string",
    "email": "string",
    "phone": "string",
    "url": "string",
    "id": "string",
    "ref": "string",
    "file_ref": "string",
    "person_name": "string",
    "html": "string",
    "number": "number",
    "int": "number",
    "float": "number",
    "double": "number",
    "decimal": "number",
    "currency": "number",
    "base_currency": "number",
    "percentage": "number",
    "rate_percent": "number",
    "duration": "number",
    "datetime": "datetime",
    "date": "datetime",
    "enum": "enum",
    "multienum": "enum",
    "bool": "bool",
}
WHENS = frozenset({"changed", "not_changed", "changed_to", "current_value", "prev_value"})
NO_VALUE_OPS = frozenset(
    {"empty", "not_empty", "yesterday", "today", "tomorrow", "is_true", "is_false"}
)
TWO_VALUE_OPS = frozenset({"between", "between_dates"})
PERIOD_OPS = frozenset({"period_prev", "period_current", "period_next"})
MAX_DEPTH = 10
TRUE_STRINGS = frozenset({"1", "true", "yes", "on"})


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(value: Any) -> Decimal | None:
    if _is_blank(value) or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if _is_blank(value) or not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def _options(value: Any) -> frozenset[str]:
    if _is_blank(value):
        return frozenset()
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(str(item) for item in value if not _is_blank(item))
    text = str(value)
    if "^,^" in text or (text.startswith("^") and text.endswith("^") and len(text) > 1):
        text = text.strip("^")
        return frozenset(part for part in text.split("^,^") if part)
    return frozenset({text})


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in TRUE_STRINGS
    return bool(value) if value is not None else False


def _normalised(value: Any) -> Any:
    """A comparable form for `changed`: None == "", 1 == "1.0", sets for multienums."""
    if _is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, list | tuple | set | frozenset) or (
        isinstance(value, str) and "^,^" in value
    ):
        return _options(value)
    number = _number(value) if isinstance(value, int | float | Decimal) else None
    return number if number is not None else value


_COMPARABLE: dict[str, Callable[[Any], Any]] = {
    "number": _number,
    "enum": _options,
    "bool": _bool,
    "datetime": lambda value: None if _is_blank(value) else str(value).strip(),
}

# --- validation -----------------------------------------------------------------------------


def _declared_type(condition: dict, field_types: dict[str, str] | None) -> str | None:
    """The filter type from the condition's ``type`` or the caller's field types, if any."""
    declared = condition.get("type")
    if isinstance(declared, str) and declared in TYPE_ALIASES:
        return TYPE_ALIASES[declared]
    field = condition.get("field")
    if field_types and isinstance(field, str) and field in field_types:
        return TYPE_ALIASES.get(str(field_types[field]))
    return None


def _filter_type(condition: dict, field_types: dict[str, str] | None) -> str:
    declared = condition.get("type")
    if isinstance(declared, str) and declared in TYPE_ALIASES:
        return TYPE_ALIASES[declared]
    op = condition.get("filter")
    owners = [name for name, ops in OPS_BY_TYPE.items() if op in ops]
    if len(owners) == 1:
        return owners[0]
    known = _declared_type(condition, field_types)
    if known:
        return known
    value = condition.get("value")
    if isinstance(value, list):
        return "enum"
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return "number"
    return "string"


def _is_group(condition: Any) -> bool:
    return isinstance(condition, dict) and "conditions" in condition


def _validate(node: Any, path: str, depth: int, errors: list[str]) -> None:
    if depth > MAX_DEPTH:
        errors.append(f"{path}: filters nested deeper than {MAX_DEPTH} levels")
        return
    if isinstance(node, list):
        node = {"glue": "and", "conditions": node}
    if not isinstance(node, dict):
        errors.append(f"{path}: must be an object with glue and conditions")
        return
    glue = node.get("glue", "and")
    if glue not in ("and", "or"):
        errors.append(f"{path}.glue: must be 'and' or 'or'")
    conditions = node.get("conditions", [])
    if not isinstance(conditions, list):
        errors.append(f"{path}.conditions: must be a list")
        return
    for index, condition in enumerate(conditions):
        where = f"{path}.conditions[{index}]"
        if _is_group(condition):
            _validate(condition, where, depth + 1, errors)
        elif isinstance(condition, dict):
            _validate_condition(condition, where, errors)
        else:
            errors.append(f"{where}: must be an object")


def _validate_condition(condition: dict, where: str, errors: list[str]) -> None:
    field = condition.get("field")
    if not isinstance(field, str) or not field.strip():
        errors.append(f"{where}.field: required")
    when = condition.get("when", "current_value")
    if when not in WHENS:
        errors.append(f"{where}.when: must be one of {', '.join(sorted(WHENS))}")
    declared = condition.get("type")
    if declared is not None and declared not in TYPE_ALIASES:
        errors.append(f"{where}.type: unknown filter type {declared!r}")
    op = condition.get("filter")
    if when in ("changed", "not_changed") and op is None:
        return
    kind = _filter_type(condition, None)
    if op not in OPS_BY_TYPE[kind]:
        known = sorted(set().union(*OPS_BY_TYPE.values()))
        if op in known:
            errors.append(f"{where}.filter: {op!r} does not apply to a {kind} filter")
        else:
            errors.append(f"{where}.filter: unknown operator {op!r}")
        return
    value, value2 = condition.get("value"), condition.get("value2")
    if op in NO_VALUE_OPS:
        return
    if op in PERIOD_OPS:
        period = condition.get("period", value)
        if not isinstance(period, str) or not is_period(period):
            errors.append(f"{where}.value: a period (day, week, ..., days_N) is required")
        return
    if value is None:
        errors.append(f"{where}.value: required for {op!r}")
        return
    if kind == "number":
        if _number(value) is None:
            errors.append(f"{where}.value: must be a number")
        if op == "between" and _number(value2) is None:
            errors.append(f"{where}.value2: must be a number")
    elif kind == "datetime":
        if _date(value) is None:
            errors.append(f"{where}.value: must be a date YYYY-MM-DD")
        if op == "between_dates" and _date(value2) is None:
            errors.append(f"{where}.value2: must be a date YYYY-MM-DD")
    elif kind == "enum":
        if not isinstance(value, str | list) or (
            isinstance(value, list) and not all(isinstance(item, str) for item in value)
        ):
            errors.append(f"{where}.value: must be a string or a list of strings")
    elif not isinstance(value, str | int | float):
        errors.append(f"{where}.value: must be a string")


def _as_group(filters: Any) -> Any:
    """Top-level leniency: a bare list is an "and" group, and so is a single condition
    (a dict with ``field`` but no ``conditions``), rather than being silently ignored."""
    if isinstance(filters, list):
        return {"glue": "and", "conditions": filters}
    if isinstance(filters, dict) and "field" in filters and "conditions" not in filters:
        return {"glue": "and", "conditions": [filters]}
    return filters


def validate_filters(filters: Any) -> list[str]:
    """Human-readable problems with a webhook's `filters`; an empty list means valid."""
    if filters is None or filters == {} or filters == []:
        return []
    errors: list[str] = []
    _validate(_as_group(filters), "filters", 1, errors)
    return errors


# --- evaluation -----------------------------------------------------------------------------


def _string_holds(op: str, value: Any, operand: Any) -> bool:
    if op == "empty":
        return _is_blank(value)
    if op == "not_empty":
        return not _is_blank(value)
    text = "" if value is None else str(value).casefold()
    wanted = "" if operand is None else str(operand).casefold()
    if op == "eq":
        return text == wanted
    if op == "not_eq":
        return text != wanted
    if op == "prefix":
        return text.startswith(wanted)
    if op == "suffix":
        return text.endswith(wanted)
    if "%" in wanted:
        pattern = "".join(
            ".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in wanted
        )
        found = re.fullmatch(pattern, text, flags=re.DOTALL) is not None
    else:
        found = wanted in text
    return found if op == "like" else not found


def _number_holds(op: str, value: Any, operand: Any, operand2: Any) -> bool:
    number = _number(value)
    if op in ("empty", "not_empty"):
        return (number is None) == (op == "empty")
    if number is None:
        return False
    x = _number(operand)
    assert x is not None  # validated
    if op == "between":
        y = _number(operand2)
        assert y is not None
        return x <= number <= y
    return {
        "lt": number < x,
        "gt": number > x,
        "lte": number <= x,
        "gte": number >= x,
        "eq": number == x,
        "not_eq": number != x,
    }[op]


def _datetime_holds(
    op: str, value: Any, condition: dict, today: dt.date, fiscal_start_month: int
) -> bool:
    day = _date(value)
    if op in ("empty", "not_empty"):
        return (day is None) == (op == "empty")
    if day is None:
        return False
    one = dt.timedelta(days=1)
    if op in ("yesterday", "today", "tomorrow"):
        return day == today + {"yesterday": -one, "today": 0 * one, "tomorrow": one}[op]
    if op in PERIOD_OPS:
        period = condition.get("period", condition.get("value"))
        start, end = period_bounds(
            str(period), op.removeprefix("period_"), today, fiscal_start_month
        )
        return start <= day <= end
    x = _date(condition.get("value"))
    assert x is not None
    if op == "between_dates":
        y = _date(condition.get("value2"))
        assert y is not None
        return x <= day <= y
    return {
        "before_date": day < x,
        "after_date": day > x,
        "on_date": day == x,
        "not_on_date": day != x,
    }[op]


def _enum_holds(op: str, value: Any, operand: Any) -> bool:
    have = _options(value)
    if op == "empty":
        return not have
    if op == "not_empty":
        return bool(have)
    wanted = _options(operand)
    return {
        "eq": have == wanted,
        "not_eq": have != wanted,
        "any_of": bool(have & wanted),
        "not_any_of": not (have & wanted),
        "all_of": wanted <= have,
    }[op]


def _holds(condition: dict, value: Any, kind: str, today: dt.date, fiscal_start_month: int) -> bool:
    op = condition["filter"]
    if kind == "string":
        return _string_holds(op, value, condition.get("value"))
    if kind == "number":
        return _number_holds(op, value, condition.get("value"), condition.get("value2"))
    if kind == "datetime":
        return _datetime_holds(op, value, condition, today, fiscal_start_month)
    if kind == "enum":
        return _enum_holds(op, value, condition.get("value"))
    return _bool(value) == (op == "is_true")


def _condition_matches(
    condition: dict,
    old: dict,
    new: dict,
    today: dt.date,
    field_types: dict[str, str] | None,
    fiscal_start_month: int,
) -> bool:
    field = condition["field"]
    when = condition.get("when", "current_value")
    before, after = old.get(field), new.get(field)
    if when in ("changed", "not_changed"):
        compare = _COMPARABLE.get(_declared_type(condition, field_types) or "", _normalised)
        changed = compare(before) != compare(after)
        return changed == (when == "changed")
    kind = _filter_type(condition, field_types)
    if condition.get("filter") not in OPS_BY_TYPE[kind]:
        raise ValueError(f"operator {condition.get('filter')!r} does not apply to {field!r}")
    if when == "prev_value":
        return _holds(condition, before, kind, today, fiscal_start_month)
    now = _holds(condition, after, kind, today, fiscal_start_month)
    if when == "changed_to":
        return now and not _holds(condition, before, kind, today, fiscal_start_month)
    return now


def _group_matches(
    node: Any,
    old: dict,
    new: dict,
    today: dt.date,
    field_types: dict[str, str] | None,
    fiscal_start_month: int,
) -> bool:
    if isinstance(node, list):
        node = {"glue": "and", "conditions": node}
    results = (
        _group_matches(c, old, new, today, field_types, fiscal_start_month)
        if _is_group(c)
        else _condition_matches(c, old, new, today, field_types, fiscal_start_month)
        for c in node.get("conditions", [])
    )
    return any(results) if node.get("glue", "and") == "or" else all(results)


def matches(
    filters: Any,
    old: dict | None,
    new: dict,
    today: dt.date,
    field_types: dict[str, str] | None = None,
    *,
    fiscal_start_month: int = 1,
) -> bool:
    """Whether a change from `old` (None on create) to `new` passes `filters`.

    An ``or`` group with no conditions passes, like an ``and`` group: an empty filter
    never blocks an event.
    """
    errors = validate_filters(filters)
    if errors:
        raise ValueError("; ".join(errors))
    filters = _as_group(filters)
    if not filters or not filters.get("conditions"):
        return True
    return _group_matches(filters, old or {}, new, today, field_types, fiscal_start_month)


WEBHOOK_TYPES = {"create": {"create"}, "update": {"update"}, "create_update": {"create", "update"}}


def webhook_applies(
    webhook: dict,
    event_type: str,
    model: str,
    old: dict | None,
    new: dict,
    today: dt.date,
    field_types: dict[str, str] | None = None,
) -> bool:
    """Whether `webhook` (``{"type", "model", "filters"?}``) fires for this event."""
    if event_type not in ("create", "update"):
        raise ValueError(f"event_type must be create or update, not {event_type!r}")
    if event_type not in WEBHOOK_TYPES.get(webhook.get("type", ""), set()):
        return False
    if webhook.get("model") != model:
        return False
    return matches(
        webhook.get("filters"), None if event_type == "create" else old, new, today, field_types
    )


# --- delivery -------------------------------------------------------------------------------

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class DeliveryAttempt:
    webhook_id: str
    record_id: str
    model: str
    event_type: str
    target: str  # origin only ("http://127.0.0.1:8001"): the path may hold a secret
    attempt: int
    at: str  # "YYYY-MM-DD HH:MM:SS" UTC
    status_code: int | None
    error: str | None  # exception class name, never a message that could quote the URL
    duration_ms: int
    delivered: bool
    final: bool  # no further attempt will follow

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid url)"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}"


def webhook_payload(model: str, event_type: str, record: dict) -> dict[str, Any]:
    """The JSON body of a delivery: ``{"model", "type", "id", "record"}``."""
    return {"model": model, "type": event_type, "id": record.get("id"), "record": record}


class Deliverer:
    """Background webhook delivery with bounded exponential backoff; see the module doc."""

    def __init__(
        self,
        *,
        on_attempt: Callable[[DeliveryAttempt], None] | None = None,
        max_attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        allowed_hosts: Iterable[str] | None = LOOPBACK_HOSTS,
        sleep: Callable[[float], None] = time.sleep,
        log_size: int = 1000,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.on_attempt = on_attempt
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.transport = transport
        self.allowed_hosts = frozenset(allowed_hosts) if allowed_hosts is not None else None
        self.sleep = sleep
        self.log: deque[DeliveryAttempt] = deque(maxlen=log_size)
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()

    def delay_for(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after.strip()), self.max_delay)
        return min(self.base_delay * 2 ** (attempt - 1), self.max_delay)

    def deliver(self, webhook: dict, event_type: str, model: str, record: dict) -> threading.Thread:
        """Start delivering in a daemon thread and return it (``wait`` joins all)."""
        thread = threading.Thread(
            target=self._run,
            args=(webhook, event_type, model, record),
            name=f"webhook-{webhook.get('id', '')}",
            daemon=True,
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return thread

    def _run(self, webhook: dict, event_type: str, model: str, record: dict) -> None:
        try:
            self.deliver_now(webhook, event_type, model, record)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def wait(self, timeout: float | None = None) -> bool:
        """Join running deliveries; True when none is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                threads = list(self._threads)
            if not threads:
                return True
            for thread in threads:
                left = None if deadline is None else max(deadline - time.monotonic(), 0)
                thread.join(left)
            if deadline is not None and time.monotonic() >= deadline:
                with self._lock:
                    return not self._threads

    def _record(self, attempt: DeliveryAttempt) -> None:
        self.log.append(attempt)
        if self.on_attempt is not None:
            # A failing delivery log must not stop the delivery itself.
            with contextlib.suppress(Exception):
                self.on_attempt(attempt)

    def _allowed(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        return self.allowed_hosts is None or parts.hostname in self.allowed_hosts

    def deliver_now(
        self, webhook: dict, event_type: str, model: str, record: dict
    ) -> list[DeliveryAttempt]:
        """Deliver synchronously with retries; return this delivery's attempts."""
        url = str(webhook.get("url", ""))
        body = json.dumps(
            webhook_payload(model, event_type, record), ensure_ascii=False, default=str
        ).encode("utf-8")
        common = {
            "webhook_id": str(webhook.get("id", "")),
            "record_id": str(record.get("id", "")),
            "model": model,
            "event_type": event_type,
            "target": _origin(url),
        }
        attempts: list[DeliveryAttempt] = []
        if not self._allowed(url):
            attempt = DeliveryAttempt(
                **common,
                attempt=1,
                at=_now(),
                status_code=None,
                error="UrlNotAllowed",
                duration_ms=0,
                delivered=False,
                final=True,
            )
            self._record(attempt)
            return [attempt]
        headers = {"Content-Type": "application/json", "User-Agent": "1CRM-Emulator-Webhooks/1"}
        with httpx.Client(
            transport=self.transport, timeout=self.timeout, follow_redirects=False
        ) as client:
            for number in range(1, self.max_attempts + 1):
                started = time.monotonic()
                status: int | None = None
                error: str | None = None
                retry_after: str | None = None
                try:
                    response = client.post(url, content=body, headers=headers)
                    status = response.status_code
                    retry_after = response.headers.get("Retry-After")
                except httpx.HTTPError as exc:
                    error = type(exc).__name__
                delivered = status is not None and 200 <= status < 300
                retryable = error is not None or status in RETRY_STATUSES
                final = delivered or not retryable or number == self.max_attempts
                attempt = DeliveryAttempt(
                    **common,
                    attempt=number,
                    at=_now(),
                    status_code=status,
                    error=error,
                    duration_ms=int((time.monotonic() - started) * 1000),
                    delivered=delivered,
                    final=final,
                )
                attempts.append(attempt)
                self._record(attempt)
                if final:
                    break
                self.sleep(self.delay_for(number, retry_after))
        return attempts


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
