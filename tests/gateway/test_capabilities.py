"""What the gateway learns about the CRM: asked once, kept per process and in the shared
cache (with a TTL), keyed by the CRM, and "not here" for a refused optional call."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache

from crm_gateway import capabilities


def meta_calls(server, model: str) -> int:
    log = server.control("GET", "requests").json()["requests"]
    return sum(1 for entry in log if entry["path"] == f"/meta/fields/{model}")


@pytest.mark.django_db
def test_model_filters_are_asked_once_then_remembered(crm):
    filters = async_to_sync(capabilities.model_filters)("Document")
    assert filters is not None and {"account_id", "contact_id"} <= filters
    again = async_to_sync(capabilities.model_filters)("Document")
    assert again == filters and meta_calls(crm, "Document") == 1
    # Another worker (an empty process memory) finds it in the shared cache.
    capabilities.forget()
    async_to_sync(capabilities.model_filters)("Document")
    assert meta_calls(crm, "Document") == 1


@pytest.mark.django_db
def test_what_was_learned_is_kept_per_crm(crm, strict_crm, settings):
    settings.ONECRM_API_URL = crm.api_url
    async_to_sync(capabilities.model_filters)("Invoice")
    settings.ONECRM_API_URL = strict_crm.api_url
    async_to_sync(capabilities.model_filters)("Invoice")
    assert meta_calls(crm, "Invoice") == 1 and meta_calls(strict_crm, "Invoice") == 1


@pytest.mark.django_db
def test_a_refused_meta_call_means_the_crm_will_not_say(crm):
    crm.control(
        "POST", "faults", json={"path": "^/meta/fields/Quote$", "kind": "status", "status": 403}
    )
    assert async_to_sync(capabilities.model_filters)("Quote") is None
    assert async_to_sync(capabilities.model_filters)("Quote") is None
    assert meta_calls(crm, "Quote") == 1  # "not here" is remembered too


@pytest.mark.django_db
def test_what_was_learned_expires(crm, monkeypatch):
    timeouts = []
    shared_set = cache.aset

    async def recording_aset(key, value, timeout=None):
        if key.startswith("crm-capability:"):
            timeouts.append(timeout)
        await shared_set(key, value, timeout=timeout)

    monkeypatch.setattr(cache, "aset", recording_aset)
    async_to_sync(capabilities.model_filters)("Note")
    assert timeouts == [capabilities.CAPABILITY_TTL]  # the shared cache forgets it then
    # The process memory too: past the TTL, and with the shared entry gone, ask again.
    later = capabilities._clock() + capabilities.CAPABILITY_TTL + 1
    monkeypatch.setattr(capabilities, "_clock", lambda: later)
    cache.clear()
    async_to_sync(capabilities.model_filters)("Note")
    assert meta_calls(crm, "Note") == 2


def list_calls(server, model: str) -> int:
    log = server.control("GET", "requests").json()["requests"]
    return sum(1 for entry in log if entry["path"] == f"/data/{model}")


@pytest.mark.django_db
def test_joined_values_are_probed_once_per_crm(crm, strict_crm, settings):
    stages = ("Pending", "Shipped")
    settings.ONECRM_API_URL = crm.api_url
    assert async_to_sync(capabilities.joined_values_work)("Invoice", "shipping_stage", stages)
    assert async_to_sync(capabilities.fallbacks_in_use)() == {}
    settings.ONECRM_API_URL = strict_crm.api_url
    strict_crm.control("POST", "switches", json={"vocabulary": "demo"})
    assert not async_to_sync(capabilities.joined_values_work)("Invoice", "shipping_stage", stages)
    assert not async_to_sync(capabilities.joined_values_work)("Invoice", "shipping_stage", stages)
    assert list_calls(strict_crm, "Invoice") == 2  # `v` and `v^,^v`, once
    assert (
        "several values: Invoice.shipping_stage" in async_to_sync(capabilities.fallbacks_in_use)()
    )


@pytest.mark.django_db
def test_the_fallback_register_is_shared_by_the_processes_of_one_site(settings, monkeypatch):
    """Several processes serve one site: Test connection, answered by one of them, lists
    the fallbacks another one's pages took (through the shared cache), per CRM, and
    only for CAPABILITY_TTL."""
    settings.ONECRM_API_URL = "http://crm-a.invalid/api.php"
    note, in_use = (
        async_to_sync(capabilities.note_fallback),
        async_to_sync(capabilities.fallbacks_in_use),
    )
    note("documents (portal credential)", "read by account filter")
    capabilities.forget()  # another process: nothing in its own memory
    note("links (portal credential): Invoice.payments", "read with the staff credential")
    capabilities.forget()  # a third one answers Test connection
    assert in_use() == {
        "documents (portal credential)": "read by account filter",
        "links (portal credential): Invoice.payments": "read with the staff credential",
    }
    settings.ONECRM_API_URL = "http://crm-b.invalid/api.php"
    assert in_use() == {}  # another CRM's register
    settings.ONECRM_API_URL = "http://crm-a.invalid/api.php"
    # A fallback no longer taken drops out after CAPABILITY_TTL, in the shared register
    # (even while other fallbacks are noted again) and in a process's own memory.
    later = capabilities._wall_clock() + capabilities.CAPABILITY_TTL + 1
    monkeypatch.setattr(capabilities, "_wall_clock", lambda: later)
    note("vocabulary: Quote.quote_stage", "standard keys")
    capabilities.forget()
    assert in_use() == {"vocabulary: Quote.quote_stage": "standard keys"}
    note("vocabulary: Quote.quote_stage", "standard keys")
    monotonic_later = capabilities._clock() + capabilities.CAPABILITY_TTL + 1
    monkeypatch.setattr(capabilities, "_clock", lambda: monotonic_later)
    cache.clear()
    assert in_use() == {}


@pytest.mark.django_db
def test_values_no_record_has_teach_nothing(crm):
    works = async_to_sync(capabilities.joined_values_work)
    assert works("Invoice", "shipping_stage", ("No such stage", "Nor this")) is None
    assert works("Invoice", "shipping_stage", ("Pending",)) is True  # asked again
