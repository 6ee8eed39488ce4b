"""A page's cache round trips, counted against the real cache (local memory here, Redis
in CI's second run): one per request in steady state, where there were six or seven
(docs/performance.md, "One cache round trip a request")."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import caches

from portal import request_state

# Every public method of Django's cache API, sync and async: each top-level call is one
# round trip to the cache server (get_many is one MGET on Redis).
METHODS = ("get", "set", "add", "delete", "touch", "incr", "decr", "get_many", "set_many",
           "delete_many", "has_key", "get_or_set", "clear")  # fmt: skip
_inside = contextvars.ContextVar("inside_a_cache_call", default=False)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cache_trips(monkeypatch) -> list[str]:
    """The cache calls made while the test runs ("aget_many [keys]"), not counting the
    calls a backend makes inside its own (Django's aget_many calls aget per key)."""
    trips: list[str] = []
    backend = type(caches["default"])

    def counted_sync(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(self, *args, **kwargs):
            if _inside.get():
                return original(self, *args, **kwargs)
            trips.append(f"{name} {args[:1]}")
            token = _inside.set(True)
            try:
                return original(self, *args, **kwargs)
            finally:
                _inside.reset(token)

        return counted

    def counted_async(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        async def counted(self, *args, **kwargs):
            if _inside.get():
                return await original(self, *args, **kwargs)
            trips.append(f"{name} {args[:1]}")
            token = _inside.set(True)
            try:
                return await original(self, *args, **kwargs)
            finally:
                _inside.reset(token)

        return counted

    for method in METHODS:
        monkeypatch.setattr(backend, method, counted_sync(method, getattr(backend, method)))
        name = "a" + method
        monkeypatch.setattr(backend, name, counted_async(name, getattr(backend, name)))
    return trips


async def _trips(client, trips: list[str], path: str) -> list[str]:
    trips.clear()
    response = await client.get(path)
    assert response.status_code == 200, path
    return list(trips)


async def test_a_signed_in_page_reads_the_cache_once(async_contact_client, cache_trips, demo):
    client = async_contact_client
    paths = ("/", "/invoices/", "/quotes/", "/documents/", "/cases/")
    for path in paths:  # settings, locale, tokens, what the CRM offers: learned once
        await _trips(client, cache_trips, path)
    for path in paths:
        trips = await _trips(client, cache_trips, path)
        assert len(trips) == 1 and trips[0].startswith("aget_many"), (path, trips)


async def test_a_session_new_to_the_process_reads_it_in_two(async_contact_client, cache_trips):
    """The contact's entries are keyed by the contact id inside the session: without
    the process's hint (another worker served the session so far) they come second."""
    client = async_contact_client
    await _trips(client, cache_trips, "/")
    request_state.forget_sessions()
    trips = await _trips(client, cache_trips, "/")
    assert [trip.split()[0] for trip in trips] == ["aget_many", "aget_many"], trips
    assert len(await _trips(client, cache_trips, "/")) == 1


async def test_an_anonymous_page_reads_the_cache_once(async_client, cache_trips):
    await _trips(async_client, cache_trips, "/login/")  # the settings snapshot cached
    trips = await _trips(async_client, cache_trips, "/login/")
    assert len(trips) == 1, trips


async def test_what_a_request_read_is_not_kept_for_the_next(async_contact_client, demo):
    """The memo lives for one request: a change between two requests is seen at once."""
    from portal.models import ContactAccess

    client = async_contact_client
    assert (await client.get("/")).status_code == 200
    access, _ = await ContactAccess.objects.aget_or_create(contact_id=demo.main.contact_id)
    access.blocked = True
    await access.asave()
    response = await client.get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]


async def test_a_session_the_cache_lost_is_read_from_the_database_not_asked_again(
    async_contact_client, cache_trips
):
    """Evicted (or a cache restarted): the prefetch found no session, so the engine reads
    the database and fills the cache again, without asking the cache a second time."""
    from django.conf import settings

    from portal.sessions import cache_key_for

    client = async_contact_client
    await _trips(client, cache_trips, "/")
    key = cache_key_for(client.cookies[settings.SESSION_COOKIE_NAME].value)
    await caches["default"].adelete(key)
    trips = await _trips(client, cache_trips, "/")  # still signed in: the database's copy
    about_the_session = [trip.split()[0] for trip in trips if key in trip]
    assert about_the_session == ["aget_many", "aset"], trips
    assert await caches["default"].aget(key), "the cache has the session again"
    assert len(await _trips(client, cache_trips, "/")) == 1
