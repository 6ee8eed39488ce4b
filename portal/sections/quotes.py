"""Quotes: the declaration, the row with its status (awaiting, accepted, declined,
expired), and the stage rules the decision views (portal/views/quotes.py) share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from crm_gateway import CheckedRecord, DateFilter, DateOperator, Filter, Quote
from portal import crm_stages
from portal.listing import ListQuery, ListSpec, SortKey
from portal.quote_decisions import REASON_MAX, is_decided
from portal.sections import cells
from portal.sections.declaration import Column, Filters, Section, Texts, fields, today
from portal.site_settings import SiteSettings

SPEC = ListSpec(
    sorts={
        "number": SortKey("quote_number", _("Number"), "number"),
        "subject": SortKey("name", _("Subject")),
        "stage": SortKey("quote_stage", _("Stage")),
        "valid": SortKey("valid_until", _("Valid until"), "date"),
        "amount": SortKey("amount", _("Amount"), "number"),
        "created": SortKey("date_entered", _("Created"), "date"),
    },
    default_sort="created",
    default_dir="desc",
    statuses={
        "awaiting": _("Awaiting your decision"),
        "accepted": _("Accepted"),
        "declined": _("Declined"),
    },
    date_field="valid_until",
    date_label=_("Valid until"),
)
# Stages in which a quote waits for the customer, and the ones a decision leads to, by
# their 1CRM standard names: the CRM's own keys for them come from its /meta/fields
# (portal.crm_stages; `Closed Accepted` may be `Angenommen` on an installation).
AWAITING_STAGES = ("Delivered", "Negotiation")
ACCEPTED_STAGES = ("Closed Accepted", "Confirmed")
DECLINED_STAGES = ("Closed Lost", "Closed Dead")
# What a decision writes (the gateway writes the CRM's key for it).
STAGE_ACCEPTED = "Closed Accepted"
STAGE_DECLINED = "Closed Lost"
STAGES_OF = {"awaiting": AWAITING_STAGES, "accepted": ACCEPTED_STAGES, "declined": DECLINED_STAGES}
BADGE_MODIFIER = {"awaiting": "awaiting", "accepted": "paid", "declined": "cancelled"}


def stages_for(status: str, visible: Sequence[str]) -> tuple[str, ...]:
    """The stages (this CRM's keys) a status stands for, within the stages staff let
    contacts see (keys too: `crm_stages.resolved`).

    Empty means no quote can match: the list is empty without asking the CRM.
    """
    wanted = STAGES_OF.get(status)
    if wanted is None:
        return tuple(visible)
    return tuple(stage for stage in visible if crm_stages.quote_standard(stage) in wanted)


def is_expired(quote: Quote, today: dt.date) -> bool:
    return quote.valid_until is not None and quote.valid_until < today


def quote_status(quote: Quote, today: dt.date) -> str:
    """awaiting (the customer's answer, still valid), accepted, declined, or "" (another
    stage, or awaiting but expired)."""
    stage = crm_stages.quote_standard(quote.quote_stage)
    if stage in AWAITING_STAGES:
        return "" if is_expired(quote, today) else "awaiting"
    if stage in ACCEPTED_STAGES:
        return "accepted"
    if stage in DECLINED_STAGES:
        return "declined"
    return ""


@dataclass(frozen=True, slots=True)
class QuoteRow:
    record: Quote
    status: str  # see quote_status
    expired: bool

    @classmethod
    def of(cls, record: Quote, today: dt.date) -> QuoteRow:
        return cls(record, quote_status(record, today), is_expired(record, today))

    @property
    def awaiting(self) -> bool:
        return self.status == "awaiting"

    @property
    def title(self) -> str:
        return self.record.full_number or self.record.quote_number or self.record.id

    @property
    def url(self) -> str:
        return reverse("quote", args=[self.record.id])

    @property
    def stage_label(self) -> str:
        """The stage as the CRM labels it in the page's language."""
        return crm_stages.label(*crm_stages.QUOTE_STAGE, self.record.quote_stage)

    @property
    def badge(self) -> SafeString:
        if self.status:
            shown = cells.badge_html(BADGE_MODIFIER[self.status], SPEC.statuses[self.status])
        else:
            shown = cells.badge_html("", self.stage_label)
        if self.expired and self.status != "accepted":
            return format_html("{} {}", shown, cells.badge_html("muted", _("Expired")))
        return shown


def list_filters(site: SiteSettings, query: ListQuery, today: dt.date) -> Filters | None:
    stages = stages_for(query.status, site.quote_stages)
    if not stages:  # nothing staff let contacts see matches: no CRM call
        return None
    filters: list[Filter | DateFilter] = [Filter("quote_stage", list(stages))]
    if query.status == "awaiting" and query.crm_date_filter(SPEC) is None:
        # Awaiting means still valid, unless the visitor chose validity dates themselves.
        filters.append(still_valid(today))
    return tuple(filters)


def still_valid(today: dt.date) -> DateFilter:
    # after_date is strict: from yesterday on keeps today's in.
    return DateFilter("valid_until", DateOperator.AFTER_DATE, today - dt.timedelta(1))


def visible(site: SiteSettings, quote: Quote) -> bool:
    return not site.quote_stages or quote.quote_stage in site.quote_stages


def can_decide(site: SiteSettings, checked: CheckedRecord[Quote], today: dt.date) -> bool:
    """Staff let contacts decide, and this quote still waits for its answer."""
    return site.quotes_can_decide and quote_status(checked.record, today) == "awaiting"


async def detail_extra(gateway: Any, checked: CheckedRecord[Quote], site: SiteSettings) -> dict:
    # A decision claimed but not yet in the CRM (portal.quote_decisions) offers no second.
    deciding = can_decide(site, checked, today()) and not await is_decided(checked.record)
    return {"can_decide": deciding, "reason_max": REASON_MAX}


QUOTES = Section(
    key="quotes",
    one="quote",
    model=Quote,
    texts=Texts(
        title=_("Quotes"),
        caption=_("Your quotes"),
        search_hint=_("Number or subject"),
        all_records=_("All quotes"),
        record_title=_("Quote %(number)s"),
        no_match=_("No quotes match these filters"),
        no_match_hint=_("Try other words, another status or a wider date range."),
        show_all=_("Show all quotes"),
        empty=_("No quotes yet"),
        empty_hint=_(
            "Quotes we prepare for you appear here. Want one? Contact us and tell us what you need."
        ),
    ),
    list_fields=fields(
        "name prefix quote_number full_number"
        " quote_stage valid_until amount currency_id date_entered"
    ),
    spec=SPEC,
    columns=(
        Column(_("Number"), cells.title_link, sort="number"),
        Column(_("Subject"), cells.text("name"), sort="subject"),
        Column(_("Created"), cells.date("date_entered"), sort="created", css="date"),
        Column(_("Valid until"), cells.date("valid_until"), sort="valid", css="date"),
        Column(_("Stage"), cells.badge, sort="stage"),
        Column(_("Amount"), cells.money("amount"), sort="amount", css="num"),
    ),
    row=QuoteRow.of,
    list_filters=list_filters,
    visible=visible,
    tally=True,
    pdf="Quote",
    detail_extra=detail_extra,
)
