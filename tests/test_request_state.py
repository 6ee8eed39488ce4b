"""What a request prefetches (portal/request_state.py, portal/request_cache.py) and the
session engine reading from it (portal.sessions): a reader filling the cache after a miss
never overwrites what another process stored meanwhile.
(Round trips are counted in tests/pages/test_cache_trips.py.)"""

from __future__ import annotations

import pytest
from django.core.cache import caches

from portal import request_cache

pytestmark = pytest.mark.django_db(transaction=True)


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
