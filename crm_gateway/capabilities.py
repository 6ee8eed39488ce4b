"""What this CRM installation offers, learned by asking it rather than assumed.

Installations differ (edition, version, admin settings, custom fields): before relying
on something the reference does not state, the gateway asks (`/meta/fields/{model}`
lists a model's filters) or reads the answer of a first attempt (a 400, 403 or 404 on an
optional call means "not here"). What it learns is kept per process and in the shared
cache (every worker learns it once), for CAPABILITY_TTL seconds, under a key of this
CRM's URL, so pointing the portal at another CRM starts afresh.

Each fallback the gateway takes is noted (`note_fallback`), so Test connection and
`portal_check` can say why a page is slower or what to enable in the CRM. Several
processes serve one site, and the one that answers Test connection may not be the one
whose page took a fallback: the register is shared through the cache too (per CRM, for
CAPABILITY_TTL, so a fallback no longer taken drops out within the hour).
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.cache import cache

from crm_gateway import errors
from crm_gateway.credentials import staff_credential
from crm_gateway.models import ModelFields
from crm_gateway.query import MULTI_SEPARATOR, check_name
from crm_gateway.replies import records_of
from crm_gateway.rest import api_path, call_json

CAPABILITY_TTL = 3600  # seconds: an administrator's change is seen within the hour
NOTHING_LEARNED_TTL = 60
# "Not here": the CRM answered, and the answer was no.
NOT_HERE = (errors.BadRequest, errors.Forbidden, errors.NotFound)

_clock = time.monotonic
_wall_clock = time.time
_process: dict[str, tuple[float, Any]] = {}
# Fallbacks this process noted: (CRM, name) -> (reason, when it last shared the note).
_fallbacks: dict[tuple[str, str], tuple[str, float]] = {}
# How often a process writes a fallback it keeps taking into the shared register again
# (another process's write may have replaced the register without it meanwhile).
FALLBACK_RESHARE = 300


def _key(name: str) -> str:
    crm = hashlib.sha256(str(settings.ONECRM_API_URL).encode()).hexdigest()[:16]
    return f"crm-capability:{crm}:{name}"


async def recall(name: str) -> Any:
    """What was learned under `name` for this CRM, or None."""
    key = _key(name)
    found = _process.get(key)
    if found is not None and found[0] > _clock():
        return found[1]
    shared = await cache.aget(key)
    if shared is not None:
        _process[key] = (_clock() + CAPABILITY_TTL, shared)
    else:
        # Nothing learned yet (most often: nothing to learn, such as no refused way to
        # the documents): not asked of the shared cache on every page, only once a
        # minute; what another process learns meanwhile costs this one a call at most.
        _process[key] = (_clock() + NOTHING_LEARNED_TTL, None)
    return shared


def recall_here(name: str) -> Any:
    """What this process learned under `name` (no cache read: for code that cannot
    wait; the page read it with `recall` first)."""
    found = _process.get(_key(name))
    return found[1] if found is not None and found[0] > _clock() else None


async def remember(name: str, value: Any) -> None:
    """Keep `value` (plain data, never None) for this CRM, here and in the shared cache."""
    key = _key(name)
    _process[key] = (_clock() + CAPABILITY_TTL, value)
    await cache.aset(key, value, timeout=CAPABILITY_TTL)


def forget() -> None:
    """This process's memory (tests; the shared cache is cleared with the cache)."""
    _process.clear()
    _fallbacks.clear()


async def model_filters(model: str) -> frozenset[str] | None:
    """The list filters `/meta/fields/{model}` offers, or None when the CRM will not say."""
    check_name(model, "model name")
    name = f"filters:{model}"
    known = await recall(name)
    if known is None:
        try:
            reply = await call_json(
                "GET", api_path("meta", "fields", model), credential=staff_credential()
            )
        except NOT_HERE:
            known = {"answered": False, "filters": []}
        else:
            filters = sorted(ModelFields.from_json(reply).filters)
            known = {"answered": True, "filters": filters}
        await remember(name, known)
    return frozenset(known["filters"]) if known["answered"] else None


async def _count(model: str, name: str, value: str) -> int:
    path = api_path("data", model)
    params = [("fields[]", "id"), (f"filters[{name}]", value), ("limit", "1")]
    reply = await call_json("GET", path, credential=staff_credential(), params=params)
    return records_of(reply, path)[1]


