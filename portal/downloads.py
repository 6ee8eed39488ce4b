"""At most DOWNLOADS_PER_CONTACT downloads (files and PDFs) at once per contact.

    return await download_response(request, gateway.download(checked), filename=name)

Each download relays the CRM's bytes over a pooled CRM connection for as long as the
visitor reads: one contact opening a hundred slow downloads would hold the whole pool
and stop everyone's pages. So a download first takes one of the contact's slots, kept
in the shared cache (so the count holds across processes and hosts): slot keys
`downloads:<contact>:0..N-1`, each taken with an atomic `add` and freed when the relay
ends (`stream_response`'s `on_close`). A slot also expires on its own a little after
DOWNLOAD_MAX_SECONDS, the longest a relay may run, so a process that died mid-download
does not keep it. With every slot taken the answer is a friendly 429 with `Retry-After`.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from crm_gateway import CrmStream, ZipMember, stream_response, zip_response
from portal.activity import arecord_activity
from portal.client_address import client_address
from portal.errors import render_too_many_downloads

logger = logging.getLogger(__name__)

# A slot outlives the longest relay by this much before the cache drops it by itself.
SLOT_GRACE_SECONDS = 60


@dataclass(frozen=True)
class DownloadSlot:
    key: str
    token: str

    async def release(self) -> None:
        # Only our own claim: after an expiry the key may be another download's.
        if await cache.aget(self.key) == self.token:
            await cache.adelete(self.key)


def _slot_keys(contact_id: str) -> list[str]:
    digest = hashlib.sha256(contact_id.encode()).hexdigest()[:32]
    return [f"downloads:{digest}:{n}" for n in range(settings.DOWNLOADS_PER_CONTACT)]


async def take_slot(contact_id: str) -> DownloadSlot | None:
    """One of the contact's download slots, or None when all are in use."""
    token = secrets.token_hex(8)
    timeout = int(settings.DOWNLOAD_MAX_SECONDS) + SLOT_GRACE_SECONDS
    for key in _slot_keys(contact_id):
        if await cache.aadd(key, token, timeout=timeout):
            return DownloadSlot(key, token)
    return None


def _slot_owner(request: HttpRequest) -> str:
    contact = getattr(request, "contact", None)
    return contact.contact_id if contact else f"address:{client_address(request.META)}"


def _refused(request: HttpRequest) -> HttpResponseBase:
    logger.info(
        "download refused: the contact has %d downloads running", settings.DOWNLOADS_PER_CONTACT
    )
    return render_too_many_downloads(request)


async def download_response(
    request: HttpRequest,
    source: AbstractAsyncContextManager[CrmStream],
    *,
    filename: str = "",
    disposition: str = "attachment",
) -> HttpResponseBase:
    """The CRM's bytes as a streamed response within the contact's download slots (a
    visitor of a public knowledge base: within their address's)."""
    slot = await take_slot(_slot_owner(request))
    if slot is None:
        return _refused(request)
    return await stream_response(
        source, filename=filename, disposition=disposition, on_close=slot.release
    )


async def logged_download(
    request: HttpRequest,
    source: AbstractAsyncContextManager[CrmStream],
    *,
    filename: str,
    disposition: str = "attachment",
    kind: str | None,
    record_model: str,
    record_id: str,
) -> HttpResponseBase:
    """`download_response`, and an activity entry (`kind`) when the relay starts: every
    download of the portal goes through here, so none escapes the slots or the log."""
    response = await download_response(request, source, filename=filename, disposition=disposition)
    if response.streaming and kind is not None:
        await arecord_activity(request, kind, record_model=record_model, record_id=record_id)
    return response


async def logged_zip(
    request: HttpRequest,
    members: Sequence[ZipMember],
    *,
    filename: str,
    concurrency: int,
    kind: str,
    record_model: str,
) -> HttpResponseBase:
    """Many files as one streamed zip (crm_gateway.zip_response), within one of the
    contact's download slots like any download, and an activity entry with how many
    files it holds. Inside it, at most `concurrency` files are fetched at once."""
    slot = await take_slot(_slot_owner(request))
    if slot is None:
        return _refused(request)
    response = await zip_response(
        members, filename=filename, concurrency=concurrency, on_close=slot.release
    )
    await arecord_activity(request, kind, record_model=record_model, record_count=len(members))
    return response
