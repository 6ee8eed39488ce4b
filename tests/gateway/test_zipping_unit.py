"""The zip writer on scripted streams: order, bounded fetches, names, cuts, cancellation
(the emulator-backed acceptance tests are tests/pages/test_bulk_downloads.py)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_gateway import ServerError, StreamBroken, ZipMember, zip_names, zip_response
from crm_gateway.zipping import ZipBroken


class FakeStream:
    def __init__(self, chunks: list[bytes], fail: Exception | None, length: int | None):
        self.chunks = chunks
        self.fail = fail
        self.content_length = length

    async def __aiter__(self):
        for chunk in self.chunks:
            await asyncio.sleep(0.001)
            yield chunk
        if self.fail:
            raise self.fail


class Crm:
    """Opens fake streams and counts how many are open at once."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.open_now = 0
        self.most = 0
        self.opened: list[str] = []
        self.closed: list[str] = []

    def member(
        self,
        name: str,
        chunks: list[bytes],
        *,
        fail: Exception | None = None,
        refuse: Exception | None = None,
    ) -> ZipMember:
        @contextlib.asynccontextmanager
        async def open_():
            self.open_now += 1
            self.most = max(self.most, self.open_now)
            self.opened.append(name)
            try:
                await asyncio.sleep(self.delay)
                if refuse:
                    raise refuse
                length = None if fail else sum(map(len, chunks))
                yield FakeStream(chunks, fail, length)
            finally:
                self.open_now -= 1
                self.closed.append(name)

        return ZipMember(name, open_)


async def body_of(response) -> bytes:
    return b"".join([piece async for piece in response.streaming_content])


def files(crm: Crm, count: int) -> list[ZipMember]:
    return [
        crm.member(f"f{n}.pdf", [bytes([n]) * 70_000, bytes([n + 1]) * 3]) for n in range(count)
    ]


async def test_members_are_written_in_order_whole_and_with_bounded_fetches():
    crm = Crm(delay=0.01)
    response = await zip_response(files(crm, 12), filename="all.zip", concurrency=3)
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="all.zip"')
    archive = zipfile.ZipFile(io.BytesIO(await body_of(response)))
    assert archive.testzip() is None
    assert archive.namelist() == [f"f{n}.pdf" for n in range(12)]
    for n in range(12):
        assert archive.read(f"f{n}.pdf") == bytes([n]) * 70_000 + bytes([n + 1]) * 3
    assert crm.most == 3  # fetched ahead, never more than asked
    assert crm.open_now == 0 and sorted(crm.closed) == sorted(crm.opened)


async def test_an_empty_member_and_one_member():
    crm = Crm()
    response = await zip_response([crm.member("empty.txt", [])], filename="one.zip", concurrency=4)
    archive = zipfile.ZipFile(io.BytesIO(await body_of(response)))
    assert archive.namelist() == ["empty.txt"] and archive.read("empty.txt") == b""


async def test_a_member_that_breaks_mid_way_cuts_the_zip_and_closes_every_stream():
    crm = Crm()
    members = files(crm, 6)
    members[3] = crm.member("f3.pdf", [b"x" * 1000], fail=StreamBroken("reset"))
    closed: list[bool] = []

    async def on_close():
        closed.append(True)

    response = await zip_response(members, filename="a.zip", concurrency=2, on_close=on_close)
    received = bytearray()
    with pytest.raises(ZipBroken, match="file 4 of 6"):
        async for piece in response.streaming_content:
            received += piece
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(bytes(received)))
    assert closed == [True]
    await asyncio.sleep(0.01)
    assert crm.open_now == 0
    assert "f5.pdf" not in crm.opened  # nothing is fetched after the failure


async def test_a_member_the_crm_refuses_mid_zip_cuts_it():
    crm = Crm()
    members = files(crm, 4)
    members[2] = crm.member("f2.pdf", [], refuse=ServerError("boom", status=500))
    response = await zip_response(members, filename="a.zip", concurrency=2)
    with pytest.raises(ZipBroken, match="file 3 of 4: ServerError"):
        await body_of(response)


