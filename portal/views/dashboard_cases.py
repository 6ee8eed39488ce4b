"""The dashboard's open cases box: how many cases are open, the latest of them, and which
have a staff reply the contact has not seen.

CRM calls: the contact's cases, one page of 200 newest first (open is computed here, as
on the cases list: statuses differ per installation), then the portal notes of the
latest `LATEST` open cases, concurrently: at most 1 + LATEST calls (the case choices,
which say which statuses are closed, come from the cache). "Seen" is the portal's own
record (`CaseSeen`, per contact and case): the newest staff reply the case's page showed.
The count says "at least" when the contact has more than 200 cases and all 200 read were
open; unseen replies are looked for on the cases the box shows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from crm_gateway import PAGE_LIMIT, Case, CheckedRecord, ContactGateway, Note
from crm_gateway import ListQuery as CrmListQuery
from portal.case_seen import seen_until, unseen_replies
from portal.crm_data import contact_gateway
from portal.listing import ListQuery
from portal.sections.cases import CASES, CaseRow, case_choices

LATEST = 3
FIELDS = ("name", "case_number", "status", "priority", "date_entered", "date_modified")


@dataclass(frozen=True)
class OpenCase:
    row: CaseRow
    unseen: int  # staff replies newer than what the contact saw


async def _notes(gateway: ContactGateway, case: CheckedRecord[Case]) -> list[CheckedRecord[Note]]:
    return await gateway.case_notes(case)


async def open_cases(request: HttpRequest) -> dict[str, Any]:
    gateway = contact_gateway(request)
    choices = await case_choices(gateway)
    page = await gateway.list_records(
        Case, CrmListQuery(fields=FIELDS, order="date_modified DESC", limit=PAGE_LIMIT)
    )
    rows = [(checked, CaseRow(checked.record, choices)) for checked in page.records]
    still_open = [(checked, row) for checked, row in rows if row.is_open]
    latest = still_open[:LATEST]
    notes = await asyncio.gather(*(_notes(gateway, checked) for checked, _row in latest))
    contact_id = gateway.scope.contact_id
    seen = await seen_until(contact_id, [checked.id for checked, _row in latest])
    shown = [
        OpenCase(row, unseen_replies(case_notes, seen.get(checked.id)))
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
