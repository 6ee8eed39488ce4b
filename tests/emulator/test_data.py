"""/data: lists, fields, every filter form, ordering, paging, CRUD and related records."""

import datetime as dt
import uuid

import pytest

from tests.emulator.conftest import Api


def test_list_defaults_to_20_and_total_ignores_paging(api: Api):
    token = api.staff()
    body = api.ok("GET", "/data/Invoice", token)
    assert len(body["records"]) == 20
    assert body["total_results"] >= 300
    page = api.ok("GET", "/data/Invoice", token, params={"offset": 295, "limit": 200})
    assert page["total_results"] == body["total_results"]
    assert len(page["records"]) == body["total_results"] - 295
    record = body["records"][0]
    assert record["id"] and record["_display"] and "full_number" in record


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"limit": "x"},
        {"offset": -1},
        {"offset": "1.5"},
        {"order": "nope"},
        {"order": "due_date SIDEWAYS"},
        {"fields": "name"},
        {"fields[]": "nope"},
        {"filters[nope]": "1"},
        {"filters": "x"},
        {"filters[shipping_stage][]": "Shipped"},
        {"filters[a][b]": "1"},
        {"filters[due_date-operator]": "someday"},
        {"filters[due_date-operator]": "period_prev", "filters[due_date-period]": "decade"},
        {"filters[due_date-operator]": "period_prev"},
        {"filters[due_date]": "2020-01-01", "filters[due_date-operator]": "between_dates"},
        {"filters[due_date]": "not-a-date"},
        {"filters[cancelled]": "maybe"},
        {"filters[name-operator]": "on_date"},
        {"filters[amount]": "abc"},
    ],
)
def test_invalid_list_parameters_are_400(api: Api, params):
    api.error(api.get("/data/Invoice", api.staff(), params=params), 400)


def test_fields_selection_both_php_forms(api: Api):
    token = api.staff()
    one = api.ok("GET", "/data/Invoice?fields[]=full_number&fields[]=amount_due&limit=3", token)
    two = api.ok("GET", "/data/Invoice?fields[0]=full_number&fields[1]=amount_due&limit=3", token)
    assert one == two
    assert set(one["records"][0]) == {"id", "full_number", "amount_due", "_display"}


def test_order_ascending_and_descending(api: Api):
    token = api.staff()
    up = api.ok("GET", "/data/Invoice", token, params={"order": "amount", "limit": 200})
    amounts = [float(r["amount"]) for r in up["records"]]
    assert amounts == sorted(amounts)
    down = api.ok("GET", "/data/Invoice", token, params={"order": "due_date DESC", "limit": 200})
    dates = [r["due_date"] for r in down["records"]]
    assert dates == sorted(dates, reverse=True)


def test_plain_partial_and_multi_value_filters(api: Api, demo):
    token = api.staff()
    shipped = api.records("Invoice", token, **{"filters[shipping_stage]": "Shipped"})
    assert shipped and all(r["shipping_stage"] == "Shipped" for r in shipped)
    both = api.records("Invoice", token, **{"filters[shipping_stage]": "Shipped^,^Pending"})
    assert len(both) > len(shipped)
    assert {r["shipping_stage"] for r in both} == {"Shipped", "Pending"}
    email = demo.contacts[0]["email1"]
    partial = email.split("@")[0][:4]
    found = api.records("Contact", token, **{"filters[any_email]": partial})
    assert any(c["id"] == demo.contacts[0]["id"] for c in found)
    assert all(partial in (c.get("email1") or "") for c in found)


def test_ref_filters_by_name_and_by_id(api: Api, demo):
    token = api.staff()
    account = demo.accounts[0]
    by_id = api.records("Invoice", token, **{"filters[billing_account_id]": account["id"]})
    by_name = api.records("Invoice", token, **{"filters[billing_account]": account["name"]})
    assert by_id and {r["id"] for r in by_id} == {r["id"] for r in by_name}
    assert all(r["billing_account_id"] == account["id"] for r in by_id)


def test_bool_filter_and_filter_text(api: Api):
    token = api.staff()
    cancelled = api.records(
        "Invoice", token, **{"filters[cancelled]": "1", "fields[]": ["cancelled", "full_number"]}
    )
    assert cancelled and all(r["cancelled"] in (True, 1, "1") for r in cancelled)
    number = cancelled[0]["full_number"]
    text = api.ok("GET", "/data/Invoice", token, params={"filter_text": number})
    assert number in [r["full_number"] for r in text["records"]]


