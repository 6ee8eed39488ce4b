"""The session engine: Django's cached_db sessions, read from the request's prefetch.

`SESSION_ENGINE = "portal.sessions"`. The same store, keys and values as
`django.contrib.sessions.backends.cached_db`; only an async read of a session the
request already fetched with its other cache entries (portal/request_cache.py) is not
asked of the cache a second time: neither when the prefetch found it, nor when it
found nothing (then the database answers, as cached_db does on a miss, and the cache
is filled again).

The prefetch reads the default cache: it stands for the session cache only while
`SESSION_CACHE_ALIAS` is the default one (`uses_request_cache`). A session this
request deletes (sign-out, a new key at sign-in) is dropped from the request's memo,
so nothing later in the request can read it back from there.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from django.core.cache import DEFAULT_CACHE_ALIAS

from portal import request_cache


def cache_key_for(session_key: str) -> str:
    """The cache key of a session, as the store computes it."""
    return SessionStore.cache_key_prefix + session_key


def uses_request_cache() -> bool:
    """Whether sessions live in the cache the request prefetches from (the default one).
    Another alias: the prefetch would read a cache the sessions are not in, and might
    find an old copy there."""
    return settings.SESSION_CACHE_ALIAS == DEFAULT_CACHE_ALIAS


class SessionStore(CachedDBStore):
    async def aload(self) -> dict[str, Any]:
        if not self.session_key or not uses_request_cache():
            return await super().aload()
        key = cache_key_for(self.session_key)
        known, data = request_cache.peek(key)
        if not known:
            return await super().aload()
        if isinstance(data, dict):
            return data
        # The prefetch found no session in the cache: asking it again would only repeat
        # the miss. The database, as cached_db does then, and the cache filled again.
        # (Django's db.SessionStore method, which django-stubs does not declare.)
        row = await self._aget_session_from_db()  # type: ignore[attr-defined]
        if row is None:
            return {}
        data = self.decode(row.session_data)
        # The default cache is the sessions' (uses_request_cache); the memo learns it too.
        expiry = await self.aget_expiry_age(expiry=row.expire_date)
        await request_cache.aset(key, data, expiry)
        return data

    def delete(self, session_key: str | None = None) -> None:
        super().delete(session_key)
        self._forget(session_key)

    async def adelete(self, session_key: str | None = None) -> None:
        await super().adelete(session_key)
        self._forget(session_key)

    def _forget(self, session_key: str | None) -> None:
        key = session_key or self.session_key
        if key:
            request_cache.forget(cache_key_for(key))
