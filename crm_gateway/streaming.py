"""Bytes from the CRM (downloads, PDFs), chunk by chunk, never buffered whole.

`CrmStream` wraps an open upstream response: iterate it for chunks; it RAISES
`StreamBroken` when the CRM fails mid-way (reset, fewer bytes than Content-Length,
stall past the read timeout), so a portal response is cut instead of ending as a
complete-looking shorter file. It is closed by the context manager that made it
(`crm_gateway.rest.open_stream`), also when the consumer stops early, so no pooled
connection is leaked.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote, unquote

import httpx2 as httpx

from crm_gateway.errors import StreamBroken

_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][\w.+-]{0,63}/[A-Za-z0-9][\w.+-]{0,126}$")
# Types a browser may show inline without running anything of the CRM's on our origin.
INLINE_SAFE_TYPES = frozenset(
    {
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "text/plain",
    }
)
_FILENAME_STAR = re.compile(r"filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)")
_FILENAME = re.compile(r'filename\s*=\s*"?([^";]+)"?')


def call_on_loop(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    """Run `callback` on the loop a response was made on. Django calls a streamed
    response's close() from a worker thread (or from the loop itself, in tests), and it
    may never have iterated the body: whatever closes the upstream must run on its loop."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        callback()
    elif not loop.is_closed():
        loop.call_soon_threadsafe(callback)


def safe_media_type(value: str | None) -> str:
    """The bare `type/subtype` if it is well-formed, else application/octet-stream."""
    media = (value or "").split(";", 1)[0].strip().lower()
    return media if _MEDIA_TYPE.fullmatch(media) else "application/octet-stream"


def safe_filename(name: str | None, fallback: str = "download") -> str:
    """A file name with no path, no control characters (CR/LF), no quotes."""
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(
        ch for ch in text if unicodedata.category(ch)[0] != "C" and ch not in "\"'<>:|?*;"
    )
    text = text.strip(" .")[:150]
    return text or fallback


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """RFC 6266 / 5987: an ASCII fallback plus the exact name as `filename*`."""
    if disposition not in {"attachment", "inline"}:
        raise ValueError("disposition must be attachment or inline")
    name = safe_filename(filename)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = re.sub(r"[^A-Za-z0-9._ ()+-]", "_", ascii_name).strip(" .") or "download"
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _upstream_filename(headers: httpx.Headers) -> str | None:
    """The CRM's name for the file: `filename*` (exact), else X-OneCRM-Filename (percent-
    encoded when not ASCII), else the plain `filename`. Sanitised by the caller."""
    disposition = headers.get("Content-Disposition", "")
    match = _FILENAME_STAR.search(disposition)
    if match:
        return unquote(match.group(1).strip().strip('"'))
    if headers.get("X-OneCRM-Filename"):
        return unquote(headers["X-OneCRM-Filename"])
    match = _FILENAME.search(disposition)
    return match.group(1) if match else None


class CrmStream:
    def __init__(self, response: httpx.Response, *, method: str, path: str) -> None:
        self._response = response
        self._method = method
        self._path = path
        self._closed = False
        self.bytes_read = 0
        self.content_type = safe_media_type(response.headers.get("Content-Type"))
        length = response.headers.get("Content-Length", "")
        self.content_length: int | None = int(length) if length.isdigit() else None
        # Asked for identity; if the CRM compresses anyway, pass on the decoded file
        # (its length is then unknown; httpx still notices a truncated encoded body).
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        self._decode = encoding not in {"", "identity"}
        if self._decode:
            self.content_length = None
        self.upstream_filename = safe_filename(_upstream_filename(response.headers), "")

    def __repr__(self) -> str:
        return f"<CrmStream {self._method} {self._path} {self.content_type}>"

    def filename(self, fallback: str = "download") -> str:
        return self.upstream_filename or safe_filename(fallback)

    def content_disposition(self, disposition: str = "attachment", filename: str = "") -> str:
        return content_disposition(filename or self.filename(), disposition)

    def _broken(self, why: str) -> StreamBroken:
        return StreamBroken(
            f"the download broke off: {why} after {self.bytes_read} bytes",
            method=self._method,
            path=self._path,
        )

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._closed:
            raise self._broken("the stream was already closed")
        try:
            chunks = self._response.aiter_bytes() if self._decode else self._response.aiter_raw()
            async for chunk in chunks:
                if not chunk:
                    continue
                self.bytes_read += len(chunk)
                if self.content_length is not None and self.bytes_read > self.content_length:
                    raise self._broken("more bytes than announced")
                yield chunk
        except httpx.TimeoutException as exc:
            raise self._broken(f"stalled ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise self._broken(type(exc).__name__) from None
        if self.content_length is not None and self.bytes_read != self.content_length:
            raise self._broken(f"{self.content_length - self.bytes_read} bytes missing")

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._response.aclose()

    @property
    def closed(self) -> bool:
        return self._closed
