"""What the customer pages need from the CRM, on top of the gateway's contact-facing API.

* `contact_gateway(request)`: a `ContactGateway` for the signed-in contact: their scope
  (contact and account ids), their tokens (rotations saved back into the session) and
  the page's language for PDFs and labels.
* `page_locale()`: the CRM's number/date/currency formats, cached (see portal.formatting),
  with the CRM's currencies so a record in another currency shows its own symbol.
* `decide_quote(...)`: accept or decline a quote the gateway has checked for this contact.
  The gateway has no write call yet, so this writes through `crm_gateway.rest` itself:
  with the contact's data credential where the CRM allows it, else (403) with the staff
  credential, which is safe because the quote passed the ownership check first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation

from crm_gateway import errors
from crm_gateway.credentials import (
    ContactCredential,
    TokenSet,
    staff_credential,
)
from crm_gateway.gateway import ContactGateway, meta_locale
from crm_gateway.models import Currency, Locale, Quote
from crm_gateway.rest import api_path, call_json
from crm_gateway.scope import CheckedRecord, ContactScope
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
    return await meta_locale(accept_language=_accept_language())


async def _currencies() -> Mapping[str, Currency]:
    """The CRM's currencies by id and ISO code (metadata, read with the staff credential).

    Best effort: an installation that does not expose them shows amounts in other
    currencies with their ISO code or without a symbol, never with a wrong one.
    """
    try:
        reply = await call_json(
            "GET",
            "/data/Currency",
            credential=staff_credential(),
            params=[
                *[("fields[]", name) for name in ("name", "iso4217", "symbol")],
                ("limit", "200"),
            ],
        )
    except errors.CrmError as exc:
        logger.info("CRM currencies unavailable: %s", type(exc).__name__)
        return {}
    found: dict[str, Currency] = {}
    records = reply.get("records")
    for data in records if isinstance(records, list) else []:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            continue
        currency = Currency.from_json(data)
        found[data["id"]] = currency
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


async def _write(
    gateway: ContactGateway, method: str, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Write with the contact's credential; if the CRM forbids it, with the staff one.

    Only called for a record the gateway checked for this contact (see decide_quote).
    """
    credential = gateway.data_credential()
    if credential.kind != "staff":
        try:
            return await call_json(method, path, credential=credential, json=body)
        except errors.Forbidden:
            logger.info("CRM refused a contact write to %s; using the portal's credential", path)
    return await call_json(method, path, credential=staff_credential(), json=body)


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
    scope = gateway.scope
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    await _write(
        gateway,
        "PATCH",
        api_path("data", "Quote", quote.id),
        {"data": {"quote_stage": stage}, "create": False},
    )
    number = quote.record.full_number or quote.record.name or quote.id
    lines = [f"{decision} in the customer portal by {who} at {when} UTC."]
    if reason:
        lines.append(f"Reason: {reason}")
    note = {
        "name": f"Quote {number} {decision.lower()} in the portal"[:250],
        "description": "\n".join(lines),
        "parent_type": "Quotes",
        "parent_id": quote.id,
        "contact_id": scope.contact_id,
        "account_id": scope.account_id or "",
        "portal_flag": True,
    }
    try:
        await _write(gateway, "POST", "/data/Note", {"data": note})
    except errors.CrmError as exc:
        # The decision itself is recorded (stage + the portal's activity log).
        logger.warning("could not add the decision note to a quote: %s", type(exc).__name__)
