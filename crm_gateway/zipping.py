"""Many CRM streams as one zip, written as it is read: `zip_response`.

    members = [ZipMember(name, functools.partial(gateway.pdf, checked)) for ...]
    return await zip_response(members, filename="invoices.zip", concurrency=4)

The zip is built by zipstream-ng on the event loop, without threads and without holding a
file whole: each member's bytes go into the archive chunk by chunk as the CRM sends
them. Up to `concurrency` members are fetched at once (the one being written and the
next ones, each read ahead into a small bounded buffer, then held back by TCP flow
control), and written strictly in order. So the CRM never sees more than `concurrency`
calls of one zip, and memory stays at about `concurrency * READ_AHEAD_CHUNKS` chunks.

A member the CRM fails (an error status, a reset, fewer bytes than announced, a stall)
ends the response cut: the body raises `ZipBroken` and the client gets an incomplete
transfer without the zip's central directory, never a complete-looking zip with files
missing. The first member is opened before the response starts, so a CRM that is down
gets the view's friendly error page instead. A client that goes away cancels the body,
which cancels every fetch and closes every CRM stream. The whole zip has one time limit,
`max_seconds` (default DOWNLOAD_MAX_SECONDS), like a single download: past it the zip is
cut the same way. `on_close` runs exactly once, however the zip ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import unicodedata
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from django.conf import settings
from django.http import StreamingHttpResponse
from zipstream import ZIP_STORED, ZipStream

from crm_gateway.errors import CrmError, StreamBroken
from crm_gateway.streaming import CrmStream, call_on_loop, content_disposition, safe_filename

logger = logging.getLogger(__name__)

# Chunks one member may read ahead of the writer before its fetch waits (httpx reads up
# to 64 KiB at a time: at most about 1 MiB per member fetched ahead).
READ_AHEAD_CHUNKS = 16
# Bytes gathered before a piece of the zip is handed to the server (headers, small files).
WRITE_SIZE = 64 * 1024
MAX_NAME = 150


class ZipBroken(StreamBroken):
    """A member could not be read whole: the zip was cut."""


class ZipTooLong(ZipBroken):
    """The zip ran past its overall time limit and was cut."""


@dataclass(frozen=True)
class ZipMember:
    """One file of the zip: its name in the archive and how to open its CRM stream
    (`functools.partial(gateway.pdf, checked)`: opened only when its turn comes)."""

    name: str
    open: Callable[[], AbstractAsyncContextManager[CrmStream]] = field(repr=False)


def zip_names(names: Iterable[str], fallback: str = "file") -> list[str]:
    """Names safe to unpack anywhere: no folders, no `..`, no control characters, no
    characters Windows refuses, at most MAX_NAME characters; the same name (ignoring
    case, as Windows and macOS do) a second time becomes `name (2).ext`."""
    taken: set[str] = set()
    out: list[str] = []
    for raw in names:
        name = safe_filename(raw, fallback)[:MAX_NAME].strip(" .") or fallback
        stem, dot, ext = name.rpartition(".")
        if not stem:  # no extension, or a name that is only ".ext"
            stem, dot, ext = name, "", ""
        candidate, number = name, 1
        while unicodedata.normalize("NFC", candidate).casefold() in taken:
            number += 1
            candidate = f"{stem} ({number}){dot}{ext}"
        taken.add(unicodedata.normalize("NFC", candidate).casefold())
        out.append(candidate)
    return out


class _End:
    pass


_END = _End()


@dataclass
class _Failed:
    error: BaseException


class _Fetch:
    """One member read ahead: its stream opened (`opened`: its Content-Length) and read
    into a bounded queue: the chunks, then `_END` (once the CRM stream was closed) or
    `_Failed` (in place of whatever was still buffered)."""

    def __init__(self, member: ZipMember, index: int) -> None:
        loop = asyncio.get_running_loop()
        self.member = member
        self.index = index
        self.opened: asyncio.Future[int | None] = loop.create_future()
        self.queue: asyncio.Queue[bytes | _End | _Failed] = asyncio.Queue(
            maxsize=READ_AHEAD_CHUNKS + 1
        )
        self.task = loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            async with self.member.open() as stream:
                self.opened.set_result(stream.content_length)
                async for chunk in stream:
                    await self.queue.put(chunk)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if not self.opened.done():
                self.opened.set_exception(error)
                return
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(_Failed(error))
            return
        await self.queue.put(_END)

    def forget(self) -> None:
        """Cancel the fetch (its CRM stream closes) and mark its error as seen."""
        self.task.cancel()
        if self.opened.done() and not self.opened.cancelled():
            self.opened.exception()
        else:
            self.opened.cancel()


class _Feeder:
    """The member's chunks as zipstream-ng reads them: one at a time, only what the
    writer has put in (zipstream-ng yields one piece of the archive per chunk read)."""

    def __init__(self) -> None:
        self.items: deque[bytes | _End] = deque()

    def __iter__(self) -> _Feeder:
        return self

    def __next__(self) -> bytes:
        if not self.items:
            raise RuntimeError("the zip writer read ahead of the CRM stream")
        item = self.items.popleft()
        if isinstance(item, _End):
            raise StopIteration
        return item


def _broken(index: int, total: int, error: BaseException) -> ZipBroken:
    why = type(error).__name__
    path = getattr(error, "path", "") or ""
    method = getattr(error, "method", "") or ""
    return ZipBroken(
        f"the zip broke off at file {index + 1} of {total}: {why}", method=method, path=path
    )


class _ZipWriter:
    def __init__(
        self, members: Sequence[ZipMember], concurrency: int, deadline: float, limit: float
    ) -> None:
        self.members = members
        self.concurrency = max(1, concurrency)
        self.deadline = deadline
        self.limit = limit
        self.fetches: deque[_Fetch] = deque()
        self.started = 0
        self.zip = ZipStream(compress_type=ZIP_STORED)

    def fill(self) -> None:
        """Start fetches until `concurrency` are under way (the current one included)."""
        while len(self.fetches) < self.concurrency and self.started < len(self.members):
            self.fetches.append(_Fetch(self.members[self.started], self.started))
            self.started += 1

    async def opened(self, fetch: _Fetch) -> int | None:
        try:
            async with asyncio.timeout_at(self.deadline):
                return await asyncio.shield(fetch.opened)
        except TimeoutError:
            raise self.too_long() from None
        except CrmError as error:
            raise _broken(fetch.index, len(self.members), error) from None

    async def next_item(self, fetch: _Fetch) -> bytes | _End:
        try:
            async with asyncio.timeout_at(self.deadline):
                item = await fetch.queue.get()
        except TimeoutError:
            raise self.too_long() from None
        if isinstance(item, _Failed):
            raise _broken(fetch.index, len(self.members), item.error)
        return item

    def too_long(self) -> ZipTooLong:
        logger.warning(
            "zip stopped at its time limit (DOWNLOAD_MAX_SECONDS=%g) after %d of %d files",
            self.limit,
            len(self.zip.info_list()),
            len(self.members),
        )
        return ZipTooLong(f"the zip took longer than {self.limit:g} s")

    async def open_first(self) -> None:
        """Start the first fetches and wait until the first member opened: its CRM
        error, if any, raises as it is, before the response starts."""
        self.fill()
        if self.fetches:
            await asyncio.shield(self.fetches[0].opened)

    async def pieces(self) -> AsyncIterator[bytes]:
        """The zip, in pieces of about WRITE_SIZE (smaller when the CRM is slower than
        the client: whatever is ready is sent before waiting)."""
        out = bytearray()
        total = len(self.members)
        sent = False  # the first piece goes out at once: the browser's download starts
        while self.fetches:
            fetch = self.fetches[0]
            length = await self.opened(fetch)
            feeder = _Feeder()
            self.zip.add(feeder, fetch.member.name, size=length)
            entry = self.zip.file()
            while True:
                if out and fetch.queue.empty():
                    yield bytes(out)  # nothing more right now: send what is ready
                    out.clear()
                item = await self.next_item(fetch)
                feeder.items.append(item)
                if isinstance(item, _End):
                    for piece in entry:
                        out += piece
                    break
                while feeder.items:
                    out += next(entry)
                if len(out) >= WRITE_SIZE or not sent:
                    yield bytes(out)
                    out.clear()
                    sent = True
            self.fetches.popleft()
            self.fill()
            logger.debug("zip: file %d of %d written", fetch.index + 1, total)
        for piece in self.zip.footer():
            out += piece
        yield bytes(out)

    async def cancel(self) -> None:
        fetches = list(self.fetches)
        self.fetches.clear()
        for fetch in fetches:
            fetch.forget()
        for fetch in fetches:
            with contextlib.suppress(BaseException):
                await fetch.task


async def zip_response(
    members: Sequence[ZipMember],
    *,
    filename: str,
    concurrency: int,
    max_seconds: float | None = None,
    on_close: Callable[[], Awaitable[None]] | None = None,
) -> StreamingHttpResponse:
    """The members as one streamed zip (`application/zip`, an attachment, no length)."""
    loop = asyncio.get_running_loop()
    limit = settings.DOWNLOAD_MAX_SECONDS if max_seconds is None else max_seconds
    writer = _ZipWriter(members, concurrency, loop.time() + limit, limit)
    closed = False
    over_time = False

    async def close() -> None:
        nonlocal closed
        if not closed:
            closed = True
            timer.cancel()
            try:
                await writer.cancel()
            finally:
                if on_close is not None:
                    await on_close()

    _pending: set[asyncio.Task[None]] = set()

    def close_soon() -> None:
        task = loop.create_task(close())
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    def at_deadline() -> None:
        nonlocal over_time
        over_time = True
        # The body may be waiting for the client to take a piece: stop the CRM calls now
        # (the writer, waiting on them or resumed later, times out: ZipTooLong).
        for fetch in list(writer.fetches):
            fetch.task.cancel()

    timer = loop.call_at(writer.deadline, at_deadline)
    try:
        await writer.open_first()
    except BaseException:
        await close()
        raise

    async def body() -> AsyncIterator[bytes]:
        try:
            async for piece in writer.pieces():
                if over_time:
                    raise writer.too_long()
                yield piece
        except ZipTooLong:
            raise  # too_long() logged it, with the limit and how far the zip got
        except ZipBroken as error:
            logger.warning("%s (%s %s)", error, error.method, error.path)
            raise
        finally:
            await close()

    def close_from_django() -> None:
        if not closed:
            call_on_loop(loop, close_soon)

    response = StreamingHttpResponse(body(), content_type="application/zip")
    response["Content-Disposition"] = content_disposition(filename, "attachment")
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response._resource_closers.append(close_from_django)  # type: ignore[attr-defined]
    return response
