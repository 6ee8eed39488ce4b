"""A change made by staff reaches every portal process within seconds, without restart.

Each portal process has its own cache client; they share one cache (Redis in
production). Two cache aliases pointing at the same store stand for two processes.
"""

import socket

import pytest
from django.core.cache import caches

from portal.models import PortalSettings
from portal.site_settings import aget_portal_settings, get_portal_settings
from tests.conftest import missing
from tests.services import SETTINGS_CACHE, redis_test_url

pytestmark = pytest.mark.django_db

REDIS_URL = redis_test_url(SETTINGS_CACHE)


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(params=["locmem", pytest.param("redis", marks=pytest.mark.services)])
def two_processes(request, settings):
    if request.param == "redis":
        if not redis_reachable():
            missing("Redis is not reachable on 127.0.0.1:6379")
        backend = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "portal-tests",
        }
    else:
        # Local-memory caches with one LOCATION share their store inside this process.
        backend = {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "portal-shared-settings",
        }
    settings.CACHES = {"default": dict(backend), "other_process": dict(backend)}
    caches["default"].clear()
    assert caches["default"] is not caches["other_process"]
    yield "default", "other_process"
    caches["default"].clear()


def test_a_saved_change_is_seen_by_another_process_without_a_database_read(
    two_processes, django_capture_on_commit_callbacks, django_assert_num_queries
):
    this_process, other_process = two_processes
    assert get_portal_settings(this_process).portal_name == "Customer portal"
    # The other process reads the same snapshot from the shared cache.
    with django_assert_num_queries(0):
        assert get_portal_settings(other_process).portal_name == "Customer portal"

    with django_capture_on_commit_callbacks(execute=True):
        row = PortalSettings.objects.get(pk=1)
        row.portal_name = "Acme portal"
        row.page_size = 42
        row.save()

    with django_assert_num_queries(0):
        seen = get_portal_settings(other_process)
    assert (seen.portal_name, seen.page_size, seen.revision) == ("Acme portal", 42, row.revision)


def test_async_reader_sees_the_change_too(two_processes, django_capture_on_commit_callbacks):
    # Driven from a sync test: an async test's database writes would escape the test's
    # transaction (they run on another thread's connection).
    from asgiref.sync import async_to_sync

    _this_process, other_process = two_processes
    assert async_to_sync(aget_portal_settings)(other_process).section_quotes is True
    with django_capture_on_commit_callbacks(execute=True):
        row = PortalSettings.objects.get(pk=1)
        row.section_quotes = False
        row.save()
    assert async_to_sync(aget_portal_settings)(other_process).section_quotes is False


def test_a_rolled_back_change_is_never_published(two_processes):
    from django.db import transaction

    this_process, other_process = two_processes
    get_portal_settings(this_process)
    with pytest.raises(RuntimeError), transaction.atomic():
        row = PortalSettings.objects.get(pk=1)
        row.portal_name = "Never saved"
        row.save()
        raise RuntimeError("abort")
    assert get_portal_settings(other_process).portal_name == "Customer portal"


def test_a_reader_that_missed_the_cache_never_overwrites_a_newer_snapshot(
    two_processes, django_capture_on_commit_callbacks, monkeypatch
):
    """One process misses the cache and reads the row; before it caches what it read,
    staff save a change in another process, whose snapshot is written on commit. The
    old row must not overwrite it (it would be served for CACHE_SECONDS)."""
    from portal import site_settings

    this_process, other_process = two_processes
    read_row = site_settings.load_settings_row

    def read_then_staff_save() -> PortalSettings:
        row = read_row()  # the settings as they were
        with django_capture_on_commit_callbacks(execute=True):
            newer = PortalSettings.objects.get(pk=1)
            newer.portal_name = "Acme portal"
            newer.save()  # publishes the new snapshot once committed
        return row

    monkeypatch.setattr(site_settings, "load_settings_row", read_then_staff_save)
    assert get_portal_settings(other_process).portal_name == "Customer portal"  # what it read
    monkeypatch.undo()
    assert get_portal_settings(this_process).portal_name == "Acme portal"
