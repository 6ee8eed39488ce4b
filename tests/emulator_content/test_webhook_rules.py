"""Webhook filter semantics, period bounds and delivery with retries."""

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2 as httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_emulator.webhook_rules import (
    Deliverer,
    matches,
    period_bounds,
    validate_filters,
    webhook_applies,
)

TODAY = dt.date(2026, 11, 29)  # a Sunday


def cond(field, op=None, value=None, **extra):
    condition = {"field": field, **extra}
    if op is not None:
        condition["filter"] = op
    if value is not None:
        condition["value"] = value
    return condition


def check(condition, new, old=None, field_types=None):
    return matches({"glue": "and", "conditions": [condition]}, old, new, TODAY, field_types)


# --- periods ---


@pytest.mark.parametrize(
    ("period", "which", "expected"),
    [
        ("day", "prev", ("2026-11-28", "2026-11-28")),
        ("week", "current", ("2026-11-23", "2026-11-29")),
        ("week", "next", ("2026-11-30", "2026-12-06")),
        ("month", "prev", ("2026-10-01", "2026-10-31")),
        ("month", "next", ("2026-12-01", "2026-12-31")),
        ("quarter", "current", ("2026-10-01", "2026-12-31")),
        ("quarter", "next", ("2027-01-01", "2027-03-31")),
        ("year", "prev", ("2025-01-01", "2025-12-31")),
        ("fiscal_year", "current", ("2026-01-01", "2026-12-31")),
        ("days_7", "current", ("2026-11-23", "2026-11-29")),
        ("days_30", "next", ("2026-11-30", "2026-12-29")),
        ("days_7", "prev", ("2026-11-16", "2026-11-22")),
    ],
)
def test_period_bounds_examples(period, which, expected):
    start, end = period_bounds(period, which, TODAY)
    assert (start.isoformat(), end.isoformat()) == expected


def test_fiscal_periods_with_april_start():
    assert period_bounds("fiscal_year", "current", TODAY, 4) == (
        dt.date(2026, 4, 1),
        dt.date(2027, 3, 31),
    )
    assert period_bounds("fiscal_year", "current", dt.date(2026, 2, 1), 4) == (
        dt.date(2025, 4, 1),
        dt.date(2026, 3, 31),
    )
    assert period_bounds("fiscal_quarter", "current", TODAY, 4) == (
        dt.date(2026, 10, 1),
        dt.date(2026, 12, 31),
    )
    # fiscal quarters from February: Feb-Apr, May-Jul, Aug-Oct, Nov-Jan
    assert period_bounds("fiscal_quarter", "prev", dt.date(2026, 5, 15), 2) == (
        dt.date(2026, 2, 1),
        dt.date(2026, 4, 30),
    )
    assert period_bounds("fiscal_quarter", "current", dt.date(2026, 1, 15), 2) == (
        dt.date(2025, 11, 1),
        dt.date(2026, 1, 31),
    )


def test_period_bounds_rejects_nonsense():
    for args in (("fortnight", "current"), ("week", "last"), ("days_0", "current")):
        with pytest.raises(ValueError):
            period_bounds(*args, TODAY)


PERIOD_NAMES = st.sampled_from(
    [
        "day",
        "week",
        "month",
        "quarter",
        "year",
        "fiscal_quarter",
        "fiscal_year",
        "days_1",
        "days_7",
        "days_90",
    ]
)


@given(
    day=st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31)),
    period=PERIOD_NAMES,
    fiscal=st.integers(1, 12),
)
def test_periods_tile_and_current_contains_today(day, period, fiscal):
    prev = period_bounds(period, "prev", day, fiscal)
    current = period_bounds(period, "current", day, fiscal)
    following = period_bounds(period, "next", day, fiscal)
    assert current[0] <= day <= current[1]
    one = dt.timedelta(days=1)
    assert prev[1] + one == current[0] and current[1] + one == following[0]
    for start, end in (prev, current, following):
        assert start <= end
        if period in ("month", "quarter", "year", "fiscal_quarter", "fiscal_year"):
            assert start.day == 1 and (end + one).day == 1


# --- filters ---


def test_string_operators():
    rec = {"name": "Acme Widgets Inc.", "empty": "  "}
    assert check(cond("name", "eq", "acme widgets inc."), rec)
    assert check(cond("name", "not_eq", "Acme"), rec)
    assert check(cond("name", "prefix", "ACME"), rec)
    assert check(cond("name", "suffix", "inc."), rec)
    assert check(cond("name", "like", "widget"), rec)
    assert check(cond("name", "like", "acme%inc_"), rec)
    assert not check(cond("name", "like", "acme%ltd"), rec)
    assert check(cond("name", "not_like", "gadget"), rec)
    assert check(cond("empty", "empty"), rec) and check(cond("missing", "empty"), rec)
    assert check(cond("name", "not_empty"), rec)
    assert not check(cond("name", "prefix", "Widgets"), rec)


