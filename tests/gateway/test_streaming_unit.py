"""Streams: headers for the view, safe file names, raising on truncation, and the Django
response helper (scripted CRM; the real-server faults are in test_emulator_faults.py)."""

from __future__ import annotations

import asyncio

import httpx2 as httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_gateway import ContactGateway, ContactScope, Document, StreamBroken, stream_response
from crm_gateway.errors import CrmError
from crm_gateway.responses import DownloadTooLong
from crm_gateway.rest import open_stream
from crm_gateway.scope import seal
from crm_gateway.streaming import content_disposition, safe_filename, safe_media_type
from tests.gateway.conftest import token_reply

ACCOUNT = "aaaaaaaa-0000-0000-0000-000000000001"
SCOPE = ContactScope(contact_id="cccc", account_id=ACCOUNT)


class Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes], *, fail: Exception | None = None) -> None:
        self.chunks = chunks
        self.fail = fail
        self.closed = False

    async def __aiter__(self):
        for chunk in self.chunks:
            await asyncio.sleep(0)
            yield chunk
        if self.fail:
            raise self.fail

    async def aclose(self) -> None:
        self.closed = True


def file_reply(stream: Chunks, length: int | None, name: str = "report.pdf"):
    def handler(request):
        headers = {"Content-Type": "application/pdf", "X-OneCRM-Filename": name}
        if length is not None:
            headers["Content-Length"] = str(length)
        return httpx.Response(200, headers=headers, stream=stream)

    return handler


async def test_stream_yields_chunks_and_exposes_headers(scripted):
    body = Chunks([b"a" * 10, b"b" * 5])
    scripted.on("GET", "/f", file_reply(body, 15, '../../etc/pass\r\nwd".pdf'))
    async with open_stream("GET", "/f") as stream:
        assert stream.content_type == "application/pdf"
        assert stream.content_length == 15
        assert stream.filename() == "passwd.pdf"  # no path, no CR/LF, no quote
        chunks = [chunk async for chunk in stream]
    assert b"".join(chunks) == b"a" * 10 + b"b" * 5
    assert body.closed


async def test_truncated_body_raises_instead_of_ending(scripted):
    scripted.on("GET", "/f", file_reply(Chunks([b"a" * 10]), 100))
    received = b""
    with pytest.raises(StreamBroken):
        async with open_stream("GET", "/f") as stream:
            async for chunk in stream:
                received += chunk
    assert received == b"a" * 10


async def test_reset_mid_stream_raises(scripted):
    body = Chunks([b"a" * 10], fail=httpx.ReadError("connection reset"))
    scripted.on("GET", "/f", file_reply(body, None))
    with pytest.raises(StreamBroken):
        async with open_stream("GET", "/f") as stream:
            async for _ in stream:
                pass
    assert body.closed


async def test_consumer_stopping_early_closes_upstream(scripted):
    body = Chunks([b"a"] * 100)
    scripted.on("GET", "/f", file_reply(body, 100))
    async with open_stream("GET", "/f") as stream:
        async for _ in stream:
            break
    assert body.closed and stream.closed


@given(st.text(max_size=300))
def test_safe_filename_never_has_path_quotes_or_controls(name):
    safe = safe_filename(name)
    assert safe and len(safe) <= 150
    assert not set(safe) & set('/\\"\r\n\x00;')
    header = content_disposition(name)
    assert "\r" not in header and "\n" not in header
    assert header.startswith('attachment; filename="') and "filename*=UTF-8''" in header
    header.encode("latin-1")  # valid header bytes


def test_content_disposition_keeps_unicode_in_filename_star():
    header = content_disposition("Rechnung Größe €.pdf", "inline")
    assert header.startswith('inline; filename="Rechnung Gro')
    assert header.endswith("; filename*=UTF-8''Rechnung%20Gr%C3%B6%C3%9Fe%20%E2%82%AC.pdf")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("application/pdf", "application/pdf"),
        ("text/html; charset=utf-8", "text/html"),
        ("text/html\r\nSet-Cookie: a=b", "application/octet-stream"),
        ("", "application/octet-stream"),
        (None, "application/octet-stream"),
    ],
)
def test_safe_media_type(value, expected):
    assert safe_media_type(value) == expected


async def test_stream_response_headers_and_body(scripted):
    scripted.on("POST", "/auth/user/access_token", token_reply("staff"))
    body = Chunks([b"%PDF-", b"1.7"])
    scripted.on("GET", "/files/download/Document/d1", file_reply(body, 8, "Bericht%20%C3%A4.pdf"))
    gateway = ContactGateway(SCOPE, data_access="staff")
    checked = seal(Document, {"id": "d1", "account_id": ACCOUNT}, SCOPE)
    response = await stream_response(gateway.download(checked), disposition="inline")
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Length"] == "8"
    assert response["Cache-Control"] == "no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline; ")
    assert "filename*=UTF-8''Bericht%20%C3%A4.pdf" in response["Content-Disposition"]
    assert b"".join([part async for part in response]) == b"%PDF-1.7"
    assert body.closed


