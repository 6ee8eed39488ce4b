"""The hot-path fixes the benchmark asked for (docs/performance.md) keep their promises:
Django's middleware in one trip to a thread (not one per hook) and the views on the event
loop, static files still served, the Redis cache's async methods interoperating with its
sync ones, and the cached blocked check never stale after a save."""

from __future__ import annotations

import threading

import pytest
from asgiref import sync
from django.conf import settings
from django.contrib.sessions.backends.cached_db import SessionStore
from django.core.cache import caches

from portal import site_settings
from portal.models import ContactAccess
from tests.conftest import missing
from tests.services import SCALE_OUT, redis_test_url


@pytest.fixture
def thread_hops(monkeypatch):
    """Names of the functions sent to a worker thread (sync_to_async) while it is active."""
    names: list[str] = []
    original = sync.SyncToAsync.__init__

    def counting(self, func, *args, **kwargs):
        names.append(getattr(func, "__qualname__", repr(func)))
        original(self, func, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__init__", counting)
    return names


@pytest.mark.django_db
async def test_django_middleware_hooks_are_not_sent_to_threads_one_by_one(
    async_client, thread_hops
):
    """Without portal.middleware.sync_boundary, Django sends each request and response
    hook of its middleware to a thread on its own (about twenty trips a request). (The
    CSRF check, a view hook, is one trip of its own: Django adapts view hooks to the
    handler, once, when it loads the middleware.)"""
    response = await async_client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["X-Frame-Options"] == "DENY"  # the hooks did run
    assert "Content-Security-Policy" in response
    hooks = [
        name for name in thread_hops if name.endswith((".process_request", ".process_response"))
    ]
    assert hooks == []


@pytest.mark.django_db
async def test_a_changed_session_is_saved_off_the_event_loop(async_client, monkeypatch):
    """Saving a session is I/O: it runs in the middleware's thread, never on the loop."""
    saved_in: list[int] = []
    save = SessionStore.save

    def recording_save(self, *args, **kwargs):
        saved_in.append(threading.get_ident())
        return save(self, *args, **kwargs)

    monkeypatch.setattr(SessionStore, "save", recording_save)
    response = await async_client.get("/login/oauth/")  # stores the OAuth state
    assert response.status_code == 302
    assert response.cookies[settings.SESSION_COOKIE_NAME].value
    assert saved_in, "the session was not saved"
    assert threading.get_ident() not in saved_in


@pytest.mark.django_db
async def test_the_middleware_below_the_boundary_runs_on_the_event_loop(async_client, monkeypatch):
    """The portal's async middleware (and so the views) are back on the loop."""
    read_in: list[int] = []
    read = site_settings.aget_portal_settings

    async def recording_read(*args, **kwargs):
        read_in.append(threading.get_ident())
        return await read(*args, **kwargs)

    monkeypatch.setattr(site_settings, "aget_portal_settings", recording_read)
    response = await async_client.get("/login/")
    assert response.status_code == 200
    assert read_in and set(read_in) == {threading.get_ident()}


async def test_static_files_are_still_served(async_client):
    response = await async_client.get("/static/portal/pages.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)


@pytest.mark.django_db(transaction=True)
async def test_the_blocked_check_is_cached_and_a_save_refreshes_it():
    access = await ContactAccess.objects.acreate(contact_id="c-cached")
    assert await ContactAccess.objects.ais_blocked("c-cached") is False
    # Behind the cache's back (update() skips save()): the cached answer stands...
    await ContactAccess.objects.filter(pk=access.pk).aupdate(blocked=True)
    assert await ContactAccess.objects.ais_blocked("c-cached") is False
    # ...and a save, the way staff block someone, takes effect at once.
    await access.arefresh_from_db()
    await access.asave()
    assert await ContactAccess.objects.ais_blocked("c-cached") is True
    await access.adelete()
    assert await ContactAccess.objects.ais_blocked("c-cached") is False


async def test_async_redis_cache_reads_what_the_sync_side_wrote_and_back():
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        import redis

        from portal.cache import AsyncRedisCache

        try:
            redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
        except redis.ConnectionError:
            missing("Redis is not reachable on 127.0.0.1:6379")
        cache = AsyncRedisCache(redis_test_url(SCALE_OUT), {"KEY_PREFIX": "perf-test"})
    else:
        cache = caches["default"]
    await cache.aset("k", {"a": 1}, 30)
    assert cache.get("k") == {"a": 1}
    cache.set("s", [1], 30)
    assert await cache.aget("s") == [1]
    assert await cache.aadd("n", 1, 30) and not await cache.aadd("n", 1, 30)
    assert await cache.aincr("n") == 2
    with pytest.raises(ValueError):
        await cache.aincr("missing")
    assert await cache.aget_many(["k", "s", "x"]) == {"k": {"a": 1}, "s": [1]}
    assert await cache.adelete("k") and await cache.aget("k", "gone") == "gone"
    assert await cache.ahas_key("s") and await cache.atouch("s", 10)
    await cache.aset("z", 1, 0)  # a timeout of 0 deletes, as in Django
    assert await cache.aget("z") is None
    for key in ("s", "n"):
        cache.delete(key)
