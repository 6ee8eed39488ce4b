"""What the customer pages need from the CRM, on top of the gateway's contact-facing API.

* `contact_gateway(request)`: a `ContactGateway` for the signed-in contact: their scope
  (contact and account ids), their tokens (rotations saved back into the session) and
  the page's language for PDFs and labels.
* `page_locale()`: the CRM's number/date/currency formats, cached (see portal.formatting),
  with the CRM's currencies so a record in another currency shows its own symbol.
* `decide_quote(...)`: accept or decline a quote the gateway has checked for this contact,
  with the gateway's typed writes (`set_quote_stage`, `add_note`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import replace

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation

from crm_gateway import (
    CheckedRecord,
    ContactCredential,
    ContactGateway,
    ContactScope,
    Currency,
    Locale,
    Quote,
    StaffGateway,
    TokenSet,
    errors,
)
from portal.formatting import CrmLocale, aget_crm_locale, currency_layout
from portal.signin.session import save_tokens

logger = logging.getLogger(__name__)


def _accept_language() -> str | None:
    return translation.get_language() or None


def contact_scope(request: HttpRequest) -> ContactScope:
    contact = request.contact  # type: ignore[attr-defined]
    credential = None
    tokens = contact.tokens or {}
    if tokens.get("access_token"):
        kind = str(tokens.get("kind") or "contact")

        async def rotated(new: TokenSet) -> None:
            await save_tokens(request, {**new.as_dict(), "kind": kind})

        credential = ContactCredential(TokenSet.from_dict(tokens), on_rotate=rotated)
    return ContactScope(
        contact_id=contact.contact_id,
        account_id=contact.account_id or None,
        credential=credential,
        accept_language=_accept_language(),
    )


def data_access_for(request: HttpRequest) -> str:
    contact = request.contact  # type: ignore[attr-defined]
    mode = getattr(contact, "data_access", "") or settings.ONECRM_DATA_ACCESS
    return mode if mode in {"contact_token", "portal_auth", "staff"} else "portal_auth"


def contact_gateway(request: HttpRequest) -> ContactGateway:
    return ContactGateway(contact_scope(request), data_access=data_access_for(request))


# --- Locale and currencies ---------------------------------------------------------------


async def _locale() -> Locale:
    return await StaffGateway().locale(accept_language=_accept_language())


async def _currencies() -> Mapping[str, Currency]:
    """The CRM's currencies by id and ISO code (metadata, read with the staff credential).

    Best effort: an installation that does not expose them shows amounts in other
    currencies with their ISO code or without a symbol, never with a wrong one.
    """
    try:
        crm_currencies = await StaffGateway().currencies()
    except errors.CrmError as exc:
        logger.info("CRM currencies unavailable: %s", type(exc).__name__)
        return {}
    found: dict[str, Currency] = {}
    for currency_id, currency in crm_currencies.items():
        found[currency_id] = currency
        if currency.iso4217:
            found[currency.iso4217] = currency
    return found


async def page_locale() -> CrmLocale:
    base = await aget_crm_locale(_locale, currencies=_currencies, language=_accept_language() or "")
    # Other currencies take the base currency's layout (places, symbol side, spacing).
    if base.currencies:
        layout = base.base_currency
        merged = {}
        for key, found in base.currencies.items():
            currency = currency_layout(found)
            merged[key] = (
                layout
                if currency.iso4217 == layout.iso4217
                else replace(
                    layout, iso4217=currency.iso4217, symbol=currency.symbol, name=currency.name
                )
            )
        return base.with_currencies(merged)
    return base


# --- Concurrency helpers -----------------------------------------------------------------


async def bounded_gather[T](coroutines: Iterable[Awaitable[T]], limit: int = 8) -> list[T | None]:
    """Run calls concurrently, at most `limit` at once; a failed call gives None."""
    semaphore = asyncio.Semaphore(limit)

    async def one(coroutine: Awaitable[T]) -> T | None:
        async with semaphore:
            try:
                return await coroutine
            except errors.CrmError as exc:
                logger.info("optional CRM call failed: %s", type(exc).__name__)
                return None

    return list(await asyncio.gather(*(one(c) for c in coroutines)))


# --- Quote decisions ---------------------------------------------------------------------


async def decide_quote(
    gateway: ContactGateway,
    quote: CheckedRecord[Quote],
    *,
    stage: str,
    who: str,
    decision: str,
    reason: str = "",
) -> None:
    """Set the quote's stage and leave a note on it saying who decided, when and why."""
    if not isinstance(quote, CheckedRecord) or not quote.belongs_to(gateway.scope):
        raise errors.NotAllowed("only a quote checked for this contact")
    await gateway.set_quote_stage(quote, stage)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    number = quote.record.full_number or quote.record.name or quote.id
    lines = [f"{decision} in the customer portal by {who} at {when} UTC."]
    if reason:
        lines.append(f"Reason: {reason}")
    try:
        await gateway.add_note(
            quote,
            name=f"Quote {number} {decision.lower()} in the portal",
            description="\n".join(lines),
        )
    except errors.CrmError as exc:
        # The decision itself is recorded (stage + the portal's activity log).
        logger.warning("could not add the decision note to a quote: %s", type(exc).__name__)
