"""Which staff replies on a case a contact has seen: the portal's own record (`CaseSeen`,
one row per contact and case), written when the case's page shows its conversation and
read by the dashboard's open cases box. Times are the CRM's (`date_entered` of the
newest staff reply shown), so the portal's clock never decides.

The CRM's timestamps have a resolution of one second, and staff can reply twice in
one second: a reply with the very timestamp of the newest one seen is new unless its
id is among those seen at that timestamp (`CaseSeen.replies_seen_ids`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from crm_gateway import CheckedRecord, Note
from portal.models import CaseSeen


@dataclass(frozen=True)
class Seen:
    """How far a contact has read a case: the newest staff reply shown (None: opened when
    it had none) and the ids of the replies shown with exactly that timestamp."""

    until: dt.datetime | None = None
    ids: frozenset[str] = frozenset()

    def is_new(self, note_id: str, written: dt.datetime | None) -> bool:
        """A staff reply written after what was seen. Opened when it had no staff reply:
        any reply there is now is new. One without a date is not new once a dated reply
        was seen: nothing places it after."""
        if self.until is None:
            return True
        if written is None:
            return False
        return written > self.until or (written == self.until and note_id not in self.ids)


def _staff(notes: list[CheckedRecord[Note]]) -> list[CheckedRecord[Note]]:
    """Staff replies: portal notes without a contact."""
    return [n for n in notes if not n.record.contact_id]


def is_new(checked: CheckedRecord[Note], seen: Seen | None) -> bool:
    """Whether a staff reply is new to a contact who has read the case this far."""
    if checked.record.contact_id:
        return False
    return seen is None or seen.is_new(checked.id, checked.record.date_entered)


def unseen_replies(notes: list[CheckedRecord[Note]], seen: Seen | None) -> int:
    """Staff replies newer than what was seen; all of them when the case was never seen."""
    return sum(1 for n in _staff(notes) if is_new(n, seen))


async def seen_until(contact_id: str, case_ids: list[str]) -> dict[str, Seen]:
    """For each case the contact has opened, how far they have read it. Cases never
    opened are left out."""
    rows = CaseSeen.objects.filter(contact_id=contact_id, case_id__in=case_ids)
    return {
        row.case_id: Seen(row.replies_seen_until, frozenset(row.replies_seen_ids or ()))
        async for row in rows
    }


async def mark_seen(contact_id: str, case_id: str, notes: list[CheckedRecord[Note]]) -> None:
    """The case's page showed these notes: its staff replies up to the newest are seen
    (never moved back: a reply the CRM no longer lists does not make older ones new)."""
    dated = [(n.record.date_entered, n.id) for n in _staff(notes) if n.record.date_entered]
    newest = max((when for when, _id in dated), default=None)
    at_newest = sorted(note_id for when, note_id in dated if when == newest)
    row, created = await CaseSeen.objects.aget_or_create(
        contact_id=contact_id,
        case_id=case_id,
        defaults={"replies_seen_until": newest, "replies_seen_ids": at_newest},
    )
    if created:
        return
    if newest is not None:
        if row.replies_seen_until is None or newest > row.replies_seen_until:
            row.replies_seen_until, row.replies_seen_ids = newest, at_newest
        elif newest == row.replies_seen_until:
            row.replies_seen_ids = sorted({*(row.replies_seen_ids or ()), *at_newest})
    await row.asave(update_fields=["replies_seen_until", "replies_seen_ids", "viewed_at"])
