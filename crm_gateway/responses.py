"""The Django side of streaming: a gateway stream as an async StreamingHttpResponse.

    return await stream_response(gateway.pdf(record), filename="I-42.pdf", disposition="inline")

`stream_response` enters the gateway's context manager (so CRM errors raise here, where
the view can still render an error page), then hands Django an async iterator that
closes the upstream response when the body is done, when the client goes away, or when
Django closes the response without sending it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from django.http import StreamingHttpResponse

from crm_gateway.streaming import INLINE_SAFE_TYPES, CrmStream

# Close tasks scheduled from Django's close(): referenced until done (asyncio keeps weak refs).
_pending: set[asyncio.Task[None]] = set()


def _track(task: asyncio.Task[None]) -> None:
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def stream_response(
    source: AbstractAsyncContextManager[CrmStream],
    *,
    filename: str = "",
    disposition: str = "attachment",
) -> StreamingHttpResponse:
    stack = contextlib.AsyncExitStack()
    stream = await stack.enter_async_context(source)
    loop = asyncio.get_running_loop()
    closed = False

    async def close() -> None:
        nonlocal closed
        if not closed:
            closed = True
            await stack.aclose()

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await close()

    def close_from_django() -> None:
        # Django calls response.close() from a worker thread (or from the loop in tests);
        # it may never have iterated the body, so close the upstream on the loop.
        if closed:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            _track(loop.create_task(close()))
        elif not loop.is_closed():
            loop.call_soon_threadsafe(lambda: _track(loop.create_task(close())))

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
