"""Support cases: the declaration, the row with its status, the case's conversation.

Open and closed are computed here, once, from the typed record and this CRM's own closed
statuses (`CaseStatuses`, learned by the gateway from `/meta/fields/aCase`); the
list shows open cases by default (`status=closed` and `status=all` on request, which also
ask the CRM with `view_closed=1`) and filters them locally from one page of 200, so it
works on a CRM whatever its own status filters accept and whether or not it lists closed
cases unasked. Status, priority and category labels come from `/meta/fields/aCase` in the
contact's language (cached: `case_choices`); a CRM that does not answer leaves the raw
values, and the form without the choices it cannot offer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from crm_gateway import (
    CASE_CLOSE_STATUS,
    CASE_REOPEN_STATUS,
    Case,
    CaseStatuses,
    CheckedRecord,
    ContactGateway,
    CrmError,
    FieldChoice,
    Note,
    field_choices,
)
from portal import request_cache
from portal.case_seen import Seen, is_new, mark_seen, seen_until
from portal.listing import ChoiceFilter, ListSpec, SortKey, StatusPlan
from portal.sections import cells
from portal.sections.declaration import Column, Section, Texts, fields
from portal.site_settings import SiteSettings

logger = logging.getLogger(__name__)

SUBJECT_MAX = 255
MESSAGE_MAX = 32_000
CHOICES_CACHE_SECONDS = 300

SPEC = ListSpec(
    sorts={
        "number": SortKey("case_number", _("Number"), "number"),
        "subject": SortKey("name", _("Subject")),
        "priority": SortKey("priority", _("Priority")),
        "opened": SortKey("date_entered", _("Opened"), "date"),
        "updated": SortKey("date_modified", _("Updated"), "date"),
    },
    default_sort="updated",
    default_dir="desc",
    statuses={"closed": _("Closed"), "all": _("Open and closed")},
    blank_status_label=_("Open"),
    date_field="date_entered",
    date_label=_("Opened"),
    choice_filters={"priority": ChoiceFilter("priority", _("Priority"))},
)


# --- Choices from /meta/fields/aCase -------------------------------------------------------


@dataclass(frozen=True)
class CaseChoices:
    """The CRM's statuses, priorities and categories, with labels in one language."""

    status: tuple[FieldChoice, ...] = ()
    priority: tuple[FieldChoice, ...] = ()
    category: tuple[FieldChoice, ...] = ()
    statuses: CaseStatuses = field(default_factory=CaseStatuses)  # which are closed

    def label(self, name: str, value: str | None) -> str:
        for choice in getattr(self, name):
            if choice.value == value:
                return choice.label
        return value or ""

    def values(self, name: str) -> set[str]:
        return {choice.value for choice in getattr(self, name)}


def case_choices_cache_key(language: str) -> str:
    return f"portal:case-choices:v2:{language or 'en'}"


async def case_choices(gateway: ContactGateway) -> CaseChoices:
    """Cached per language (metadata changes rarely); one CRM call when not cached.
    Read with the page's other cache entries (portal/request_state.py)."""
    key = case_choices_cache_key(get_language() or "")
    cached = await request_cache.aget(key)
    if isinstance(cached, CaseChoices):
        return cached
    try:
        meta, statuses = await asyncio.gather(gateway.case_choices(), gateway.case_statuses())
    except CrmError as exc:
        logger.warning("case choices unavailable from the CRM: %s", type(exc).__name__)
        return CaseChoices(statuses=CaseStatuses.of((), CASE_CLOSE_STATUS, CASE_REOPEN_STATUS))
    choices = CaseChoices(
        status=field_choices(meta, "status"),
        priority=field_choices(meta, "priority"),
        category=field_choices(meta, "category"),
        statuses=statuses,
    )
    await request_cache.aset(key, choices, CHOICES_CACHE_SECONDS)
    return choices


# --- Rows -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseRow:
    record: Case
    choices: CaseChoices = field(default_factory=CaseChoices)

    @classmethod
    def of(cls, record: Case, today: Any = None) -> CaseRow:
        return cls(record)

    @property
    def title(self) -> str:
        return self.record.case_number or self.record.id

    @property
    def url(self) -> str:
        return reverse("case", args=[self.record.id])

    @property
    def is_open(self) -> bool:
        return not self.choices.statuses.is_closed(self.record.status)

    @property
    def status_label(self) -> str:
        return self.choices.label("status", self.record.status)

    @property
    def priority_label(self) -> str:
        return self.choices.label("priority", self.record.priority)

    @property
    def category_label(self) -> str:
        return self.choices.label("category", self.record.category)

    @property
    def badge(self) -> SafeString:
        return cells.badge_html("open" if self.is_open else "closed", self.status_label)


async def rows_with_labels(
    gateway: ContactGateway, checked: list[CheckedRecord[Case]]
) -> list[Any]:
    choices = await case_choices(gateway)
    return [CaseRow(c.record, choices) for c in checked]


def _is_open(row: CaseRow) -> bool:
    return row.is_open


def _is_closed(row: CaseRow) -> bool:
    return not row.is_open


