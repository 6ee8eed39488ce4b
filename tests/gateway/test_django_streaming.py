"""The Django side of a download, through Django's real ASGI handler: headers for the
browser, and a visitor who goes away mid-download frees the pooled CRM connection."""

from __future__ import annotations

import asyncio

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.urls import path

from crm_emulator.demo_data import LARGE_DOCUMENT
from crm_gateway import ContactGateway, ContactScope, Document, stream_response
from crm_gateway.client import get_http_client, use_transport
from tests.gateway.conftest import _staff_headers

STATE: dict = {}


async def download(request):
    gateway = STATE["gateway"]
    record = await gateway.get_record(Document, LARGE_DOCUMENT.id)
    return await stream_response(gateway.download(record), filename="video.bin")


urlpatterns = [path("t/download", download)]


def pool_in_use() -> int:
    pool = get_http_client()._transport._pool  # type: ignore[attr-defined]
    return sum(1 for connection in pool.connections if not connection.is_idle())


@pytest.mark.django_db(transaction=True)  # the portal's middleware reads its settings
async def test_visitor_leaving_mid_download_frees_the_connection(crm, settings):
    import httpx2 as httpx

    settings.ROOT_URLCONF = __name__
    settings.ONECRM_TIMEOUT = 10
    headers = _staff_headers(crm.api_url)
    accounts = httpx.get(
        f"{crm.api_url}/data/Document/{LARGE_DOCUMENT.id}/accounts", headers=headers
    ).json()["records"]
    contacts = httpx.get(
        f"{crm.api_url}/data/Contact",
        params=[("filters[primary_account_id]", accounts[0]["id"])],
        headers=headers,
    ).json()["records"]
    STATE["gateway"] = ContactGateway(
        ContactScope(contact_id=contacts[0]["id"], account_id=accounts[0]["id"]),
        data_access="staff",
    )
    gone = asyncio.Event()
    sent: list[dict] = []

    async def receive() -> dict:
        if not sent and not getattr(receive, "started", False):
            receive.started = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and message.get("body"):
            # The visitor closes the tab while the server is still sending the first chunk
            # (the body iterator is then parked at its yield, not in a CRM read).
            gone.set()
            await asyncio.sleep(0.2)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/t/download",
        "raw_path": b"/t/download",
        "query_string": b"",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }
    with use_transport(None):
        await asyncio.wait_for(ASGIHandler()(scope, receive, send), timeout=30)
        start = next(m for m in sent if m["type"] == "http.response.start")
        response_headers = dict(start["headers"])
        assert start["status"] == 200
        assert response_headers[b"Content-Length"] == str(LARGE_DOCUMENT.size).encode()
        assert response_headers[b"Cache-Control"] == b"no-store"
        assert response_headers[b"X-Content-Type-Options"] == b"nosniff"
        assert response_headers[b"Content-Disposition"].startswith(
            b'attachment; filename="video.bin"'
        )
        received = sum(len(m.get("body", b"")) for m in sent if m["type"] == "http.response.body")
        assert received < LARGE_DOCUMENT.size  # cut off, not sent whole
        for _ in range(100):
            if pool_in_use() == 0:
                break
            await asyncio.sleep(0.05)
        assert pool_in_use() == 0