def test_number_operators_and_null():
    rec = {"amount": "150.00", "blank": ""}
    assert check(cond("amount", "gt", 100), rec)
    assert check(cond("amount", "lte", "150"), rec)
    assert not check(cond("amount", "lt", 150), rec)
    assert check(cond("amount", "between", 100, value2=150), rec)
    assert not check(cond("amount", "between", 151, value2=200), rec)
    assert check(cond("amount", "eq", 150.0, type="number"), rec)
    assert check(cond("amount", "not_eq", "10"), rec, field_types={"amount": "currency"})
    assert check(cond("blank", "empty", type="number"), rec)
    assert not check(cond("blank", "lt", 5), rec)
    assert not check(cond("blank", "not_eq", 5, type="number"), rec)


def test_datetime_operators():
    rec = {"due_date": "2026-11-20", "stamp": "2026-11-29 23:59:59", "none": ""}
    assert check(cond("due_date", "before_date", "2026-11-21"), rec)
    assert check(cond("due_date", "after_date", "2026-11-19"), rec)
    assert check(cond("due_date", "on_date", "2026-11-20"), rec)
    assert check(cond("due_date", "not_on_date", "2026-11-21"), rec)
    assert check(cond("due_date", "between_dates", "2026-11-01", value2="2026-11-30"), rec)
    assert check(cond("stamp", "today"), rec)
    assert check(cond("stamp", "on_date", "2026-11-29 00:00:00"), rec)
    assert check(cond("due_date", "period_current", "month"), rec)
    assert check(cond("due_date", "period_prev", "week"), rec)
    assert not check(cond("due_date", "period_next", "days_30"), rec)
    assert check(cond("due_date", "period_current", period="days_10"), rec)
    assert check({"field": "x", "filter": "yesterday"}, {"x": "2026-11-28"})
    assert check({"field": "x", "filter": "tomorrow"}, {"x": "2026-11-30"})
    assert check(cond("none", "empty", type="datetime"), rec)
    assert not check(cond("none", "before_date", "2030-01-01"), rec)


def test_enum_and_multienum_operators():
    rec = {"stage": "Shipped", "tags": "^hardware^,^priority^", "tags2": ["hardware"], "blank": ""}
    assert check(cond("stage", "eq", "Shipped"), rec)
    assert check(cond("stage", "any_of", ["Pending", "Shipped"]), rec)
    assert check(cond("stage", "not_any_of", ["Pending"]), rec)
    assert check(cond("tags", "all_of", ["priority", "hardware"]), rec)
    assert not check(cond("tags", "all_of", ["priority", "software"]), rec)
    assert check(cond("tags", "eq", "priority^,^hardware", type="enum"), rec)
    assert check(cond("tags", "eq", ["hardware", "priority"]), rec)
    assert check(cond("tags2", "any_of", "hardware^,^x"), rec)
    assert check(cond("blank", "empty", type="enum"), rec)
    assert check(cond("tags", "not_empty"), rec, field_types={"tags": "multienum"})
    assert check(cond("stage", "not_eq", ["Pending"]), rec)


def test_bool_operators():
    assert check(cond("portal_active", "is_true"), {"portal_active": True})
    assert check(cond("portal_active", "is_true"), {"portal_active": "1"})
    assert check(cond("portal_active", "is_false"), {"portal_active": "0"})
    assert check(cond("portal_active", "is_false"), {})


def test_when_semantics():
    old = {"shipping_stage": "Pending", "amount": "100.00", "name": "A"}
    new = {"shipping_stage": "Shipped", "amount": "100", "name": "A"}
    shipped = cond("shipping_stage", "eq", "Shipped", when="changed_to")
    assert check(shipped, new, old)
    assert not check(shipped, new, new)  # already shipped: not a change *to* shipped
    assert check(shipped, new, None)  # create counts as a change from nothing
    assert check(cond("shipping_stage", "eq", "Pending", when="prev_value"), new, old)
    assert check(cond("shipping_stage", when="changed"), new, old)
    money = {"amount": "currency"}
    assert not check(cond("amount", when="changed"), new, old, money)  # 100.00 == 100
    assert check(cond("amount", when="not_changed"), new, old, money)
    assert check(cond("amount", when="changed"), new, old)  # untyped: compared as text
    assert check(cond("zip", when="changed"), {"zip": "0123"}, {"zip": "123"})
    tags = {"tags": "multienum"}
    assert not check(cond("tags", when="changed"), {"tags": "^b^,^a^"}, {"tags": ["a", "b"]}, tags)
    assert check(cond("name", when="changed"), {"name": "A"}, None)
    assert not check(cond("name", when="changed"), {"name": ""}, None)
    assert check(cond("shipping_stage", "eq", "Shipped", when="current_value"), new, old)