def status_plan(status: str, today: dt.date) -> StatusPlan:
    """Open (the default) or closed, kept locally: statuses differ per installation.
    Closed and all ask the CRM for closed cases (`view_closed`, the vendor portal's way:
    a CRM may list them only on request); open does not, and every view still filters
    here, so a CRM that ignores the parameter gives the same answer."""
    if status == "all":
        return StatusPlan(view_closed=True)
    if status == "closed":
        return StatusPlan((), _is_closed, "date_modified DESC", view_closed=True)
    return StatusPlan((), _is_open, "date_modified DESC")


# --- The conversation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """The case's description or one of its portal notes, as the conversation shows it."""

    id: str
    text: str
    when: dt.datetime | None
    from_customer: bool  # the contact or a colleague wrote it; else a staff reply
    mine: bool  # this contact wrote it
    attachment: str = ""  # the file's name
    attachment_url: str = ""
    new: bool = False  # a staff reply the contact had not seen before this page


_NO_DATE = dt.datetime.min.replace(tzinfo=dt.UTC)


def conversation_order(checked: CheckedRecord[Note]) -> tuple[dt.datetime, bool, str]:
    """Oldest first, and a total order among notes of the same moment that the CRM's
    answer does not decide: its dates have whole seconds, so a comment and its
    attachments (written one after the other, the text first) usually share one, and a
    CRM lists such ties in any order it likes. At one moment a message's text comes
    before the notes that only carry a file, as the portal writes them; the note id
    decides the rest (random, but the same on every page)."""
    note = checked.record
    only_a_file = bool(note.filename) and not note.description
    return (note.date_entered or _NO_DATE, only_a_file, checked.id)


def conversation(
    case: Case,
    notes: list[CheckedRecord[Note]],
    contact_id: str,
    seen: Seen | None = None,
) -> list[Message]:
    """The description first, then every portal note oldest first (`conversation_order`);
    a note with a contact is the customer's side (our reading: staff replies carry no
    contact id). Staff replies the contact had not seen (all of them when `seen` is None)
    are marked new."""
    messages = [
        Message(
            "description",
            case.description or "",
            case.date_entered,
            from_customer=True,
            mine=case.cust_contact_id == contact_id,
        )
    ]
    for checked in sorted(notes, key=conversation_order):
        note = checked.record
        text = note.description or ("" if note.filename else note.name or "")
        messages.append(
            Message(
                note.id,
                text,
                note.date_entered,
                from_customer=bool(note.contact_id),
                mine=note.contact_id == contact_id,
                attachment=note.filename or "",
                attachment_url=reverse("case-attachment", args=[case.id, note.id])
                if note.filename
                else "",
                new=is_new(checked, seen),
            )
        )
    return messages


def can_close(site: SiteSettings, row: CaseRow) -> bool:
    return site.cases_can_close and row.is_open and bool(row.choices.statuses.close_to)


def can_reopen(site: SiteSettings, row: CaseRow) -> bool:
    return site.cases_can_reopen and not row.is_open and bool(row.choices.statuses.reopen_to)


async def detail_extra(
    gateway: ContactGateway, checked: CheckedRecord[Case], site: SiteSettings
) -> dict[str, Any]:
    """The conversation (one call: the case's portal notes) and the row's labels."""
    from portal.views.case_forms import comment_form_context

    notes = await gateway.case_notes(checked)
    choices = await case_choices(gateway)
    case = checked.record
    row = CaseRow(case, choices)
    contact_id = gateway.scope.contact_id
    before = (await seen_until(contact_id, [case.id])).get(case.id)
    await mark_seen(contact_id, case.id, notes)
    return {
        "row": row,
        "messages_list": conversation(case, notes, contact_id, before),
        "can_close": can_close(site, row),
        "can_reopen": can_reopen(site, row),
        **comment_form_context(site),
    }


async def filter_options(gateway: ContactGateway) -> dict[str, list[tuple[str, str]]]:
    """The priorities the CRM offers, labelled in the contact's language (cached)."""
    choices = await case_choices(gateway)
    return {"priority": [(choice.value, choice.label) for choice in choices.priority]}


def subject(row: CaseRow, locale: Any) -> str:
    return format_html('<a href="{}">{}</a>', row.url, row.record.name or row.title)


def priority(row: CaseRow, locale: Any) -> str:
    return format_html("{}", row.priority_label)


CASES = Section(
    key="cases",
    one="case",
    model=Case,
    texts=Texts(
        title=_("Support cases"),
        caption=_("Your support cases"),
        search_hint=_("Subject or case number"),
        all_records=_("All cases"),
        record_title=_("Case %(number)s"),
        no_match=_("No cases match these filters"),
        no_match_hint=_("Try other words, closed cases or a wider date range."),
        show_all=_("Show open cases"),
        empty=_("No open cases"),
        empty_hint=_("Need help? Open a case and we will answer here."),
    ),
    list_fields=fields(
        "name case_number status priority category date_entered date_modified date_closed"
    ),
    spec=SPEC,
    columns=(
        Column(_("Number"), cells.title_link, sort="number"),
        Column(_("Subject"), subject, sort="subject"),
        Column(_("Status"), cells.badge),
        Column(_("Priority"), priority, sort="priority"),
        Column(_("Opened"), cells.date("date_entered"), sort="opened", css="date"),
        Column(_("Updated"), cells.date("date_modified"), sort="updated", css="date"),
    ),
    row=CaseRow.of,
    local_status=status_plan,
    rows_of=rows_with_labels,
    detail_extra=detail_extra,
    list_actions="portal/cases/list_actions.html",
    filter_options=filter_options,
)
