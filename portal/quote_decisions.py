"""A contact's decision on a quote: its reason bounded, and the decision made once.

    reason, problem = read_reason(request.POST, required=not accept)
    if await decide_once(gateway, checked, accept=True, stage=..., contact=..., reason=reason):
        ...  # written to the CRM
    else:
        ...  # someone decided this quote first

An accept and a decline sent at the same moment both pass the "awaiting" check (both read
the quote before either writes it). So before the CRM is written, the decision is claimed
in the portal's database: one row per quote version, under a unique constraint, inserted
race-safe (`get_or_create`: an atomic insert, the loser's IntegrityError read back as the
winner's row) on SQLite and PostgreSQL, across processes. Only the request that inserted
the row writes the CRM; if that write fails, the row is deleted again so the contact can
retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from crm_gateway import CheckedRecord, ContactGateway, Quote
from portal.crm_data import decide_quote
from portal.models import QuoteDecision
from portal.signin.session import SignedInContact

# The longest reason a contact may give, accepting or declining (the forms' maxlength too).
REASON_MAX = 2000

# Writes still running for a request that was cancelled (asyncio keeps only weak refs).
_writes: set[asyncio.Future[None]] = set()


def read_reason(form: Mapping[str, Any], *, required: bool) -> tuple[str, str]:
    """(the reason as written to the CRM, the problem to show, or "").

    Whitespace runs collapse to one space before counting, so a browser's maxlength
    (which counts a line break as one character) never lets through more than this
    refuses."""
    reason = " ".join(str(form.get("reason", "")).split())
    if len(reason) > REASON_MAX:
        return "", _("Please shorten your reason to at most %(max)d characters.") % {
            "max": REASON_MAX
        }
    if required and not reason:
        return "", _("Please tell us why you decline (at most %(max)d characters).") % {
            "max": REASON_MAX
        }
    return reason, ""


def _version(quote: Quote) -> str:
    return quote.date_modified.isoformat() if quote.date_modified else ""


async def is_decided(quote: Quote) -> bool:
    """Whether a decision on this version of the quote is claimed (perhaps still being
    written to the CRM, which then still shows the quote as awaiting)."""
    return await QuoteDecision.objects.filter(
        quote_id=quote.id, quote_modified=_version(quote)
    ).aexists()


async def decide_once(
    gateway: ContactGateway,
    quote: CheckedRecord[Quote],
    *,
    accept: bool,
    stage: str,
    contact: SignedInContact,
    reason: str,
) -> bool:
    """Claim the decision (accept or not; `stage` is the quote's stage after it), then
    write it to the CRM; False if it was already claimed.

    A failed CRM write releases the claim and re-raises (the view's error page offers a
    retry); the write runs to its end even if the request is cancelled meanwhile."""
    claim, claimed = await QuoteDecision.objects.aget_or_create(
        quote_id=quote.id,
        quote_modified=_version(quote.record),
        defaults={"accepted": accept, "contact_id": contact.contact_id},
    )
    if not claimed:
        return False

    async def write_or_release() -> None:
        try:
            await decide_quote(
                gateway,
                quote,
                stage=stage,
                who=f"{contact.name} <{contact.email}>" if contact.email else contact.name,
                decision="Accepted" if accept else "Declined",
                reason=reason,
            )
        except BaseException:
            await QuoteDecision.objects.filter(pk=claim.pk).adelete()
            raise

    # Shielded: a visitor who goes away mid-write (the request is cancelled) must not
    # leave a write that landed without its claim, or a claim without its write.
    writing = asyncio.ensure_future(write_or_release())
    _writes.add(writing)
    writing.add_done_callback(_writes.discard)
    await asyncio.shield(writing)
    return True
