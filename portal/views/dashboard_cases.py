"""The dashboard's open cases box: how many cases are open, the latest of them, and which
have a staff reply the contact has not seen.

CRM calls: the contact's cases, one page of 200 newest first (open is computed here, as
on the cases list: statuses differ per installation), then the portal notes of the
latest `LATEST` open cases, concurrently, within what is left of the deadline (a case
whose replies could not be read shows without the mark): at most 1 + LATEST calls (the
case choices, which say which statuses are closed, come from the cache, else beside the
list). "Seen" is the portal's own
record (`CaseSeen`, per contact and case): the newest staff reply the case's page showed.
The count says "at least" when the contact has more than 200 cases and all 200 read were
open; unseen replies are looked for on the cases the box shows.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from crm_gateway import PAGE_LIMIT, Case, CheckedRecord, ContactGateway, Note, errors
from crm_gateway import ListQuery as CrmListQuery
from portal.case_seen import seen_until, unseen_replies
from portal.crm_data import contact_gateway
from portal.listing import ListQuery
from portal.sections.cases import CASES, CaseRow, case_choices

logger = logging.getLogger(__name__)

LATEST = 3
FIELDS = ("name", "case_number", "status", "priority", "date_entered", "date_modified")


@dataclass(frozen=True)
class OpenCase:
    row: CaseRow
    unseen: int  # staff replies newer than what the contact saw


async def _all_notes(
    gateway: ContactGateway, cases: list[CheckedRecord[Case]], budget: float
) -> list[list[CheckedRecord[Note]] | None]:
    """Each case's portal notes, concurrently, within what is left of the page's
    deadline; None for a case whose notes the CRM did not give (its replies unknown)."""
    if budget <= 0:
        return [None] * len(cases)
    calls = asyncio.gather(*(gateway.case_notes(case) for case in cases), return_exceptions=True)
    try:
        found = await asyncio.wait_for(calls, timeout=budget)
    except TimeoutError:
        logger.warning("the open cases box gave up on the cases' replies at the deadline")
        return [None] * len(cases)
    out: list[list[CheckedRecord[Note]] | None] = []
    for notes in found:
        if isinstance(notes, errors.ReauthenticationRequired):
            raise notes
        if isinstance(notes, errors.CrmError):
            logger.warning("a case's replies were not read for the box: %s", type(notes).__name__)
            out.append(None)
        elif isinstance(notes, BaseException):
            raise notes
        else:
            out.append(notes)
    return out


async def open_cases(request: HttpRequest) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    gateway = contact_gateway(request)
    choices, page = await asyncio.gather(
        case_choices(gateway),
        gateway.list_records(
            Case, CrmListQuery(fields=FIELDS, order="date_modified DESC", limit=PAGE_LIMIT)
        ),
    )
    rows = [(checked, CaseRow(checked.record, choices)) for checked in page.records]
    still_open = [(checked, row) for checked, row in rows if row.is_open]
    latest = still_open[:LATEST]
    # The replies are a detail of the box: the page never waits past its deadline for them.
    budget = float(settings.ONECRM_DEADLINE) - (loop.time() - started)
    notes = await _all_notes(gateway, [checked for checked, _row in latest], budget)
    contact_id = gateway.scope.contact_id
    seen = await seen_until(contact_id, [checked.id for checked, _row in latest])
    shown = [
        OpenCase(row, 0 if case_notes is None else unseen_replies(case_notes, seen.get(checked.id)))
        for (checked, row), case_notes in zip(latest, notes, strict=True)
    ]
    return {
        "open": len(still_open),
        "at_least": page.total > len(rows) and len(still_open) == len(rows),
        "latest": shown,
        "unseen": sum(case.unseen for case in shown),
        "unseen_cases": sum(1 for case in shown if case.unseen),
        "list_url": CASES.list_url(),
        "all_url": ListQuery(status="all").url(CASES.list_url(), CASES.spec),
    }