async def test_the_first_member_refused_raises_before_the_response():
    crm = Crm()
    members = [crm.member("f0.pdf", [], refuse=ServerError("down", status=503)), *files(crm, 2)]
    closed: list[bool] = []

    async def on_close():
        closed.append(True)

    with pytest.raises(ServerError):
        await zip_response(members, filename="a.zip", concurrency=2, on_close=on_close)
    assert closed == [True] and crm.open_now == 0


async def test_a_client_that_goes_away_stops_the_fetches():
    crm = Crm(delay=0.02)
    response = await zip_response(files(crm, 40), filename="a.zip", concurrency=4)
    pieces = aiter(response.streaming_content)
    await anext(pieces)
    await pieces.aclose()  # what Django does when the client disconnects
    await asyncio.sleep(0.05)
    assert crm.open_now == 0
    assert len(crm.opened) < 12


async def test_a_client_that_goes_away_mid_file_closes_the_crm_stream():
    """On a disconnect Django drops the body where it stands (it closes its own wrapper,
    not the zip's generator) and calls the response's close(): that alone must cancel
    the fetch and close the CRM stream of a file still arriving, then run on_close."""
    crm_sends_more = asyncio.Event()  # never set: the CRM stalls mid-file
    stream_closed = asyncio.Event()
    slot_released = asyncio.Event()

    class StalledStream(FakeStream):
        async def __aiter__(self):
            yield b"x" * 1000
            await crm_sends_more.wait()
            yield b"x" * 1000

    @contextlib.asynccontextmanager
    async def open_stalled():
        try:
            yield StalledStream([], None, 2000)
        finally:
            stream_closed.set()

    async def on_close():
        slot_released.set()

    members = [ZipMember("big.bin", open_stalled)]
    response = await zip_response(members, filename="a.zip", concurrency=1, on_close=on_close)
    pieces = aiter(response.streaming_content)
    await anext(pieces)
    await pieces.aclose()
    response.close()
    # Bounded only so that a regression fails instead of hanging the run.
    await asyncio.wait_for(stream_closed.wait(), timeout=10)
    await asyncio.wait_for(slot_released.wait(), timeout=10)


async def test_the_time_limit_cuts_the_zip(caplog):
    crm = Crm(delay=0.05)
    response = await zip_response(files(crm, 40), filename="a.zip", concurrency=2, max_seconds=0.2)
    with pytest.raises(ZipBroken, match=r"longer than 0\.2 s"):
        await body_of(response)
    await asyncio.sleep(0.01)
    assert crm.open_now == 0
    # One line for the operator: the limit and how far the zip got (not a second, bare one).
    lines = [r.getMessage() for r in caplog.records if r.name == "crm_gateway.zipping"]
    assert len(lines) == 1 and "DOWNLOAD_MAX_SECONDS=0.2" in lines[0], lines


def test_names_are_flat_safe_and_unique():
    names = zip_names(
        ["../../etc/passwd", "a.pdf", "A.pdf", "a.pdf", "..", "", "con\r\nx.pdf", "b/c:d.txt",
         "README", "readme", ".hidden"]
    )  # fmt: skip
    assert names == [
        "passwd", "a.pdf", "A (2).pdf", "a (3).pdf", "file", "file (2)", "conx.pdf", "cd.txt",
        "README", "readme (2)", "hidden",
    ]  # fmt: skip


@given(st.lists(st.text(max_size=40), max_size=30))
def test_names_never_escape_and_never_repeat(raw):
    names = zip_names(raw)
    assert len(names) == len(raw)
    assert len({n.casefold() for n in names}) == len(names)
    for name in names:
        assert name and "/" not in name and "\\" not in name and name not in {".", ".."}
        assert not name.startswith(".") and len(name) <= 160
