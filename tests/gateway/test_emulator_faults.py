"""Faults from the emulator as a real server: timeouts, resets, 5xx, 429, malformed replies,
broken downloads, and no pooled connection leaked by a consumer that goes away."""

from __future__ import annotations

import asyncio

import pytest

from crm_gateway import (
    BadReply,
    CrmConnectionError,
    CrmTimeout,
    Document,
    Invoice,
    ListQuery,
    RateLimited,
    ServerError,
    StaffGateway,
    StreamBroken,
    portal_token_credential,
    rest,
    stream_response,
)
from crm_gateway.client import get_http_client, use_transport
from crm_gateway.rest import call_json
from tests.gateway.conftest import LongestBackoff, every_record, logged
from tests.gateway.test_emulator_calls import gateway_for


def fault(crm, **spec) -> None:
    crm.control("POST", "faults", json=spec)


@pytest.fixture(autouse=True)
def hangs_end_with_the_test(crm):
    """The long stalls below end when the faults are cleared (docs/emulator.md)."""
    yield
    crm.control("DELETE", "faults")


@pytest.fixture
def fresh_pool():
    """A new pooled client for this test (limits are read when it is built)."""
    with use_transport(None):
        yield


async def test_timeout(crm, settings):
    # A 30 s hang against a 0.3 s read timeout, and a deadline past the hang: a timeout
    # can only be the read timeout's (had it not held, the answer would come at 30 s).
    settings.ONECRM_TIMEOUT = 0.3
    settings.ONECRM_DEADLINE = 60
    fault(crm, path="^/version$", kind="latency", ms=30_000, times=1)
    with pytest.raises(CrmTimeout):
        await StaffGateway().version()
    assert len(logged(crm, "/version")) == 1  # a read timeout is not retried


async def test_stalled_headers_bounded_by_deadline(crm, settings):
    # The read timeout (60 s) is past the stall (30 s): only the deadline can cut it.
    settings.ONECRM_DEADLINE = 0.5
    settings.ONECRM_TIMEOUT = 60
    fault(crm, path="^/version$", kind="stall_headers", ms=30_000, times=1)
    with pytest.raises(CrmTimeout):
        await StaffGateway().version()
    assert len(logged(crm, "/version")) == 1


async def test_connection_reset_retried_for_get(crm):
    fault(crm, path="^/version$", kind="reset", times=1)
    assert (await StaffGateway().version()).version
    assert len(logged(crm, "/version")) == 2


async def test_connection_reset_never_retried_for_post(crm, demo):
    await StaffGateway().grant_token()  # the staff token is in hand
    crm.control("DELETE", "requests")
    fault(crm, path="^/portal/auth$", kind="reset", times=1)
    with pytest.raises(CrmConnectionError):
        await portal_token_credential(demo.mine.contact_id).authorization()
    assert len(logged(crm, "/portal/auth")) == 1


async def test_500_is_a_server_error_without_retry(crm):
    fault(crm, path="^/version$", kind="status", status=500, times=1)
    with pytest.raises(ServerError) as caught:
        await StaffGateway().version()
    assert caught.value.status == 500 and caught.value.error == "injected_fault"
    assert len(logged(crm, "/version")) == 1


async def test_502_retried_then_success(crm):
    fault(crm, path="^/version$", kind="status", status=502, times=2)
    assert (await StaffGateway().version()).version
    assert [e["status"] for e in logged(crm, "/version")] == [502, 502, 200]


async def test_429_honours_retry_after(crm, fake_clock):
    fault(crm, path="^/version$", kind="status", status=429, retry_after=1, times=1)
    assert (await StaffGateway().version()).version
    assert fake_clock.waits == [1.0]  # the wait the CRM asked for, then the retry
    assert [e["status"] for e in logged(crm, "/version")] == [429, 200]


async def test_429_beyond_the_deadline_is_rate_limited(crm, settings, fake_clock):
    settings.ONECRM_DEADLINE = 0.5
    fault(crm, path="^/version$", kind="status", status=429, retry_after=30)
    with pytest.raises(RateLimited) as caught:
        await StaffGateway().version()
    assert caught.value.retry_after == 30
    assert fake_clock.waits == []  # no wait that could not end inside the deadline
    assert len(logged(crm, "/version")) == 1


@pytest.mark.parametrize("kind", ["malformed", "html", "wrong_shape"])
async def test_malformed_replies_are_bad_reply(crm, demo, kind):
    gateway = gateway_for(crm, demo.mine, "staff")
    fault(crm, path="^/data/Invoice", kind=kind)
    with pytest.raises(BadReply):
        await gateway.list_records(Invoice)
    with pytest.raises(BadReply):
        await gateway.get_record(Invoice, sorted(demo.mine.invoices)[0])


