"""Template tags for the customer pages: CRM-formatted money, numbers, dates and sizes.

Each tag reads the page's `crm_locale` (a `portal.formatting.CrmLocale`) from the
context, so templates say what to show and the CRM's configuration says how:

    {% money invoice.amount invoice.currency_id %}  {% crm_date invoice.due_date %}
"""

from __future__ import annotations

from typing import Any

from django import template

from portal import formatting
from portal.formatting import CrmLocale

register = template.Library()


def _locale(context: template.Context) -> CrmLocale:
    locale = context.get("crm_locale")
    return locale if isinstance(locale, CrmLocale) else CrmLocale()


@register.simple_tag(takes_context=True)
def money(context: template.Context, value: Any, currency: Any = None) -> str:
    return formatting.format_money(value, _locale(context), currency)


@register.simple_tag(takes_context=True)
def number(context: template.Context, value: Any, places: int | None = None) -> str:
    return formatting.format_number(value, _locale(context), places)


@register.simple_tag(takes_context=True)
def rate(context: template.Context, value: Any) -> str:
    return formatting.format_rate(value, _locale(context))


@register.simple_tag(takes_context=True)
def crm_date(context: template.Context, value: Any) -> str:
    return formatting.format_date(value, _locale(context))


@register.simple_tag(takes_context=True)
def crm_time(context: template.Context, value: Any) -> str:
    return formatting.format_time(value, _locale(context))


@register.simple_tag(takes_context=True)
def file_size(context: template.Context, value: Any) -> str:
    return formatting.format_size(value, _locale(context))


@register.simple_tag(takes_context=True)
def currency_code(context: template.Context, currency: Any) -> str:
    """A record's currency as its ISO code ("EUR"), else the CRM's own id for it."""
    key = str(currency or "")
    return _locale(context).currency(key).iso4217 or key