def test_glue_and_nesting():
    rec = {"amount": "500", "stage": "Shipped", "cancelled": False}
    big = cond("amount", "gt", 1000)
    shipped = cond("stage", "eq", "Shipped")
    live = cond("cancelled", "is_false")
    assert matches({"glue": "or", "conditions": [big, shipped]}, None, rec, TODAY)
    assert not matches({"glue": "and", "conditions": [big, shipped]}, None, rec, TODAY)
    nested = {"glue": "and", "conditions": [live, {"glue": "or", "conditions": [big, shipped]}]}
    assert matches(nested, None, rec, TODAY)
    assert not matches(nested, None, {**rec, "cancelled": True}, TODAY)
    assert matches([live, shipped], None, rec, TODAY)  # a bare list is "and"
    assert not matches(big, None, rec, TODAY)  # so is a bare condition: never ignored
    assert validate_filters(cond("amount", "gt", "x")) != []
    for empty in (None, {}, [], {"glue": "or", "conditions": []}):
        assert matches(empty, None, rec, TODAY)


@pytest.mark.parametrize(
    ("filters", "fragment"),
    [
        ({"glue": "xor", "conditions": []}, "glue"),
        ({"conditions": "x"}, "must be a list"),
        ({"conditions": [cond("a", "bogus", "1")]}, "unknown operator"),
        ({"conditions": [cond("a", "prefix", "x", type="number")]}, "does not apply"),
        ({"conditions": [cond("", "eq", "x")]}, "field"),
        ({"conditions": [cond("a", "gt", "abc")]}, "must be a number"),
        ({"conditions": [cond("a", "between", 1)]}, "value2"),
        ({"conditions": [cond("a", "before_date", "yesterday-ish")]}, "date"),
        ({"conditions": [cond("a", "between_dates", "2026-01-01")]}, "value2"),
        ({"conditions": [cond("a", "period_prev", "fortnight")]}, "period"),
        ({"conditions": [cond("a", "eq", "x", when="sometimes")]}, "when"),
        ({"conditions": [cond("a", "eq")]}, "required"),
        ({"conditions": [cond("a", "any_of", [1, 2])]}, "list of strings"),
        ({"conditions": ["a"]}, "object"),
        ("nope", "object"),
    ],
)
def test_validation_errors(filters, fragment):
    errors = validate_filters(filters)
    assert errors and any(fragment in e for e in errors), errors
    with pytest.raises(ValueError):
        matches(filters, None, {}, TODAY)


def test_validation_limits_depth():
    deep: dict = {"glue": "and", "conditions": []}
    for _ in range(20):
        deep = {"glue": "and", "conditions": [deep]}
    assert any("deeper" in e for e in validate_filters(deep))


def test_valid_filters_have_no_errors():
    filters = {
        "glue": "or",
        "conditions": [
            cond("name", "like", "acme"),
            cond("amount", "between", "1", value2="2"),
            {
                "glue": "and",
                "conditions": [cond("d", "period_next", "fiscal_quarter"), cond("b", "is_true")],
            },
            cond("stage", when="changed"),
        ],
    }
    assert validate_filters(filters) == []


def test_field_types_can_contradict_operator_at_match_time():
    with pytest.raises(ValueError):
        check(cond("amount", "eq", "x"), {"amount": "1"}, field_types={"amount": "bool"})


def test_webhook_applies():
    hook = {
        "type": "update",
        "model": "Invoice",
        "filters": {"glue": "and", "conditions": [cond("amount_due", "eq", 0, when="changed_to")]},
    }
    old, new = {"amount_due": "10.00"}, {"amount_due": "0.00"}
    assert webhook_applies(hook, "update", "Invoice", old, new, TODAY)
    assert not webhook_applies(hook, "create", "Invoice", None, new, TODAY)
    assert not webhook_applies(hook, "update", "Quote", old, new, TODAY)
    both = {**hook, "type": "create_update"}
    assert webhook_applies(
        both, "create", "Invoice", {"amount_due": "0"}, new, TODAY
    )  # old ignored on create
    with pytest.raises(ValueError):
        webhook_applies(hook, "delete", "Invoice", old, new, TODAY)


