"""The Django side of streaming: a gateway stream as an async StreamingHttpResponse.

    return await stream_response(gateway.pdf(record), filename="I-42.pdf", disposition="inline")

`stream_response` enters the gateway's context manager (so CRM errors raise here, where
the view can still render an error page), then hands Django an async iterator that
closes the upstream response when the body is done, when the client goes away, or when
Django closes the response without sending it.

Every relay has an overall time limit (`max_seconds`, by default DOWNLOAD_MAX_SECONDS):
a slow reader holds a pooled CRM connection for as long as it reads, so past the limit
the CRM stream is closed (also while the relay waits for the reader to take the last
chunk) and the portal's response is cut, never ended as if complete. `on_close` runs
exactly once, however the relay ends (the CRM refused to open, the body was sent, the
client went away, the limit passed): the caller's per-contact download slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import cast

from django.conf import settings
from django.http import StreamingHttpResponse

from crm_gateway.errors import StreamBroken
from crm_gateway.streaming import INLINE_SAFE_TYPES, CrmStream, call_on_loop

logger = logging.getLogger(__name__)

# Close tasks scheduled from Django's close(): referenced until done (asyncio keeps weak refs).
_pending: set[asyncio.Task[None]] = set()


def _track(task: asyncio.Task[None]) -> None:
    _pending.add(task)
    task.add_done_callback(_pending.discard)


class DownloadTooLong(StreamBroken):
    """The relay ran past its overall time limit and was cut."""


async def stream_response(
    source: AbstractAsyncContextManager[CrmStream],
    *,
    filename: str = "",
    disposition: str = "attachment",
    max_seconds: float | None = None,
    on_close: Callable[[], Awaitable[None]] | None = None,
) -> StreamingHttpResponse:
    stack = contextlib.AsyncExitStack()
    if on_close is not None:
        stack.push_async_callback(on_close)
    try:
        stream = await stack.enter_async_context(source)
    except BaseException:
        await stack.aclose()
        raise
    loop = asyncio.get_running_loop()
    limit = settings.DOWNLOAD_MAX_SECONDS if max_seconds is None else max_seconds
    deadline = loop.time() + limit
    closed = False
    reading = False  # awaiting the CRM (the read's own timeout then ends it at the deadline)
    over_time = False

    async def close() -> None:
        nonlocal closed
        if not closed:
            closed = True
            timer.cancel()
            await stack.aclose()

    def at_deadline() -> None:
        nonlocal over_time
        over_time = True
        logger.warning(
            "download stopped at its time limit (DOWNLOAD_MAX_SECONDS=%g) after %d bytes: %r",
            limit,
            stream.bytes_read,
            stream,
        )
        if not reading:
            # Waiting for the reader to take a chunk (or never iterated): free the
            # CRM connection now; the body raises when it resumes.
            _track(loop.create_task(close()))

    timer = loop.call_at(deadline, at_deadline)

    async def body() -> AsyncIterator[bytes]:
        nonlocal reading
        chunks = cast(AsyncGenerator[bytes], aiter(stream))
        try:
            while not over_time:
                reading = True
                try:
                    async with asyncio.timeout_at(deadline):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    break
                finally:
                    reading = False
                if over_time:
                    break
                yield chunk
            raise DownloadTooLong(f"the download took longer than {limit:g} s")
        finally:
            await chunks.aclose()
            await close()

    def close_from_django() -> None:
        if not closed:
            call_on_loop(loop, lambda: _track(loop.create_task(close())))

    media_type = stream.content_type
    if disposition == "inline" and media_type not in INLINE_SAFE_TYPES:
        disposition = "attachment"  # never let the CRM's HTML or SVG run on our origin
    response = StreamingHttpResponse(body(), content_type=media_type)
    if stream.content_length is not None:
        response["Content-Length"] = str(stream.content_length)
    response["Content-Disposition"] = stream.content_disposition(disposition, filename)
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    if disposition == "attachment":
        # Opened anyway (some browsers do): nothing in it may run. Not on inline PDFs,
        # which Chromium refuses to render in a sandbox.
        response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response._resource_closers.append(close_from_django)  # type: ignore[attr-defined]
    return response