@pytest.fixture
def dated(api: Api):
    """Cases named with a fresh marker, one per interesting date, keyed by label."""
    token = api.staff()
    marker = f"dated-{uuid.uuid4().hex[:8]}"
    today = dt.datetime.now(dt.UTC).date()
    days = {
        "today": today,
        "yesterday": today - dt.timedelta(days=1),
        "tomorrow": today + dt.timedelta(days=1),
        "last_year": today.replace(year=today.year - 1, month=6, day=15),
        "next_year": today.replace(year=today.year + 1, month=6, day=15),
        "prev_month": (today.replace(day=1) - dt.timedelta(days=1)).replace(day=10),
        "minus_10": today - dt.timedelta(days=10),
        "plus_10": today + dt.timedelta(days=10),
    }
    ids = {}
    for label, day in days.items():
        created = api.ok(
            "POST",
            "/data/aCase",
            token,
            json={"data": {"name": f"{marker} {label}", "date_closed": day.isoformat()}},
        )
        ids[created["id"]] = label
    empty = api.ok("POST", "/data/aCase", token, json={"data": {"name": f"{marker} empty"}})
    ids[empty["id"]] = "empty"

    def labels(**filters) -> set[str]:
        params = {"filters[name]": marker, **{f"filters[{k}]": v for k, v in filters.items()}}
        found = api.records("aCase", token, **params)
        return {ids[r["id"]] for r in found}

    yield today, days, labels
    for record_id in ids:
        api.call("DELETE", f"/data/aCase/{record_id}", token)


def test_every_date_operator(dated):
    today, days, labels = dated
    iso = today.isoformat
    everything = set(days) | {"empty"}
    dated_only = set(days)
    assert labels(date_closed=iso()) == {"today"}  # on_date is the default
    assert labels(**{"date_closed": iso(), "date_closed-operator": "on_date"}) == {"today"}
    assert labels(**{"date_closed": iso(), "date_closed-operator": "not_on_date"}) == (
        dated_only - {"today"}
    )
    before = labels(**{"date_closed": iso(), "date_closed-operator": "before_date"})
    assert before == {d for d, v in days.items() if v < today}
    after = labels(**{"date_closed": iso(), "date_closed-operator": "after_date"})
    assert after == {d for d, v in days.items() if v > today}
    assert labels(**{"date_closed-operator": "empty"}) == {"empty"}
    assert labels(**{"date_closed-operator": "not_empty"}) == dated_only
    assert labels(**{"date_closed-operator": "today"}) == {"today"}
    assert labels(**{"date_closed-operator": "yesterday"}) == {"yesterday"}
    assert labels(**{"date_closed-operator": "tomorrow"}) == {"tomorrow"}
    between = labels(
        **{
            "date_closed": days["minus_10"].isoformat(),
            "date_closed-end": iso(),
            "date_closed-operator": "between_dates",
        }
    )
    assert between == {d for d, v in days.items() if days["minus_10"] <= v <= today}
    assert labels() == everything


def _expected(days, low, high):
    return {label for label, day in days.items() if low <= day <= high}


PERIODS = [
    "day",
    "week",
    "month",
    "quarter",
    "year",
    "fiscal_quarter",
    "fiscal_year",
    "days_7",
    "days_30",
]


def test_every_period_operator(dated):
    today, days, labels = dated
    for period in PERIODS:
        for operator, shift in (("period_prev", -1), ("period_current", 0), ("period_next", 1)):
            low, high = period_bounds(period, shift, today)
            found = labels(**{"date_closed-operator": operator, "date_closed-period": period})
            assert found == _expected(days, low, high), (operator, period, low, high)


