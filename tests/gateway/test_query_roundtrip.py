"""Query values cannot smuggle parameters: whatever the text (`&`, `=`, `[`, `]`, `#`, `%`,
newlines, non-ASCII), the CRM's PHP-style parser (the emulator's) reads exactly the filter
the portal meant, and the contact's scope filter stays intact."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_emulator.query import parse_query
from crm_gateway import Case, DateFilter, Filter, InvalidQuery, Invoice, ListQuery, NotAllowed
from crm_gateway.client import close_http_client
from crm_gateway.query import NAME
from tests.gateway.conftest import logged
from tests.gateway.test_emulator_calls import gateway_for

PIECES = st.sampled_from(
    [*list("&=[]#%+;?/\\ \n\r\t\"'ab01éü€漢"), "filters[x]=1", "%26", "&limit=1"]
)
NASTY = st.lists(PIECES, min_size=1, max_size=12).map("".join) | st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30
)


def run(coroutine):
    async def with_cleanup():
        try:
            return await coroutine
        finally:
            await close_http_client()

    return asyncio.run(with_cleanup())


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=NASTY, po=NASTY)
def test_values_reach_the_crm_exactly(crm, demo, text, po):
    gateway = gateway_for(crm, demo.mine, "staff")
    crm.control("DELETE", "requests")
    query = ListQuery(
        filter_text=text, filters=(Filter("purchase_order_num", po),), fields=("name",), limit=5
    )
    page = run(gateway.list_records(Invoice, query))
    assert all(r.record.billing_account_id == demo.mine.account_id for r in page.records)
    (entry,) = logged(crm, "/data/Invoice", "GET")
    assert entry["status"] == 200
    params = parse_query(entry["query"])
    assert params["filter_text"] == text
    assert params["filters"] == {
        "purchase_order_num": po,
        "billing_account_id": demo.mine.account_id,
    }
    assert set(params) == {"fields", "filters", "filter_text", "offset", "limit"}


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(day=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1)))
def test_date_filters_round_trip(crm, demo, day):
    gateway = gateway_for(crm, demo.mine, "staff")
    crm.control("DELETE", "requests")
    query = ListQuery(
        filters=(DateFilter("due_date", "between_dates", value=day, end=day),), limit=1
    )
    run(gateway.list_records(Invoice, query))
    (entry,) = logged(crm, "/data/Invoice", "GET")
    filters = parse_query(entry["query"])["filters"]
    assert filters["due_date"] == filters["due_date-end"] == day.isoformat()
    assert filters["due_date-operator"] == "between_dates"


async def test_filter_text_matches_exactly_what_was_meant(crm, demo):
    gateway = gateway_for(crm, demo.mine, "staff")
    some = (await gateway.list_records(Invoice, ListQuery(limit=1))).records[0].record
    assert some.full_number
    exact = await gateway.list_records(Invoice, ListQuery(filter_text=some.full_number))
    assert some.id in {r.id for r in exact.records}
    smuggled = await gateway.list_records(
        Invoice, ListQuery(filter_text=f"{some.full_number}&filters[billing_account_id]=x")
    )
    assert smuggled.records == []  # one literal search text, no extra parameter


async def test_view_closed_asks_a_case_list_only(crm, demo):
    """`view_closed=1` reaches the CRM on a case list that asks for it, never unasked,
    and the gateway refuses it on any other model."""
    assert ("view_closed", "1") in ListQuery(view_closed=True).params()
    assert "view_closed" not in dict(ListQuery().params())
    with pytest.raises(InvalidQuery):
        ListQuery(view_closed="1")  # type: ignore[arg-type]
    gateway = gateway_for(crm, demo.mine, "staff")
    crm.control("DELETE", "requests")
    await gateway.list_records(Case, ListQuery(view_closed=True, limit=1))
    await gateway.list_records(Case, ListQuery(limit=1))
    asked, plain = (c["query"].split("&") for c in logged(crm, "/data/aCase"))
    assert "view_closed=1" in asked and not [p for p in plain if p.startswith("view_closed")]
    with pytest.raises(NotAllowed):
        await gateway.list_records(Invoice, ListQuery(view_closed=True))


@given(name=st.text(max_size=30))
def test_names_that_are_not_identifiers_are_refused(name):
    if NAME.fullmatch(name):
        ListQuery(fields=(name,), filters=(Filter(name, "v"),), order=f"{name} DESC")
        return
    for build in (
        lambda: ListQuery(fields=(name,)),
        lambda: ListQuery(filters=(Filter(name, "v"),)),
        lambda: ListQuery(order=name),
        lambda: DateFilter(name, value="2020-01-01"),
    ):
        with pytest.raises(InvalidQuery):
            build()


def test_date_operator_rules():
    with pytest.raises(InvalidQuery):
        DateFilter("due_date", "between_dates", value="2020-01-01")
    with pytest.raises(InvalidQuery):
        DateFilter("due_date", "today", value="2020-01-01")
    with pytest.raises(InvalidQuery):
        DateFilter("due_date", "period_prev", period="weeks&x=1")
    assert DateFilter("due_date", "period_prev", period="days_30").params() == [
        ("filters[due_date-operator]", "period_prev"),
        ("filters[due_date-period]", "days_30"),
    ]
    assert DateFilter("due_date", value=dt.date(2020, 1, 2)).params() == [
        ("filters[due_date]", "2020-01-02"),
        ("filters[due_date-operator]", "on_date"),
    ]
    with pytest.raises(InvalidQuery):
        ListQuery(limit=201)
    with pytest.raises(InvalidQuery):
        ListQuery(offset=-1)
