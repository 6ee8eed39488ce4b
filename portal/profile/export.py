"""What the portal itself holds about a contact, as JSON (`/profile/activity.json`):
the activity log (sign-ins, downloads, decisions), the access record, the e-mail
changes asked for and which cases' replies they have seen. Never token hashes; customer
data itself lives in the CRM."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from portal.models import ActivityEvent, CaseSeen, ContactAccess, EmailChange

MAX_EVENTS = 10_000


def _when(value: Any) -> str | None:
    return value.isoformat() if value else None


async def portal_data(contact_id: str) -> dict[str, Any]:
    access = await ContactAccess.objects.filter(contact_id=contact_id).afirst()
    events = [
        {
            "at": _when(event.at),
            "kind": event.kind,
            "what": str(event.get_kind_display()),
            "record_model": event.record_model,
            "record_id": event.record_id,
            "record_count": event.record_count,  # a zip's files, a statement's items
            "ip": event.ip,
            "user_agent": event.user_agent,
        }
        async for event in ActivityEvent.objects.filter(contact_id=contact_id).order_by("-at")[
            :MAX_EVENTS
        ]
    ]
    changes = [
        {
            "requested_at": _when(change.created_at),
            "new_email": change.new_email,
            "confirmed_at": _when(change.used_at),
        }
        async for change in EmailChange.objects.filter(contact_id=contact_id)
    ]
    cases_seen = [
        {
            "case_id": seen.case_id,
            "staff_replies_seen_until": _when(seen.replies_seen_until),
            "staff_replies_seen_at_that_time": list(seen.replies_seen_ids or ()),
            "last_viewed": _when(seen.viewed_at),
        }
        async for seen in CaseSeen.objects.filter(contact_id=contact_id).order_by("case_id")
    ]
    return {
        "contact_id": contact_id,
        "exported_at": _when(timezone.now()),
        "access": {
            "last_sign_in": _when(access.last_sign_in) if access else None,
            "invited_at": _when(access.invited_at) if access else None,
            "blocked": bool(access and access.blocked),
        },
        "activity": events,
        "email_changes": changes,
        "cases_seen": cases_seen,
    }
