"""Record what contacts do in the portal, for staff to review in the admin.

    from portal.activity import record_activity, arecord_activity
    await arecord_activity(request, "pdf_download", contact_id=cid,
                           record_model="Invoice", record_id=invoice_id)

Only identifiers go in: never tokens, never e-mail bodies, never document contents.
Recording must never break the customer's request, so a database error is logged
(without the request's details) and swallowed.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpRequest

from portal.client_address import client_address
from portal.models import ActivityEvent, ActivityKind

logger = logging.getLogger(__name__)

USER_AGENT_MAX = ActivityEvent._meta.get_field("user_agent").max_length or 200
ID_MAX = 64


def _contact_id_from(request: HttpRequest | None) -> str:
    """The signed-in contact that the sign-in middleware attached to the request, if any."""
    contact = getattr(request, "contact", None)
    return str(getattr(contact, "contact_id", "") or "")


def build_event(
    request: HttpRequest | None,
    kind: str,
    *,
    contact_id: str | None = None,
    record_model: str = "",
    record_id: str = "",
    record_count: int | None = None,
) -> ActivityEvent:
    if kind not in ActivityKind.values:
        raise ValueError(f"unknown activity kind {kind!r}")
    user_agent = request.headers.get("User-Agent", "") if request is not None else ""
    return ActivityEvent(
        kind=kind,
        contact_id=(contact_id if contact_id is not None else _contact_id_from(request))[:ID_MAX],
        record_model=(record_model or "")[:ID_MAX],
        record_id=(record_id or "")[:ID_MAX],
        ip=client_address(request.META) if request is not None else None,
        user_agent=user_agent[:USER_AGENT_MAX],
        record_count=record_count,
    )


def record_activity(
    request: HttpRequest | None,
    kind: str,
    *,
    contact_id: str | None = None,
    record_model: str = "",
    record_id: str = "",
    record_count: int | None = None,
) -> ActivityEvent | None:
    event = build_event(
        request,
        kind,
        contact_id=contact_id,
        record_model=record_model,
        record_id=record_id,
        record_count=record_count,
    )
    try:
        event.save()
    except DatabaseError:
        logger.exception("could not record activity %s", kind)
        return None
    return event


async def arecord_activity(
    request: HttpRequest | None,
    kind: str,
    *,
    contact_id: str | None = None,
    record_model: str = "",
    record_id: str = "",
    record_count: int | None = None,
) -> ActivityEvent | None:
    event = build_event(
        request,
        kind,
        contact_id=contact_id,
        record_model=record_model,
        record_id=record_id,
        record_count=record_count,
    )
    try:
        await event.asave()
    except DatabaseError:
        logger.exception("could not record activity %s", kind)
        return None
    return event