# --- delivery ---


class Receiver:
    """A real HTTP server on 127.0.0.1 answering with scripted statuses."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(
                    {
                        "path": self.path,
                        "type": self.headers["Content-Type"],
                        "json": json.loads(self.rfile.read(length)),
                    }
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/s3cr3t-token?k=v"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory():
    made = []

    def make(statuses=()):
        receiver = Receiver(statuses)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


def test_delivery_retries_then_succeeds(receiver_factory):
    receiver = receiver_factory([503, 500, 200])
    sleeps, persisted = [], []
    deliverer = Deliverer(sleep=sleeps.append, on_attempt=persisted.append, base_delay=0.5)
    record = {"id": "inv-1", "name": "Zoë's invoice", "amount": "10.00"}
    thread = deliverer.deliver({"id": "wh-1", "url": receiver.url}, "update", "Invoice", record)
    assert deliverer.wait(10)
    assert not thread.is_alive()
    assert [a.status_code for a in persisted] == [503, 500, 200]
    assert [a.final for a in persisted] == [False, False, True] and persisted[-1].delivered
    assert sleeps == [0.5, 1.0]
    assert receiver.bodies[0]["type"] == "application/json"
    assert receiver.bodies[-1]["json"] == {
        "model": "Invoice",
        "type": "update",
        "id": "inv-1",
        "record": record,
    }
    assert list(deliverer.log) == persisted
    for attempt in persisted:  # the URL's secret never reaches the log
        assert "s3cr3t" not in json.dumps(attempt.as_dict())
        assert attempt.target == receiver.url.split("/hooks")[0]


def test_delivery_gives_up_after_max_attempts_with_capped_backoff():
    calls = []

    def always_down(request):
        calls.append(request)
        raise httpx.ConnectError("refused", request=request)

    sleeps = []
    deliverer = Deliverer(
        transport=httpx.MockTransport(always_down),
        sleep=sleeps.append,
        max_attempts=6,
        base_delay=1,
        max_delay=5,
    )
    attempts = deliverer.deliver_now(
        {"id": "w", "url": "http://127.0.0.1:9/x"}, "create", "Quote", {"id": "q"}
    )
    assert len(calls) == 6 and len(attempts) == 6
    assert sleeps == [1, 2, 4, 5, 5]
    assert all(a.error == "ConnectError" and not a.delivered for a in attempts)
    assert attempts[-1].final and not attempts[0].final


def test_client_errors_are_final_and_retry_after_is_honoured():
    statuses = iter([429, 404])
    deliverer_sleeps = []
    transport = httpx.MockTransport(
        lambda request: httpx.Response(next(statuses), headers={"Retry-After": "3"})
    )
    deliverer = Deliverer(transport=transport, sleep=deliverer_sleeps.append)
    attempts = deliverer.deliver_now(
        {"id": "w", "url": "http://localhost/x"}, "update", "Invoice", {"id": "i"}
    )
    assert [a.status_code for a in attempts] == [429, 404]
    assert deliverer_sleeps == [3.0] and attempts[-1].final and not attempts[-1].delivered


def test_non_loopback_and_odd_urls_are_refused_without_a_request():
    transport = httpx.MockTransport(lambda request: pytest.fail("must not call out"))
    deliverer = Deliverer(transport=transport, sleep=lambda s: None)
    for url in ("http://example.com/hook", "file:///etc/passwd", "not a url", ""):
        (attempt,) = deliverer.deliver_now(
            {"id": "w", "url": url}, "update", "Invoice", {"id": "i"}
        )
        assert attempt.error == "UrlNotAllowed" and attempt.final
    anywhere = Deliverer(
        transport=httpx.MockTransport(lambda r: httpx.Response(204)), allowed_hosts=None
    )
    (attempt,) = anywhere.deliver_now(
        {"id": "w", "url": "https://example.com/h"}, "update", "Invoice", {"id": "i"}
    )
    assert attempt.delivered


def test_failing_attempt_logger_does_not_stop_delivery():
    def broken(attempt):
        raise RuntimeError("disk full")

    deliverer = Deliverer(
        transport=httpx.MockTransport(lambda r: httpx.Response(200)), on_attempt=broken
    )
    (attempt,) = deliverer.deliver_now(
        {"id": "w", "url": "http://127.0.0.1/x"}, "update", "Invoice", {"id": "i"}
    )
    assert attempt.delivered and list(deliverer.log) == [attempt]
