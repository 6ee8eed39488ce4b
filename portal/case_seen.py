"""Which staff replies on a case a contact has seen: the portal's own record (`CaseSeen`,
one row per contact and case), written when the case's page shows its conversation and
read by the dashboard's open cases box. Times are the CRM's (`date_entered` of the
newest staff reply shown), so the portal's clock never decides."""

from __future__ import annotations

import datetime as dt

from crm_gateway import CheckedRecord, Note
from portal.models import CaseSeen


def _staff_times(notes: list[CheckedRecord[Note]]) -> list[dt.datetime]:
    """When each staff reply (a portal note without a contact) was written."""
    return [
        n.record.date_entered for n in notes if not n.record.contact_id and n.record.date_entered
    ]


def unseen_replies(notes: list[CheckedRecord[Note]], seen_until: dt.datetime | None) -> int:
    """Staff replies newer than `seen_until`; all of them when the case was never seen."""
    staff = [n for n in notes if not n.record.contact_id]
    if seen_until is None:
        return len(staff)
    return sum(1 for t in _staff_times(notes) if t > seen_until)


async def seen_until(contact_id: str, case_ids: list[str]) -> dict[str, dt.datetime | None]:
    """For each case the contact has opened: the newest staff reply they were shown
    (None: opened, when it had no staff reply yet). Cases never opened are left out."""
    rows = CaseSeen.objects.filter(contact_id=contact_id, case_id__in=case_ids)
    return {row.case_id: row.replies_seen_until async for row in rows}


async def mark_seen(contact_id: str, case_id: str, notes: list[CheckedRecord[Note]]) -> None:
    """The case's page showed these notes: its staff replies up to the newest are seen
    (never moved back: a reply the CRM no longer lists does not make older ones new)."""
    times = _staff_times(notes)
    newest = max(times) if times else None
    row, created = await CaseSeen.objects.aget_or_create(
        contact_id=contact_id, case_id=case_id, defaults={"replies_seen_until": newest}
    )
    if created:
        return
    if newest is not None and (row.replies_seen_until is None or newest > row.replies_seen_until):
        row.replies_seen_until = newest
    await row.asave(update_fields=["replies_seen_until", "viewed_at"])
