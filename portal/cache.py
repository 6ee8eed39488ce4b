"""Django's Redis cache, with async methods that await Redis instead of a thread, and
one connection pool per process instead of one per request.

Measured with `python -m bench` (docs/performance.md): Django's `RedisCache` implements
`aget`/`aset`/... as `sync_to_async(get)`, so each cache read of an async page (session,
settings snapshot, locale, tokens, rate limits) was a hop to a worker thread; and since
Django keeps one cache object per async context, every request built its own connection
pool and opened new connections to Redis. Here the sync methods share one client per
process, and the async methods use `redis.asyncio` with one pool per event loop (a
gunicorn worker runs one loop). Values are stored exactly as Django stores them (same
keys, same serializer), so both kinds of method, and other processes, read each other's
entries.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import weakref
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_sync_clients: dict[tuple[Any, ...], RedisCacheClient] = {}
_sync_lock = threading.Lock()


class AsyncRedisCache(RedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        # Django's own copies are private (and untyped); these are ours.
        self._server_urls: list[str] = (
            re.split("[;,]", server) if isinstance(server, str) else list(server)
        )
        self._client_options: dict[str, Any] = dict(params.get("OPTIONS", {}))
        self._identity = (tuple(self._server_urls), repr(sorted(self._client_options.items())))
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Any]] = (
            _async_clients.setdefault(self._identity, weakref.WeakKeyDictionary())
        )

    @property  # type: ignore[override]
    def _cache(self) -> RedisCacheClient:
        client = _sync_clients.get(self._identity)
        if client is None:
            with _sync_lock:
                client = _sync_clients.get(self._identity)
                if client is None:
                    client = _sync_clients[self._identity] = RedisCacheClient(
                        self._server_urls, **self._client_options
                    )
        return client

    def _aclient(self, write: bool = False) -> Any:
        import redis.asyncio

        loop = asyncio.get_running_loop()
        clients = self._async_clients.get(loop)
        if clients is None:
            clients = self._async_clients[loop] = [None] * len(self._server_urls)
        # Like Django: write to the first server, read from any other.
        index = (
            0
            if write or len(self._server_urls) == 1
            else random.randint(1, len(self._server_urls) - 1)
        )
        if clients[index] is None:
            clients[index] = redis.asyncio.Redis.from_url(self._server_urls[index])
        return clients[index]

    @property
    def _serializer(self) -> Any:
        return self._cache._serializer  # type: ignore[attr-defined]

    def _dumps(self, value: Any) -> Any:
        return self._serializer.dumps(value)

    def _loads(self, value: Any) -> Any:
        return self._serializer.loads(value)

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        value = await self._aclient().get(key)
        return default if value is None else self._loads(value)

    async def aset(
        self,
        key: Any,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,  # noqa: ASYNC109 (Django's cache API)
        version: int | None = None,
    ) -> None:
        key = self.make_and_validate_key(key, version=version)
        seconds = self.get_backend_timeout(timeout)
        client = self._aclient(write=True)
        if seconds == 0:
            await client.delete(key)
        else:
            await client.set(key, self._dumps(value), ex=seconds)

    async def aadd(
        self,
        key: Any,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,  # noqa: ASYNC109 (Django's cache API)
        version: int | None = None,
    ) -> bool:
        key = self.make_and_validate_key(key, version=version)
        seconds = self.get_backend_timeout(timeout)
        client = self._aclient(write=True)
        if seconds == 0:
            added = bool(await client.set(key, self._dumps(value), nx=True))
            if added:
                await client.delete(key)
            return added
        return bool(await client.set(key, self._dumps(value), ex=seconds, nx=True))

    async def atouch(
        self,
        key: Any,
        timeout: Any = DEFAULT_TIMEOUT,  # noqa: ASYNC109 (Django's cache API)
        version: int | None = None,
    ) -> bool:
        key = self.make_and_validate_key(key, version=version)
        seconds = self.get_backend_timeout(timeout)
        client = self._aclient(write=True)
        if seconds is None:
            return bool(await client.persist(key))
        return bool(await client.expire(key, seconds))

    async def adelete(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return bool(await self._aclient(write=True).delete(key))

    async def ahas_key(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return bool(await self._aclient().exists(key))

    async def aincr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        key = self.make_and_validate_key(key, version=version)
        client = self._aclient(write=True)
        if not await client.exists(key):
            raise ValueError(f"Key '{key}' not found.")
        return int(await client.incr(key, delta))

    async def aget_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        keys = list(keys)
        if not keys:
            return {}
        made = {self.make_and_validate_key(key, version=version): key for key in keys}
        values = await self._aclient().mget(list(made))
        return {
            made[key]: self._loads(value)
            for key, value in zip(made, values, strict=True)
            if value is not None
        }


_async_clients: dict[tuple[Any, ...], weakref.WeakKeyDictionary[Any, list[Any]]] = {}