async def test_stream_response_forces_attachment_for_active_content(scripted):
    def html(request):
        return httpx.Response(200, headers={"Content-Type": "text/html"}, content=b"<script>")

    scripted.on("GET", "/f", html)
    response = await stream_response(open_stream("GET", "/f"), disposition="inline")
    assert response["Content-Disposition"].startswith("attachment; ")
    assert "sandbox" in response["Content-Security-Policy"]
    response.close()
    await asyncio.sleep(0.01)


async def test_stream_response_closed_unsent_closes_upstream(scripted):
    body = Chunks([b"x"] * 10)
    scripted.on("GET", "/f", file_reply(body, 10))
    response = await stream_response(open_stream("GET", "/f"))
    response.close()  # Django closes a response it never sent (HEAD, error...)
    for _ in range(10):
        await asyncio.sleep(0.01)
        if body.closed:
            break
    assert body.closed


async def test_stream_response_raises_mid_body_on_truncation(scripted):
    scripted.on("GET", "/f", file_reply(Chunks([b"x" * 4]), 10))
    response = await stream_response(open_stream("GET", "/f"))
    with pytest.raises(StreamBroken):
        async for _ in response:
            pass


async def test_compressed_reply_is_passed_on_decoded(scripted):
    import gzip

    payload = b"%PDF-" + b"x" * 5000

    def handler(request):
        assert request.headers["Accept-Encoding"] == "identity"
        body = gzip.compress(payload)
        headers = {"Content-Type": "application/pdf", "Content-Encoding": "gzip"}
        return httpx.Response(
            200, headers=headers | {"Content-Length": str(len(body))}, content=body
        )

    scripted.on("GET", "/f", handler)
    async with open_stream("GET", "/f") as stream:
        assert stream.content_length is None
        assert b"".join([chunk async for chunk in stream]) == payload


class Slot:
    """An `on_close` that counts its calls (the portal's per-contact download slot)."""

    def __init__(self) -> None:
        self.released = 0

    async def release(self) -> None:
        self.released += 1


async def test_on_close_runs_once_when_the_body_is_sent(scripted):
    slot = Slot()
    body = Chunks([b"a" * 5, b"b" * 5])
    scripted.on("GET", "/f", file_reply(body, 10))
    response = await stream_response(open_stream("GET", "/f"), on_close=slot.release)
    assert slot.released == 0  # held while the body is relayed
    assert b"".join([part async for part in response]) == b"a" * 5 + b"b" * 5
    response.close()
    await asyncio.sleep(0.01)
    assert slot.released == 1 and body.closed


async def test_on_close_runs_when_the_crm_refuses_to_open_the_stream(scripted):
    slot = Slot()
    scripted.on("GET", "/f", lambda request: httpx.Response(404, json={"error": "not_found"}))
    with pytest.raises(CrmError):
        await stream_response(open_stream("GET", "/f"), on_close=slot.release)
    assert slot.released == 1


async def test_on_close_runs_when_django_closes_an_unsent_response(scripted):
    slot = Slot()
    scripted.on("GET", "/f", file_reply(Chunks([b"x"] * 10), 10))
    response = await stream_response(open_stream("GET", "/f"), on_close=slot.release)
    response.close()
    for _ in range(10):
        await asyncio.sleep(0.01)
        if slot.released:
            break
    assert slot.released == 1


async def test_a_relay_past_its_time_limit_is_cut_while_the_crm_is_slow(scripted, caplog):
    class Slow(Chunks):
        async def __aiter__(self):
            yield b"a" * 10
            await asyncio.sleep(30)  # the CRM stalls (shorter than any read timeout here)
            yield b"b" * 10

    slot = Slot()
    body = Slow([])
    scripted.on("GET", "/f", file_reply(body, 20))
    response = await stream_response(
        open_stream("GET", "/f"), max_seconds=0.2, on_close=slot.release
    )
    received = b""
    with pytest.raises(DownloadTooLong):
        async for part in response:
            received += part
    assert received == b"a" * 10
    assert body.closed and slot.released == 1
    assert "download stopped at its time limit (DOWNLOAD_MAX_SECONDS=0.2)" in caplog.text


async def test_a_relay_past_its_time_limit_closes_the_crm_while_the_reader_is_slow(scripted):
    """The reader takes a chunk and then nothing: at the limit the CRM stream is closed
    and the slot released at once, before the reader comes back (it then gets the cut)."""
    slot = Slot()
    body = Chunks([b"a" * 10, b"b" * 10])
    scripted.on("GET", "/f", file_reply(body, 20))
    response = await stream_response(
        open_stream("GET", "/f"), max_seconds=0.2, on_close=slot.release
    )
    parts = aiter(response)
    assert await anext(parts) == b"a" * 10
    for _ in range(100):  # the reader is away; the relay's timer is not
        await asyncio.sleep(0.01)
        if body.closed:
            break
    assert body.closed and slot.released == 1
    with pytest.raises(DownloadTooLong):
        await anext(parts)