def period_bounds(period: str, shift: int, today: dt.date) -> tuple[dt.date, dt.date]:
    """An independent statement of the documented periods."""
    if period.startswith("days_"):
        n = int(period[5:])
        if shift == 0:
            return today - dt.timedelta(days=n - 1), today
        if shift == -1:
            return today - dt.timedelta(days=2 * n - 1), today - dt.timedelta(days=n)
        return today + dt.timedelta(days=1), today + dt.timedelta(days=n)
    if period == "day":
        day = today + dt.timedelta(days=shift)
        return day, day
    if period == "week":
        monday = today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=shift)
        return monday, monday + dt.timedelta(days=6)
    months = {"month": 1, "quarter": 3, "fiscal_quarter": 3, "year": 12, "fiscal_year": 12}[period]
    start_index = today.year * 12 + ((today.month - 1) // months) * months + shift * months
    start = dt.date(start_index // 12, start_index % 12 + 1, 1)
    end_index = start_index + months
    end = dt.date(end_index // 12, end_index % 12 + 1, 1) - dt.timedelta(days=1)
    return start, end


def test_create_get_update_delete(api: Api, demo):
    token = api.staff()
    account = demo.accounts[0]
    created = api.ok(
        "POST",
        "/data/aCase",
        token,
        json={
            "data": {
                "name": "Broken drill",
                "status": "Active - New",
                "priority": "P1",
                "account_id": account["id"],
            }
        },
    )
    record = api.ok("GET", f"/data/aCase/{created['id']}", token)["record"]
    assert record["name"] == "Broken drill" and record["account_id"] == account["id"]
    assert record["date_entered"]
    # The CRM numbers a new case itself, after every case it has.
    cases = api.ok("GET", "/data/aCase", token, params={"fields[]": "case_number", "limit": "200"})
    numbers = [int(c["case_number"]) for c in cases["records"] if c["id"] != created["id"]]
    assert int(record["case_number"]) > max(numbers)
    assert api.ok(
        "PATCH",
        f"/data/aCase/{created['id']}",
        token,
        json={"data": {"status": "Closed - Complete"}},
    ) == {"result": True}
    assert api.ok("GET", f"/data/aCase/{created['id']}", token, params={"fields[]": "status"})[
        "record"
    ] == {"id": created["id"], "status": "Closed - Complete", "_display": "Broken drill"}
    api.ok("PUT", f"/data/aCase/{created['id']}", token, json={"data": {"priority": "P3"}})
    assert api.ok("DELETE", f"/data/aCase/{created['id']}", token) == {"result": True}
    api.error(api.get(f"/data/aCase/{created['id']}", token), 404)
    api.error(api.call("DELETE", f"/data/aCase/{created['id']}", token), 404)


def test_update_with_create_flag(api: Api):
    token = api.staff()
    new_id = str(uuid.uuid4())
    api.error(api.call("PATCH", f"/data/aCase/{new_id}", token, json={"data": {"name": "x"}}), 404)
    api.ok("PUT", f"/data/aCase/{new_id}", token, json={"data": {"name": "Made"}, "create": True})
    assert api.ok("GET", f"/data/aCase/{new_id}", token)["record"]["name"] == "Made"
    api.ok("DELETE", f"/data/aCase/{new_id}", token)


def test_create_validates_fields_and_enums(api: Api):
    token = api.staff()
    api.error(api.call("POST", "/data/aCase", token, json={"data": {"nope": 1}}), 400)
    api.error(api.call("POST", "/data/aCase", token, json={"data": {"status": "Weird"}}), 400)
    api.error(
        api.call(
            "POST",
            "/data/aCase",
            token,
            content=b"not json",
            headers={"Content-Type": "application/json"},
        ),
        400,
    )


def test_related_list_add_and_remove(api: Api, demo):
    token = api.staff()
    account = demo.accounts[0]
    invoices = api.ok(
        "GET",
        f"/data/Account/{account['id']}/invoices",
        token,
        params={"limit": 200, "fields[]": ["billing_account_id"]},
    )
    assert invoices["total_results"] >= 1
    assert all(r["billing_account_id"] == account["id"] for r in invoices["records"])
    filtered = api.ok(
        "GET",
        f"/data/Account/{account['id']}/invoices",
        token,
        params={"filters[shipping_stage]": "Shipped", "limit": 200, "fields[]": ["shipping_stage"]},
    )
    assert all(r["shipping_stage"] == "Shipped" for r in filtered["records"])
    # Payments carry the join data (applied_amount).
    invoice_with_payment = next(
        r
        for r in api.records("Invoice", token, **{"fields[]": ["amount", "amount_due"]})
        if r["amount_due"] != r["amount"] and float(r["amount"]) > 0
    )
    payments = api.ok("GET", f"/data/Invoice/{invoice_with_payment['id']}/payments", token)
    assert payments["records"] and "applied_amount" in payments["records"][0]
    # A join link: documents of an account.
    document = api.ok("POST", "/data/Document", token, json={"data": {"document_name": "Linked"}})
    api.ok(
        "POST",
        f"/data/Account/{account['id']}/documents",
        token,
        json={"records": [document["id"]]},
    )
    docs = api.records("Document", token)  # noqa: F841 - the list still works
    linked = api.ok("GET", f"/data/Account/{account['id']}/documents", token, params={"limit": 200})
    assert document["id"] in [r["id"] for r in linked["records"]]
    back = api.ok("GET", f"/data/Document/{document['id']}/accounts", token)
    assert [r["id"] for r in back["records"]] == [account["id"]]
    assert api.ok("DELETE", f"/data/Account/{account['id']}/documents/{document['id']}", token) == {
        "result": True
    }
    linked = api.ok("GET", f"/data/Account/{account['id']}/documents", token, params={"limit": 200})
    assert document["id"] not in [r["id"] for r in linked["records"]]
    api.error(api.get(f"/data/Account/{account['id']}/nolink", token), 404)
    api.ok("DELETE", f"/data/Document/{document['id']}", token)


def test_related_add_through_a_field_link(api: Api, demo):
    token = api.staff()
    account = demo.accounts[1]
    case = api.ok("POST", "/data/aCase", token, json={"data": {"name": "Link me"}})
    api.ok(
        "POST",
        f"/data/Account/{account['id']}/cases",
        token,
        json={"records_with_data": [{"id": case["id"]}]},
    )
    assert (
        api.ok("GET", f"/data/aCase/{case['id']}", token)["record"]["account_id"] == (account["id"])
    )
    api.error(
        api.call(
            "POST", f"/data/Account/{account['id']}/cases", token, json={"records": ["no-such-id"]}
        ),
        404,
    )
    api.ok("DELETE", f"/data/aCase/{case['id']}", token)


def test_tally_shape_matches_the_stored_amount(api: Api):
    token = api.staff()
    # The oldest records: ones the demo seeded (the newest may be another test's, written
    # to this session's emulator a moment ago without lines).
    seeded_first = {"limit": 1, "order": "date_entered ASC"}
    invoice = api.ok("GET", "/data/Invoice", token, params=seeded_first)["records"][0]
    tally = api.ok("GET", f"/tally/Invoice/{invoice['id']}", token)
    assert tally["record"]["id"] == invoice["id"]
    assert tally["totals"]["total"] == invoice["amount"]
    group = tally["groups"][0]
    assert {"name", "subtotal", "total", "line_items", "adjusts"} <= set(group)
    assert {
        "name",
        "quantity",
        "unit_price",
        "ext_price",
        "is_comment",
        "sum_of_components",
        "components",
        "mfr_part_no",
        "serial_no",
    } <= set(group["line_items"][0])
    quote = api.ok("GET", "/data/Quote", token, params=seeded_first)["records"][0]
    assert api.ok("GET", f"/tally/Quote/{quote['id']}", token)["totals"]["total"] == quote["amount"]
    api.error(api.get(f"/tally/Account/{invoice['id']}", token), 400)
    api.error(api.get("/tally/Invoice/nope", token), 404)


def test_person_names_are_derived_and_dates_modified_set(api: Api, demo):
    token = api.staff()
    contact = api.ok("GET", f"/data/Contact/{demo.contacts[0]['id']}", token)["record"]
    assert contact["name"] == f"{contact['first_name']} {contact['last_name']}".strip()
    invoice = api.ok(
        "GET",
        "/data/Invoice",
        token,
        params={"limit": 1, "fields[]": ["date_entered", "date_modified"]},
    )
    assert invoice["records"][0]["date_modified"]
    created = api.ok(
        "POST",
        "/data/Contact",
        token,
        json={"data": {"first_name": "Ada", "last_name": "Lovelace"}},
    )
    api.ok("PATCH", f"/data/Contact/{created['id']}", token, json={"data": {"last_name": "King"}})
    record = api.ok("GET", f"/data/Contact/{created['id']}", token)["record"]
    assert record["name"] == "Ada King" and record["_display"] == "Ada King"
    api.ok("DELETE", f"/data/Contact/{created['id']}", token)
