"""Rate limits count in the shared cache, so they hold across portal processes."""

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from portal.signin import ratelimit
from tests.conftest import missing
from tests.services import RATE_LIMITS, redis_test_url

LIMIT = ratelimit.Limit("test-limit", 3, 60)


@pytest.fixture(autouse=True)
def clear_cache():
    caches["default"].clear()


async def test_allows_up_to_the_limit_then_refuses():
    results = [await ratelimit.allow(LIMIT, "203.0.113.7") for _ in range(5)]
    assert results == [True, True, True, False, False]


async def test_subjects_are_counted_separately_and_case_insensitively():
    for _ in range(3):
        assert await ratelimit.allow(LIMIT, "Someone@Example.com")
    assert not await ratelimit.allow(LIMIT, "someone@example.com")
    assert await ratelimit.allow(LIMIT, "other@example.com")


async def test_cache_keys_do_not_hold_the_address_in_clear():
    key = ratelimit._key(LIMIT, "someone@example.com")
    assert "someone" not in key and "example" not in key


async def test_two_processes_sharing_redis_share_one_count(monkeypatch):
    """Two independent cache clients (as two portal processes have) on one Redis."""
    location = redis_test_url(RATE_LIMITS)
    first = RedisCache(location, {"KEY_PREFIX": "ratelimit-test"})
    second = RedisCache(location, {"KEY_PREFIX": "ratelimit-test"})
    try:
        first.clear()
    except Exception as error:
        missing(f"Redis is not reachable at {location}: {error}")
    counts = []
    for index in range(5):
        monkeypatch.setattr(ratelimit, "cache", first if index % 2 == 0 else second)
        counts.append(await ratelimit.allow(LIMIT, "198.51.100.1"))
    assert counts == [True, True, True, False, False]
    first.clear()
