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
