import datetime as dt

import pytest
from django.http import QueryDict

from crm_gateway import DateFilter, DateOperator, Filter, Invoice
from portal.listing import (
    BadListQuery,
    ListQuery,
    Paging,
    clamp_page,
    parse_list_query,
    sort_records,
)
from portal.sections.documents import SPEC as DOCUMENT_SPEC
from portal.sections.invoices import SPEC as INVOICE_SPEC
from portal.sections.invoices import InvoiceRow, invoice_status
from portal.sections.invoices import status_plan as invoice_status_plan
from portal.sections.quotes import SPEC as QUOTE_SPEC
from portal.sections.quotes import stages_for as quote_stages_for

TODAY = dt.date(2026, 11, 29)


def parse(text: str, spec=INVOICE_SPEC) -> ListQuery:
    return parse_list_query(QueryDict(text), spec, query_length=len(text))


def test_empty_query_is_the_default_state():
    query = parse("")
    assert query == ListQuery(sort="date", dir="desc", page=1)
    assert query.params(INVOICE_SPEC) == []
    assert query.crm_order(INVOICE_SPEC) == "invoice_date DESC"
    assert query.crm_date_filter(INVOICE_SPEC) is None


def test_full_state_round_trips_through_its_url():
    text = "q=Drill+%C3%BC&status=overdue&from=2026-01-01&to=2026-03-31&sort=due&dir=asc&page=3"
    query = parse(text)
    assert query == ListQuery(
        q="Drill ü", status="overdue", period="custom", date_from=dt.date(2026, 1, 1),
        date_to=dt.date(2026, 3, 31), sort="due", dir="asc", page=3,
    )  # fmt: skip
    url = query.url("/invoices/", INVOICE_SPEC)
    assert parse(url.split("?", 1)[1]) == query


@pytest.mark.parametrize(
    "text",
    [
        "status=open&status=paid",
        "status[]=open",
        "q[]=x",
        "page=2&page=3",
        "q=" + "x" * 201,
        "status=unknown",
        "period=next_century",
        "from=2026-02-30",
        "from=26-1-1",
        "to=1800-01-01",
        "page=abc",
        "page=-1",
        "page=1.5",
        "page=99999999",
    ],
)
def test_refused_queries(text):
    with pytest.raises(BadListQuery):
        parse(text)


def test_overlong_query_string_is_refused():
    with pytest.raises(BadListQuery):
        parse_list_query(QueryDict("q=a"), INVOICE_SPEC, query_length=5000)


def test_unknown_sort_and_direction_fall_back():
    assert parse("sort=password&dir=sideways").sort == "date"
    assert parse("sort=password&dir=sideways").dir == "desc"
    assert parse("sort=amount&dir=UP").dir == "asc"
    assert parse("sort=amount&dir=DESC").dir == "desc"


def test_search_text_is_cleaned():
    assert parse("q=%20drill%0A%0Dbits%09%00").q == "drill bits"


def test_page_zero_is_page_one_and_paging_clamps():
    assert parse("page=0").page == 1
    assert clamp_page(50, total=45, page_size=20) == 3
    assert clamp_page(2, total=0, page_size=20) == 1
    assert clamp_page(3, total=45, page_size=20) == 3


def test_dates_are_swapped_when_reversed():
    query = parse("from=2026-05-01&to=2026-01-01")
    assert (query.date_from, query.date_to) == (dt.date(2026, 1, 1), dt.date(2026, 5, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("period=this_quarter", DateFilter("invoice_date", DateOperator.PERIOD_CURRENT,
                                           period="quarter")),
        ("period=last_year", DateFilter("invoice_date", DateOperator.PERIOD_PREV, period="year")),
        ("period=last_30_days", DateFilter("invoice_date", DateOperator.PERIOD_CURRENT,
                                           period="days_30")),
        ("from=2026-01-01&to=2026-01-31", DateFilter(
            "invoice_date", DateOperator.BETWEEN_DATES, dt.date(2026, 1, 1),
            end=dt.date(2026, 1, 31))),
        ("from=2026-01-01", DateFilter("invoice_date", DateOperator.AFTER_DATE,
                                       dt.date(2025, 12, 31))),
        ("to=2026-01-31", DateFilter("invoice_date", DateOperator.BEFORE_DATE,
                                     dt.date(2026, 2, 1))),
    ],
)  # fmt: skip
def test_periods_and_ranges_use_the_references_operators(text, expected):
    assert parse(text).crm_date_filter(INVOICE_SPEC) == expected


def test_a_named_period_wins_over_dates():
    query = parse("period=this_year&from=2026-01-01&to=2026-02-01")
    assert (query.period, query.date_from, query.date_to) == ("this_year", None, None)


def test_custom_period_without_dates_is_no_filter():
    assert parse("period=custom").period == ""


