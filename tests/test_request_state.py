"""What a request prefetches (portal/request_state.py, portal/request_cache.py) and the
session engine reading from it (portal.sessions): signing in rotates the key and the old
one is dead, a session the request deleted is never read back from the memo, sessions
kept in a cache of their own are never read from the default one, and a reader filling
the cache after a miss never overwrites what another process stored meanwhile.
(Round trips are counted in tests/pages/test_cache_trips.py.)"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import AsyncRequestFactory

from portal import request_cache
from portal.request_state import forget_sessions, read_request_state
from portal.sessions import SessionStore, cache_key_for
from portal.signin.session import SESSION_KEY
from tests.signin.crm_signin import (
    authorize_at_crm,
    demo_contacts,
    query_of,
    register_test_redirect_uri,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def saved_session(contact_id: str) -> SessionStore:
    store = SessionStore()
    store[SESSION_KEY] = {"contact_id": contact_id}
    await store.asave()
    return store


async def test_signing_in_rotates_the_session_key_and_the_old_one_is_dead(async_client, crm):
    """Through the ASGI path (the prefetch and the memo): no session fixation."""
    register_test_redirect_uri(crm)
    contact = demo_contacts(crm)[0]
    started = await async_client.get("/login/oauth/", {"next": "/"})
    assert started.status_code == 302
    before = async_client.cookies[settings.SESSION_COOKIE_NAME].value
    assert (await SessionStore(before).aload()).get("portal_oauth_pending")

    crm_redirect = authorize_at_crm(started["Location"], contact.email)
    back = await async_client.get("/login/oauth/callback/", query_of(crm_redirect))
    assert back.status_code == 302
    after = async_client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before
    assert (await SessionStore(after).aload())[SESSION_KEY]["contact_id"] == contact.id
    # The key from before the sign-in holds nothing anywhere: not in the database, not
    # in the cache, and a browser still sending it is nobody.
    assert not await SessionStore().aexists(before)
    assert await caches["default"].aget(cache_key_for(before)) is None
    async_client.cookies[settings.SESSION_COOKIE_NAME] = before
    page = await async_client.get("/")
    assert page.status_code == 302 and page["Location"].startswith("/login/")


async def test_a_session_deleted_in_the_request_is_not_read_back_from_its_memo():
    store = await saved_session("c-1")
    key = store.session_key
    assert key
    with request_cache.request_memo():
        await request_cache.prefetch([cache_key_for(key)])
        assert (await SessionStore(key).aload())[SESSION_KEY] == {"contact_id": "c-1"}
        await SessionStore(key).aflush()  # signed out in this request
        assert await SessionStore(key).aload() == {}


async def test_sessions_in_a_cache_of_their_own_are_not_read_from_the_default_one(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "d"},
        "sessions": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "s"},
    }
    settings.SESSION_CACHE_ALIAS = "sessions"
    forget_sessions()
    store = await saved_session("c-1")  # in the database and the sessions' cache
    key = store.session_key
    assert key
    # An old copy in the default cache (from before the sessions got a cache of their own).
    await caches["default"].aset(cache_key_for(key), {SESSION_KEY: {"contact_id": "c-old"}})
    request = AsyncRequestFactory().get("/")
    request.COOKIES[settings.SESSION_COOKIE_NAME] = key
    with request_cache.request_memo():
        await read_request_state(request)
        assert (await SessionStore(key).aload())[SESSION_KEY] == {"contact_id": "c-1"}


async def test_prefetch_takes_any_iterable_of_keys():
    await caches["default"].aset("portal:test:one", 1)
    with request_cache.request_memo():
        found = await request_cache.prefetch(key for key in ("portal:test:one", "portal:test:two"))
        assert found == {"portal:test:one": 1}
        assert request_cache.peek("portal:test:two") == (True, None)


async def test_a_language_read_after_a_miss_never_overwrites_a_newer_choice(monkeypatch):
    """One request misses the contact's language in the cache and reads the database;
    before it caches what it read, the contact chooses French in another process. The
    old "no choice" must not be cached over French (it would stand for a day)."""
    from portal import languages
    from portal.models import ContactLanguage

    key = languages.cache_key("c-1")
    await caches["default"].adelete(key)

    class OtherProcessChoosesMeanwhile:
        def __init__(self, **lookup: str) -> None:
            self.lookup = lookup

        async def afirst(self) -> ContactLanguage | None:
            row = await ContactLanguage.objects.filter(**self.lookup).afirst()
            await ContactLanguage.objects.aupdate_or_create(
                contact_id="c-1", defaults={"language": "fr"}
            )
            await caches["default"].aset(key, "fr", languages.CACHE_SECONDS)
            return row

    class Racing:
        class objects:  # stands in for the model's manager
            filter = OtherProcessChoosesMeanwhile

    monkeypatch.setattr(languages, "ContactLanguage", Racing)
    with request_cache.request_memo():
        assert await languages.astored_choice("c-1") is None  # what it read
    monkeypatch.undo()
    assert await caches["default"].aget(key) == "fr"
    with request_cache.request_memo():
        assert await languages.astored_choice("c-1") == "fr"