@pytest.mark.parametrize("printed", ["pdf", "personal_data_pdf"])
async def test_a_print_that_is_not_a_pdf_is_bad_reply(crm, demo, printed):
    """Both prints share one rule: a 200 the CRM sends instead of a PDF (a maintenance
    page) is an error, never relayed as the contact's invoice or personal data."""
    gateway = gateway_for(crm, demo.mine, "portal_auth")
    if printed == "pdf":
        record = await gateway.get_record(Invoice, sorted(demo.mine.invoices)[0])
        path = "^/printer/pdf/Invoice/"
    else:
        record = await gateway.own_contact()
        path = "^/printer/pdf/personal/Contact/"
    fault(crm, path=path, kind="html")
    with pytest.raises(BadReply, match="other than a PDF"):
        async with getattr(gateway, printed)(record):
            pass
    assert len(logged(crm, path.lstrip("^"))) == 1


async def own_document(gateway, demo):
    """The contact's largest document below 5 MB (not the 200 MB benchmark file)."""
    best = None
    for candidate in await every_record(gateway, Document):
        info = await gateway.file_info(candidate)
        if info.size and 1000 < info.size < 5_000_000 and (not best or info.size > best[1].size):
            best = (candidate, info)
    assert best is not None, "no document of a useful size in the demo data"
    return best


@pytest.mark.parametrize("kind", ["truncate", "truncate_chunked"])
async def test_truncated_download_raises(crm, demo, kind):
    gateway = gateway_for(crm, demo.mine, "portal_auth")
    document, info = await own_document(gateway, demo)
    fault(crm, path="^/files/download/", kind=kind)  # truncate: a reset halfway
    received = 0
    with pytest.raises(StreamBroken):
        async with gateway.download(document) as stream:
            async for chunk in stream:
                received += len(chunk)
    assert received < info.size


async def test_stalled_download_raises(crm, demo, settings):
    # Half the body, then a 30 s stall against a 0.5 s read timeout: had the timeout not
    # held mid-body, the rest would have come after 30 s and the download been whole.
    settings.ONECRM_TIMEOUT = 0.5
    gateway = gateway_for(crm, demo.mine, "portal_auth")
    document, _ = await own_document(gateway, demo)
    fault(crm, path="^/files/download/", kind="stall_body", ms=30_000, times=1)
    with pytest.raises(StreamBroken):
        async with gateway.download(document) as stream:
            async for _ in stream:
                pass


async def test_truncated_download_cuts_the_django_response(crm, demo):
    gateway = gateway_for(crm, demo.mine, "portal_auth")
    document, info = await own_document(gateway, demo)
    fault(crm, path="^/files/download/", kind="truncate")
    response = await stream_response(gateway.download(document))
    assert response["Content-Length"] == str(info.size)
    sent = 0
    with pytest.raises(StreamBroken):
        async for chunk in response:
            sent += len(chunk)
    assert sent < info.size


def pool_in_use() -> int:
    """Connections of the pooled client currently serving a request."""
    pool = get_http_client()._transport._pool  # type: ignore[attr-defined]
    return sum(1 for connection in pool.connections if not connection.is_idle())


async def test_consumer_going_away_leaks_no_connection(crm, demo, settings, fresh_pool):
    settings.ONECRM_MAX_CONNECTIONS = 2
    gateway = gateway_for(crm, demo.mine, "staff")
    document, _ = await own_document(gateway, demo)
    for _ in range(6):  # three times the pool
        async with gateway.download(document) as stream:
            async for _chunk in stream:
                break  # the visitor went away after the first chunk
        assert pool_in_use() == 0
    # Django-side: the body iterator closed by the server (aclosing) frees the connection.
    for _ in range(3):
        response = await stream_response(gateway.download(document))
        body = aiter(response)
        await anext(body)
        await body.aclose()
        await asyncio.sleep(0)
        response.close()
        for _ in range(500):  # the close runs on the loop: wait for it (never 5 s)
            if pool_in_use() == 0:
                break
            await asyncio.sleep(0.01)
        assert pool_in_use() == 0
    settings.ONECRM_DEADLINE = 2
    assert (await call_json("GET", "/version"))["version"]  # the pool still serves


async def test_list_deadline_covers_retries(crm, demo, settings, monkeypatch, fake_clock):
    settings.ONECRM_DEADLINE = 1.0
    monkeypatch.setattr(rest, "retry_policy", LongestBackoff(attempts=50, base_delay=0.1))
    gateway = gateway_for(crm, demo.mine, "staff")
    await gateway.list_records(Invoice, ListQuery(limit=1))  # staff token in hand
    crm.control("DELETE", "requests")
    fault(crm, path="^/data/Invoice$", kind="status", status=503)
    with pytest.raises(ServerError):
        await gateway.list_records(Invoice, ListQuery(limit=1))
    # Waits of 0.1, 0.2 and 0.4 s fit in the 1 s deadline, the next (0.8) would not: the
    # fourth 503 is the answer, long before the 50 attempts the policy allows.
    assert fake_clock.waits == [0.1, 0.2, 0.4]
    assert [e["status"] for e in logged(crm, "/data/Invoice")] == [503] * 4