async def joined_values_work(
    model: str,
    name: str,
    values: Sequence[str],
    count: Callable[[str], Awaitable[int]] | None = None,
) -> bool | None:
    """Whether the CRM reads `filters[name]=a^,^b` as "any of a, b" (the reference does
    not say; a CRM may take the value literally and match nothing).

    Asked once per CRM, filter and TTL: the count for one value `v` against the count
    for `v^,^v` (limit 1: only the totals are read). `count` makes that call: a contact's
    page counts within the contact's scope, with its credential; staff tools (the
    default) with the staff credential. None when no record counted has any of
    `values`, so nothing can be learned (and the answer to "any of these" is then empty
    whichever way the CRM reads it).
    """
    count = count or functools.partial(_count, model, name)
    check_name(model, "model name")
    check_name(name, "filter name")
    known = await recall(f"joined-values:{model}:{name}")
    if known is None:
        for value in values:
            try:
                alone = await count(value)
                if not alone:
                    continue
                joined = await count(MULTI_SEPARATOR.join((value, value)))
            except NOT_HERE:
                alone, joined = 1, 0  # refused: do not rely on it
            known = joined == alone
            await remember(f"joined-values:{model}:{name}", known)
            break
        else:
            return None
    if not known:
        await note_fallback(
            f"several values: {model}.{name}",
            "the CRM takes a^,^b literally: the portal reads the list in pages of 200 "
            "and filters it itself",
        )
    return bool(known)


async def note_fallback(name: str, reason: str) -> None:
    """Say that the gateway takes a fallback, and why: in this process, and in the
    shared register (at most every FALLBACK_RESHARE seconds per name and process)."""
    now = _clock()
    key = _key("fallbacks")
    noted = _fallbacks.get((key, name))
    if noted is not None and now - noted[1] < FALLBACK_RESHARE:
        return
    _fallbacks[(key, name)] = (reason, now)
    shared = await cache.aget(key)
    wall = _wall_clock()
    register = {  # name -> (reason, when noted, wall-clock seconds: shared by processes)
        k: v
        for k, v in (shared if isinstance(shared, dict) else {}).items()
        if isinstance(v, tuple | list) and len(v) == 2 and wall - v[1] < CAPABILITY_TTL
    }
    register[name] = (reason, wall)
    await cache.aset(key, register, timeout=CAPABILITY_TTL)


async def fallbacks_in_use() -> dict[str, str]:
    """The fallbacks any process serving this site took within CAPABILITY_TTL, by
    name, with the reason (for staff tools)."""
    key = _key("fallbacks")
    shared = await cache.aget(key)
    now = _clock()
    found = {
        name: reason
        for (crm, name), (reason, noted) in _fallbacks.items()
        if crm == key and now - noted < CAPABILITY_TTL
    }
    wall = _wall_clock()
    for name, entry in (shared if isinstance(shared, dict) else {}).items():
        if isinstance(entry, tuple | list) and len(entry) == 2 and wall - entry[1] < CAPABILITY_TTL:
            found[str(name)] = str(entry[0])
    return dict(sorted(found.items()))


# Credential kinds documents are listed with (crm_gateway.credentials).
_DOCUMENT_READERS = ("contact", "portal", "staff")
# Links of checked records a contact's page reads (ContactGateway.related).
_LINKS = ("Invoice.payments", "Invoice.notes", "Quote.invoices", "Payment.invoices")
_JOINED = {
    True: "a^,^b is read as 'any of a, b'",
    False: "a^,^b is taken literally: the portal reads the list and filters it itself",
    None: "not known yet: no record has these values",
}


async def survey(values: Mapping[tuple[str, str], Sequence[str]]) -> list[tuple[str, str]]:
    """What this CRM offers of what the portal relies on without the reference saying
    so, as (what, finding) lines for Test connection and `portal_check`. Asking notes
    the fallbacks the answers lead to (`fallbacks_in_use`).

    `values`: for each (model, filter) the portal gives several values, the values it
    sends (the stages staff let contacts see).
    """
    found: list[tuple[str, str]] = []
    try:
        for model in ("Invoice", "Quote", "Document"):
            filters = await model_filters(model)
            text = ", ".join(sorted(filters)) if filters is not None else "not said"
            found.append((f"{model} list filters", text or "none"))
        for (model, name), sent in values.items():
            if len(sent) > 1:
                works = await joined_values_work(model, name, sent)
                found.append((f"several values for {model}.{name}", _JOINED[works]))
    except errors.CrmError as error:
        found.append(("could not ask further", f"{type(error).__name__} {error.path}"))
    for kind in _DOCUMENT_READERS:
        refused = await recall(f"documents-refused:{kind}")
        if refused:
            found.append(
                (f"documents with the {kind} credential", f"refused: {', '.join(refused)}")
            )
        links = [way for way in _LINKS if await recall(f"link-refused:{kind}:{way}")]
        if await recall(f"case-notes-refused:{kind}"):
            links.append("aCase.notes")
        if links:
            found.append(
                (
                    f"links with the {kind} credential",
                    f"refused: {', '.join(links)} (read with the staff credential)",
                )
            )
        if await recall(f"document-links-refused:{kind}"):
            found.append(
                (
                    f"document links with the {kind} credential",
                    "refused: Document.accounts, Document.contacts (a document is looked "
                    "up among the contact's documents)",
                )
            )
    return found
