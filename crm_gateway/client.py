"""The process's pooled HTTP connection to the CRM.

One `httpx2.AsyncClient` per event loop, created lazily: a production process runs one
loop, so it shares one keep-alive pool; test clients that run each request in a fresh
loop get their own. The ASGI lifespan (portal/asgi.py) closes it on shutdown.

Timeouts are set per request (see `crm_gateway.rest`), so a settings change (tests) or
the remaining overall deadline is always honoured; the API base is read per request too.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterator

import httpx2 as httpx
from django.conf import settings
from httpcore2._async.http11 import AsyncHTTP11Connection

# Downloads and PDFs are relayed chunk by chunk, and each chunk costs the same Python
# work (a socket read under a timeout, an h11 event, a send) however small it is. The
# HTTP/1.1 connections of the client read their socket 256 KiB at a time instead of
# httpcore's 64 KiB: with Django's ASGI handler sending 256 KiB messages (portal/asgi.py)
# this about doubled the throughput of 16 concurrent 200 MiB downloads through the
# portal (docs/performance.md), for a few hundred KiB more per connection in use.
# httpcore2 offers no per-client option for it, only this class attribute: set once
# here, where the client that owns the transport is built, before any connection.
READ_CHUNK_BYTES = 256 * 1024
AsyncHTTP11Connection.READ_NUM_BYTES = READ_CHUNK_BYTES

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)
# Tests inject a transport (httpx2.MockTransport) here to produce faults the emulator cannot.
transport_override: httpx.AsyncBaseTransport | None = None


def _new_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport_override,
        timeout=httpx.Timeout(
            settings.ONECRM_TIMEOUT, connect=settings.ONECRM_CONNECT_TIMEOUT, pool=5.0
        ),
        limits=httpx.Limits(
            max_connections=settings.ONECRM_MAX_CONNECTIONS,
            max_keepalive_connections=settings.ONECRM_MAX_CONNECTIONS,
            keepalive_expiry=30.0,
        ),
        follow_redirects=False,
        # Never pick up proxies or .netrc credentials from the environment.
        trust_env=False,
        headers={"User-Agent": "onecrm-portal/0.1"},
    )


def get_http_client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = _clients[loop] = _new_client()
    return client


async def close_http_client() -> None:
    loop = asyncio.get_running_loop()
    client = _clients.pop(loop, None)
    if client is not None:
        await client.aclose()


@contextlib.contextmanager
def use_transport(transport: httpx.AsyncBaseTransport | None) -> Iterator[None]:
    """Route this process's CRM traffic through `transport` (tests), then restore.

    Clients built before are dropped (not closed: they may belong to a finished loop),
    so the next call builds a client with the injected transport.
    """
    global transport_override
    previous = transport_override
    transport_override = transport
    _clients.clear()
    try:
        yield
    finally:
        transport_override = previous
        _clients.clear()
