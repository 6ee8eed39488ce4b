"""The session engine: Django's cached_db sessions, read from the request's prefetch.

`SESSION_ENGINE = "portal.sessions"`. The same store, keys and values as
`django.contrib.sessions.backends.cached_db`; only an async read of a session the
request already fetched with its other cache entries (portal/request_cache.py) is not
asked of the cache a second time.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore

from portal import request_cache


def cache_key_for(session_key: str) -> str:
    """The cache key of a session, as the store computes it."""
    return SessionStore.cache_key_prefix + session_key


class SessionStore(CachedDBStore):
    async def aload(self) -> dict[str, Any]:
        if self.session_key:
            known, data = request_cache.peek(cache_key_for(self.session_key))
            if known and isinstance(data, dict):
                return data
        return await super().aload()
