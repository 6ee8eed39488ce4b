"""One pooled client per process (per event loop), created lazily, closed on shutdown."""

from __future__ import annotations

import httpx2 as httpx

from crm_gateway.client import close_http_client, get_http_client, use_transport


async def test_one_client_reused_then_closed():
    with use_transport(httpx.MockTransport(lambda request: httpx.Response(200))):
        first = get_http_client()
        assert get_http_client() is first
        await close_http_client()
        assert first.is_closed
        second = get_http_client()
        assert second is not first and not second.is_closed
        await close_http_client()


async def test_asgi_lifespan_shutdown_closes_the_pool():
    from portal.asgi import application

    with use_transport(httpx.MockTransport(lambda request: httpx.Response(200))):
        client = get_http_client()
        messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent: list[dict] = []

        async def receive() -> dict:
            return messages.pop(0)

        async def send(message: dict) -> None:
            sent.append(message)

        await application({"type": "lifespan"}, receive, send)
        assert [m["type"] for m in sent] == [
            "lifespan.startup.complete",
            "lifespan.shutdown.complete",
        ]
        assert client.is_closed


async def test_the_client_reads_a_download_in_large_chunks(crm):
    """The client's connections read their socket READ_CHUNK_BYTES at a time, not
    httpcore's 64 KiB: a relayed chunk costs the same Python work whatever its size
    (docs/performance.md). Read from the emulator's 200 MiB document, first chunks only."""
    from crm_emulator.demo_data import LARGE_DOCUMENT
    from crm_gateway.client import READ_CHUNK_BYTES
    from crm_gateway.credentials import staff_credential
    from crm_gateway.rest import api_path, open_stream

    path = api_path("files", "download", "Document", LARGE_DOCUMENT.id)
    sizes: list[int] = []
    async with open_stream("GET", path, credential=staff_credential()) as stream:
        async for chunk in stream:
            sizes.append(len(chunk))
            if len(sizes) == 32:
                break
    await close_http_client()
    assert max(sizes) > 64 * 1024
    assert max(sizes) <= READ_CHUNK_BYTES == 256 * 1024
