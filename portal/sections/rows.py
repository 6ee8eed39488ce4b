"""One page of a section's rows for a list state: the CRM call (with the staff
settings' filters, the status and dates asked for), clamping past the last page, and
the local filter and sort for statuses the CRM cannot express.

CRM calls: one list call (two when the page asked for is past the last one), plus what
the section's `rows_of` extra asks per row (documents: file info).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from crm_gateway import PAGE_LIMIT, CheckedRecord, ContactGateway
from crm_gateway import ListQuery as CrmListQuery
from portal.formatting import CrmLocale
from portal.listing import ListQuery, SortHeader, StatusPlan, clamp_page, sort_headers, sort_records
from portal.sections.declaration import Column, Section, today
from portal.site_settings import SiteSettings


@dataclass(frozen=True)
class RowsPage:
    rows: list[Any]
    total: int
    number: int  # the page shown (the one asked for, clamped)
    truncated: bool = False  # a local filter saw only the first PAGE_LIMIT records


async def _rows(
    section: Section, gateway: ContactGateway, checked: list[CheckedRecord[Any]], on: dt.date
) -> list[Any]:
    if section.rows_of is not None:
        return await section.rows_of(gateway, checked)
    return [section.row(c.record, on) for c in checked]


def crm_filters(
    section: Section, site: SiteSettings, query: ListQuery, on: dt.date
) -> tuple[tuple[Any, ...], StatusPlan] | None:
    """The CRM filters of a list state (the staff settings', the status, the choices and
    the dates) and its status plan; None when nothing the contact may see can match.
    The list's page and its zip (`all_rows`) both read their records through this."""
    scope_filters = section.list_filters(site, query, on)
    if scope_filters is None:
        return None
    plan = section.local_status(query.status, on) if section.local_status else StatusPlan()
    date_filter = query.crm_date_filter(section.spec)
    filters = (
        *scope_filters,
        *plan.filters,
        *query.crm_choice_filters(section.spec),
        *((date_filter,) if date_filter else ()),
    )
    return filters, plan


async def fetch_rows(
    gateway: ContactGateway, section: Section, site: SiteSettings, query: ListQuery, page_size: int
) -> RowsPage:
    on = today()
    planned = crm_filters(section, site, query, on)
    if planned is None:  # nothing the contact may see can match: no CRM call
        return RowsPage([], 0, 1)
    filters, plan = planned

    def crm_query(**page: Any) -> CrmListQuery:
        return CrmListQuery(
            fields=section.list_fields,
            filters=filters,
            filter_text=query.q or None,
            view_closed=plan.view_closed,
            **page,
        )

    if plan.keep is not None:
        # One page of 200 in the plan's order (every record that can match comes first).
        page = await gateway.list_records(
            section.model, crm_query(order=plan.prefetch_order, limit=PAGE_LIMIT)
        )
        rows = await _rows(section, gateway, page.records, on)
        kept = [row for row in rows if plan.keep(row)]
        truncated = page.total > len(rows) and len(kept) == len(rows)
        ordered = sort_records(kept, section.spec.sorts[query.sort], query.dir == "desc")
        shown = clamp_page(query.page, len(ordered), page_size)
        start = (shown - 1) * page_size
        return RowsPage(ordered[start : start + page_size], len(ordered), shown, truncated)

    async def one(number: int) -> tuple[list[CheckedRecord[Any]], int]:
        order = query.crm_order(section.spec)
        page = await gateway.list_records(
            section.model, crm_query(order=order, offset=(number - 1) * page_size, limit=page_size)
        )
        return page.records, page.total

    records, total = await one(query.page)
    shown = clamp_page(query.page, total, page_size)
    if shown != query.page:  # past the last page: show the last one
        records, total = await one(shown)
    return RowsPage(await _rows(section, gateway, records, on), total, shown)


@dataclass(frozen=True)
class AllRows:
    """Every row of a list state, on all its pages (for a zip of them): `rows` pairs each
    checked record with its row, in the list's order. Empty when `total` is over the cap
    the caller gave: then no more than the first call was made."""

    rows: list[tuple[CheckedRecord[Any], Any]]
    total: int


async def all_rows(
    gateway: ContactGateway, section: Section, site: SiteSettings, query: ListQuery, cap: int
) -> AllRows:
    """The records the list shows for `query`, all its pages: the same CRM filters, the
    same local status filter and order as `fetch_rows`, read 200 at a time (at most
    `cap`, so at most cap/200 + 1 calls), and the section's own rule on each record."""
    on = today()
    planned = crm_filters(section, site, query, on)
    if planned is None:
        return AllRows([], 0)
    filters, plan = planned

    def crm_query(**page: Any) -> CrmListQuery:
        return CrmListQuery(
            fields=section.list_fields,
            filters=filters,
            filter_text=query.q or None,
            view_closed=plan.view_closed,
            **page,
        )

    def visible(checked: list[CheckedRecord[Any]]) -> list[CheckedRecord[Any]]:
        return [c for c in checked if section.visible(site, c.record)]

    if plan.keep is not None:
        # As the list: one page of 200 in the plan's order, kept and sorted here.
        page = await gateway.list_records(
            section.model, crm_query(order=plan.prefetch_order, limit=PAGE_LIMIT)
        )
        checked = {c.id: c for c in visible(page.records)}
        kept = [row for c in checked.values() if plan.keep(row := section.row(c.record, on))]
        if len(kept) > cap:
            return AllRows([], len(kept))
        ordered = sort_records(kept, section.spec.sorts[query.sort], query.dir == "desc")
        return AllRows([(checked[row.record.id], row) for row in ordered], len(kept))

    order = query.crm_order(section.spec)
    records: list[CheckedRecord[Any]] = []
    offset = 0
    while True:
        page = await gateway.list_records(
            section.model, crm_query(order=order, offset=offset, limit=PAGE_LIMIT)
        )
        if page.total > cap:
            return AllRows([], page.total)
        records += visible(page.records)
        offset += page.crm_count  # what the CRM sent, dropped records included
        if not page.crm_count or offset >= max(page.crm_total, page.total) or offset > cap:
            break
    return AllRows([(c, section.row(c.record, on)) for c in records], len(records))


# --- The table -----------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnHead:
    """A column as one page shows it: label resolved once, its sort link if sortable."""

    label: str
    css: str
    label_hidden: bool
    sort: SortHeader | None


def column_heads(section: Section, query: ListQuery, path: str) -> list[ColumnHead]:
    headers = sort_headers(query, section.spec, path)
    return [
        ColumnHead(str(c.label), c.css, c.label_hidden, headers.get(c.sort) if c.sort else None)
        for c in section.columns
    ]


def table_cells(
    columns: tuple[Column, ...], heads: list[ColumnHead], rows: list[Any], locale: CrmLocale
) -> list[list[tuple[ColumnHead, str]]]:
    """Each row's cells as (column, HTML), formatted in the CRM's locale."""
    pairs = list(zip(columns, heads, strict=True))
    return [[(head, column.cell(row, locale)) for column, head in pairs] for row in rows]