def test_sort_links_toggle_and_reset_the_page():
    query = parse("sort=amount&dir=desc&page=4&status=open")
    assert query.sort_url("/invoices/", INVOICE_SPEC, "amount") == (
        "/invoices/?status=open&sort=amount&dir=asc"
    )
    assert query.sort_url("/invoices/", INVOICE_SPEC, "subject") == (
        "/invoices/?status=open&sort=subject&dir=asc"
    )
    # The default sort is left out of URLs.
    assert query.sort_url("/invoices/", INVOICE_SPEC, "date") == "/invoices/?status=open"


def test_invoice_status_plans():
    assert invoice_status_plan("", TODAY).filters == ()
    assert invoice_status_plan("cancelled", TODAY).filters == (Filter("cancelled", "1"),)
    paid = invoice_status_plan("paid", TODAY)
    assert paid.filters == (Filter("cancelled", "0"), Filter("amount_due", "0"))
    assert not paid.local
    overdue = invoice_status_plan("overdue", TODAY)
    assert overdue.local and overdue.prefetch_order == "amount_due DESC"
    assert DateFilter("due_date", DateOperator.BEFORE_DATE, TODAY) in overdue.filters
    assert overdue.keep(InvoiceRow.of(invoice({"amount_due": "0.01"}), TODAY))
    assert not overdue.keep(InvoiceRow.of(invoice({"amount_due": "0.00"}), TODAY))


def invoice(data: dict) -> Invoice:
    """An invoice as the gateway parses it from the CRM's reply."""
    return Invoice.from_json({"id": "inv-1", **data})


@pytest.mark.parametrize(
    ("record", "status"),
    [
        ({"cancelled": True, "amount_due": "5"}, "cancelled"),
        ({"cancelled": False, "amount_due": "0.00", "due_date": "2020-01-01"}, "paid"),
        ({"cancelled": False, "amount_due": "5", "due_date": "2026-11-28"}, "overdue"),
        ({"cancelled": False, "amount_due": "5", "due_date": "2026-11-29"}, "open"),
    ],
)
def test_invoice_status_of_a_record(record, status):
    assert invoice_status(invoice(record), TODAY) == status


def test_quote_stages_stay_within_what_staff_allow():
    visible = ("Delivered", "Negotiation", "Closed Accepted")
    assert quote_stages_for("", visible) == visible
    assert quote_stages_for("awaiting", visible) == ("Delivered", "Negotiation")
    assert quote_stages_for("declined", visible) == ()
    with pytest.raises(BadListQuery):
        parse("status=open", QUOTE_SPEC)


def test_documents_have_no_status():
    with pytest.raises(BadListQuery):
        parse("status=open", DOCUMENT_SPEC)


def test_local_sort_by_kind_with_empty_values_last():
    rows = [
        InvoiceRow.of(Invoice.from_json(data), TODAY)
        for data in (
            {"id": "a", "amount_due": "9.50", "due_date": ""},
            {"id": "b", "amount_due": "10.00", "due_date": "2026-01-02"},
            {"id": "c", "amount_due": "", "due_date": "2025-12-31"},
        )
    ]
    by_amount = sort_records(rows, INVOICE_SPEC.sorts["balance"], descending=True)
    assert [r.record.id for r in by_amount] == ["b", "a", "c"]  # 10 > 9.5 as numbers
    by_due = sort_records(rows, INVOICE_SPEC.sorts["due"], descending=False)
    assert [r.record.id for r in by_due] == ["c", "b", "a"]


def test_paging_numbers():
    paging = Paging(page=5, page_size=20, total=300)
    assert paging.pages == 15
    assert (paging.first_item, paging.last_item) == (81, 100)
    assert paging.window() == [1, None, 3, 4, 5, 6, 7, None, 15]
    assert Paging(page=1, page_size=20, total=0).pages == 1
    assert Paging(page=1, page_size=20, total=0).first_item == 0
    assert not Paging(page=15, page_size=20, total=300).has_next


def test_a_choice_filter_is_its_own_parameter_and_one_crm_filter():
    from portal.sections.cases import SPEC as CASE_SPEC

    query = parse_list_query(QueryDict("priority=P1&status=closed&sort=number"), CASE_SPEC)
    assert query.choice("priority") == "P1" and query.is_filtered
    assert query.crm_choice_filters(CASE_SPEC) == (Filter("priority", "P1"),)
    url = query.url("/cases/", CASE_SPEC)
    assert url.startswith("/cases/?status=closed&priority=P1&sort=number")
    assert parse_list_query(QueryDict(url.split("?", 1)[1]), CASE_SPEC) == query
    assert parse_list_query(QueryDict(""), CASE_SPEC).crm_choice_filters(CASE_SPEC) == ()
    for refused in ("priority=P1&priority=P2", "priority[]=P1", "priority=%01"):
        with pytest.raises(BadListQuery):
            parse_list_query(QueryDict(refused), CASE_SPEC)
    # Lists without it ignore the parameter, as any other unknown one.
    assert parse_list_query(QueryDict("priority=P1"), INVOICE_SPEC).choices == ()
