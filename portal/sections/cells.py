"""How a column of a section's list fills its cell: `Column(label, cells.date("due_date"))`.

Each returns the cell's HTML, escaped, in the CRM's locale; the list template only
places it (one formatting call per cell, no template tag per cell).
"""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString

from portal.formatting import CrmLocale, format_date, format_money, format_size
from portal.sections.declaration import Cell


def title_link(row: Any, locale: CrmLocale) -> str:
    return format_html('<a href="{}">{}</a>', row.url, row.title)


def text(name: str) -> Cell:
    return lambda row, locale: format_html("{}", getattr(row.record, name) or "")


def date(name: str) -> Cell:
    return lambda row, locale: format_date(getattr(row.record, name), locale)


def money(name: str) -> Cell:
    def cell(row: Any, locale: CrmLocale) -> str:
        record = row.record
        return format_html("{}", format_money(getattr(record, name), locale, record.currency_id))

    return cell


def size(name: str) -> Cell:
    return lambda row, locale: format_size(getattr(row, name), locale)


def badge(row: Any, locale: CrmLocale) -> str:
    return row.badge


def badge_html(modifier: str, label: Any) -> SafeString:
    css = f"badge badge--{modifier}" if modifier else "badge"
    return format_html('<span class="{}">{}</span>', css, label)
