"""What a section of the portal is, declared once: `Section`, its `Column`s and its rows.

A section (invoices, quotes, documents, and the ones to come) is a list of one CRM model
the contact may see, a page per record, and optionally the record's PDF or file. The
generic views (portal/views/sections.py) and templates (templates/portal/sections/) read
everything they need from the declaration; what only one section does is a named extra
on it (a hook), never a copy of a view.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.urls import reverse

from crm_gateway import CheckedRecord, ContactGateway, DateFilter, Filter, Record
from portal.formatting import CrmLocale
from portal.listing import ListQuery, ListSpec, StatusPlan
from portal.site_settings import SiteSettings

Filters = tuple[Filter | DateFilter, ...]


def today() -> dt.date:
    """The day statuses are computed for (overdue, expired): the CRM's dates are UTC."""
    return dt.datetime.now(dt.UTC).date()


class Row(Protocol):
    """One record as the pages show it: typed, with what is computed from it (status)."""

    @property
    def record(self) -> Record: ...

    @property
    def title(self) -> str: ...

    @property
    def url(self) -> str: ...


# --- Columns of the list table ---------------------------------------------------------

Cell = Callable[[Any, CrmLocale], str]


@dataclass(frozen=True)
class Column:
    """One column of a section's list: its header, how a row fills it, its sort key."""

    label: Any  # a lazy translation; also the cell's label on narrow screens
    cell: Cell  # the cell's (escaped) HTML for a row
    sort: str = ""  # a key of the section's ListSpec.sorts; "" = not sortable
    css: str = ""  # "num" right-aligns
    label_hidden: bool = False  # the header is for screen readers only


# --- The declaration -------------------------------------------------------------------


@dataclass(frozen=True)
class Texts:
    """A section's own words on its pages (lazy translations)."""

    title: Any  # "Invoices": the page heading and the navigation
    caption: Any  # "Your invoices": the table's caption for screen readers
    search_hint: Any
    all_records: Any  # "All invoices": the detail page's way back
    no_match: Any
    no_match_hint: Any
    show_all: Any
    empty: Any
    empty_hint: Any
    record_title: Any = ""  # "Invoice %(number)s"; "" = the row's title alone


ListFilters = Callable[[SiteSettings, ListQuery, dt.date], Filters | None]
Visible = Callable[[SiteSettings, Any], bool]
DetailExtra = Callable[[ContactGateway, CheckedRecord[Any], SiteSettings], Awaitable[dict]]
RowsExtra = Callable[[ContactGateway, list[Any]], Awaitable[list[Any]]]  # checked -> rows
# The options of the list's choice filters (ListSpec.choice_filters): name -> (value, label).
FilterOptions = Callable[[ContactGateway], Awaitable[Mapping[str, Sequence[tuple[str, str]]]]]


@dataclass(frozen=True)
class Bulk:
    """A section's "Download all (zip)" (`/<key>/download.zip`): the zip of the files
    (its PDFs, or its records' files) of every record its list shows."""

    filename: str  # the zip's own name: "invoices.zip"
    member_name: Callable[[Any], str]  # a row -> its file's name in the zip
    activity: str  # the ActivityKind recorded, with how many files


def fields(names: str) -> tuple[str, ...]:
    """CRM field names, written as one string: `fields("name amount due_date")`."""
    return tuple(names.split())


def no_filters(site: SiteSettings, query: ListQuery, on: dt.date) -> Filters:
    return ()


def always_visible(site: SiteSettings, record: Any) -> bool:
    return True


@dataclass(frozen=True)
class Section:
    """One section of the portal. `key` names its URLs ("invoices", "invoice" + `one`),
    its switch in the staff settings (`section_<key>`) and its templates' folder."""

    key: str
    one: str  # the URL name of one record ("invoice"); "<one>-pdf", "<one>-download"
    model: type[Record]
    texts: Texts
    list_fields: tuple[str, ...]  # what the list reads from the CRM (the detail: all)
    spec: ListSpec  # its filters (statuses, dates) and sort keys
    columns: tuple[Column, ...]
    row: Callable[[Any, dt.date], Any]  # (record, today) -> its row type
    # The scope rule on top of the gateway's ownership check: the staff settings' say.
    list_filters: ListFilters = no_filters  # None: nothing can match, no CRM call
    visible: Visible = always_visible  # may this (owned) record be shown?
    tally: bool = False  # the detail page shows the record's line items
    pdf: str = ""  # the PDF's file name before the number ("Invoice"); "" = no PDF
    download: bool = False  # the record is a file: /<key>/<id>/download
    bulk: Bulk | None = None  # its PDFs or files as one zip: /<key>/download.zip
    # Named extras, for what only this section does.
    local_status: Callable[[str, dt.date], StatusPlan] | None = None
    rows_of: RowsExtra | None = None  # rows that need more than the record (file info)
    detail_extra: DetailExtra | None = None  # more of the detail page's context
    detail_context: Mapping[str, Any] = field(default_factory=dict)
    list_actions: str = ""  # a template beside the list's heading (a "new" button)
    filter_options: FilterOptions | None = None  # the CRM's options for choice filters

    def __post_init__(self) -> None:
        for column in self.columns:
            if column.sort and column.sort not in self.spec.sorts:
                raise ValueError(f"{self.key}: {column.sort!r} is not a sort key")
        if self.bulk is not None and not (self.pdf or self.download):
            raise ValueError(f"{self.key}: a zip needs the records' PDF or file")

    @property
    def template(self) -> str:
        return f"portal/{self.key}/detail.html"

    def enabled(self, site: SiteSettings) -> bool:
        return bool(site.sections.get(self.key))

    def list_url(self) -> str:
        return reverse(self.key)

    def record_url(self, record_id: str, action: str = "") -> str:
        name = f"{self.one}-{action}" if action else self.one
        return reverse(name, args=[record_id])
