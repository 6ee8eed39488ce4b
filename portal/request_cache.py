"""What every page reads from the cache, read in as few round trips as the keys allow.

A signed-in page used to make seven cache round trips one after the other (the settings
snapshot twice, the session, the contact's language, the blocked check, a CRM
capability, the CRM's locale: counted by tests/pages/test_cache_trips.py). Each is a
Redis round trip in production, and each costs CPU on the event loop. Here
`portal_settings_middleware` reads them with `get_many` at the start of the request:

1. what the request itself names: the settings snapshot and the session (the session
   cookie gives its key);
2. what the session names: the contact's language, the blocked check, and the CRM's
   locale in the language the page will most likely be in.

The keys of the second read are only known once the first answered (the contact id is
in the session, the language in the settings and the contact's choice), so a
signed-in page makes two round trips, an anonymous one a single one.

The values are kept for this request only (a context variable, reset when the
middleware returns) and only serve readers that go through `aget` here or the session
engine `portal.sessions`; anything written through `aset`/`forget` here updates the
memo, so a request never reads back an older value than it wrote; a reader that fills
the cache after a miss uses `aadd`, never overwriting a newer value. Another process's
write during the request is seen by the next request, as it was before (one read a
request).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from django.core.cache import cache
from django.core.cache.backends.base import DEFAULT_TIMEOUT

_ABSENT: Any = object()
_memo: ContextVar[dict[str, Any] | None] = ContextVar("portal_request_cache", default=None)


@contextlib.contextmanager
def request_memo() -> Iterator[None]:
    """Keep what `prefetch` reads until the block ends (one request)."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


async def prefetch(keys: Iterable[str]) -> dict[str, Any]:
    """Read `keys` in one round trip into this request's memo (absent keys noted too);
    the values found. Keys the memo already holds are not asked again."""
    memo = _memo.get()
    keys = list(dict.fromkeys(keys))  # read twice below: a generator would be spent
    wanted = [key for key in keys if memo is None or key not in memo]
    found = await cache.aget_many(wanted) if wanted else {}
    if memo is not None:
        for key in wanted:
            memo[key] = found.get(key, _ABSENT)
        return {key: memo[key] for key in keys if memo[key] is not _ABSENT}
    return found


def peek(key: str) -> tuple[bool, Any]:
    """(whether this request's memo knows `key`, its value or None if absent)."""
    memo = _memo.get()
    if memo is None or key not in memo:
        return False, None
    value = memo[key]
    return True, None if value is _ABSENT else value


async def aget(key: str, default: Any = None) -> Any:
    """`cache.aget`, answered from this request's memo when it holds the key."""
    known, value = peek(key)
    if known:
        return default if value is None else value
    return await cache.aget(key, default)


async def aset(key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT) -> None:  # noqa: ASYNC109
    await cache.aset(key, value, timeout)
    note(key, value)


async def aadd(key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT) -> bool:  # noqa: ASYNC109
    """`cache.aadd`, for a reader filling the cache after a miss: what it read from the
    database may be older than what a writer in another process stored meanwhile, which
    must win. Later reads here see `value` only if it was stored; else they ask."""
    added = bool(await cache.aadd(key, value, timeout))
    if added:
        note(key, value)
    else:
        forget(key)
    return added


def note(key: str, value: Any) -> None:
    """The request wrote `key` (or learned its value): later reads here see it."""
    memo = _memo.get()
    if memo is not None:
        memo[key] = value


def forget(key: str) -> None:
    """The request changed `key` behind the memo: later reads here ask the cache."""
    memo = _memo.get()
    if memo is not None:
        memo.pop(key, None)
