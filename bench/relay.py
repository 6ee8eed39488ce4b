"""What relaying a download costs per MiB: bytes copied, chunks (loop turns) and CPU.

One 200 MiB document from the emulator, in this process, three ways:
1. read straight off a socket (asyncio streams, 256 KiB reads): the floor, one copy
   from the kernel per byte;
2. through the gateway's stream (httpx2, httpcore2, h11);
3. the portal's whole relay: the gateway's stream, `stream_response` (time limit,
   download slot), Django's ASGI chunking and a send that drops the bytes, as the
   server's write would take them.

The copies in Python's HTTP stack are counted where they happen (h11's receive buffer:
`+=`, and the two slices of `maybe_extract_at_most`; httpcore's `bytes(event.data)`
per chunk), by wrapping those methods for the measurement only. The server's side is
not counted here: gunicorn writes a body of 256 KiB to the transport without joining it
to its framing, and asyncio keeps an unsent rest as a memoryview.

Run: `uv run python -m bench relay`.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.gateway import find_party, settings, start_emulator
from crm_emulator.demo_data import LARGE_DOCUMENT
from crm_gateway import ContactGateway, ContactScope, Document, close_http_client, staff_credential

MIB = 1024 * 1024
READ = 256 * 1024


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CopyCounter:
    """Bytes copied by h11's receive buffer while active (measurement only)."""

    def __init__(self) -> None:
        self.copied: Counter[str] = Counter()
        self._undo: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> CopyCounter:
        from h11._receivebuffer import ReceiveBuffer

        copied = self.copied
        iadd, extract, at_most = (
            ReceiveBuffer.__iadd__,
            ReceiveBuffer._extract,
            ReceiveBuffer.maybe_extract_at_most,
        )

        def counted_iadd(buffer, data):
            copied["h11 buffer +="] += len(data)
            return iadd(buffer, data)

        def counted_extract(buffer, count):
            copied["h11 _extract slice"] += min(count, len(buffer))
            return extract(buffer, count)

        def counted_at_most(buffer, count):
            copied["h11 maybe_extract_at_most probe slice"] += min(count, len(buffer))
            return at_most(buffer, count)

        for name, new, old in (
            ("__iadd__", counted_iadd, iadd),
            ("_extract", counted_extract, extract),
            ("maybe_extract_at_most", counted_at_most, at_most),
        ):
            self._undo.append((ReceiveBuffer, name, old))
            setattr(ReceiveBuffer, name, new)
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, old in self._undo:
            setattr(owner, name, old)


async def raw_socket(api: str, authorization: str) -> dict[str, float]:
    url = urlsplit(f"{api}/files/download/Document/{LARGE_DOCUMENT.id}")
    reader, writer = await asyncio.open_connection(url.hostname, url.port, limit=READ * 2)
    writer.write(
        f"GET {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: {authorization}\r\n"
        "Accept-Encoding: identity\r\nConnection: close\r\n\r\n".encode()
    )
    await reader.readuntil(b"\r\n\r\n")  # the status line and headers
    started, cpu = time.perf_counter(), _cpu()
    received = chunks = 0
    while data := await reader.read(READ):
        received += len(data)
        chunks += 1
    writer.close()
    return _figures(received, chunks, started, cpu, Counter())


async def gateway_stream(gateway: ContactGateway) -> dict[str, float]:
    record = await gateway.get_record(Document, LARGE_DOCUMENT.id)
    with CopyCounter() as copies:
        started, cpu = time.perf_counter(), _cpu()
        received = chunks = 0
        async with gateway.download(record) as stream:
            async for chunk in stream:
                received += len(chunk)
                chunks += 1
    copies.copied["httpcore bytes(event.data)"] += received
    return _figures(received, chunks, started, cpu, copies.copied)


async def portal_relay(gateway: ContactGateway) -> dict[str, float]:
    from django.core.handlers.asgi import ASGIHandler

    from crm_gateway import stream_response
    from portal.asgi import RELAY_CHUNK_BYTES

    class Handler(ASGIHandler):
        chunk_size = RELAY_CHUNK_BYTES

    record = await gateway.get_record(Document, LARGE_DOCUMENT.id)
    with CopyCounter() as copies:
        started, cpu = time.perf_counter(), _cpu()
        received = chunks = 0
        response = await stream_response(gateway.download(record))
        async for part in response:
            for chunk, _last in Handler.chunk_bytes(part):
                received += len(chunk)  # the server's send: handed to the transport
                chunks += 1
        response.close()
    copies.copied["httpcore bytes(event.data)"] += received
    return _figures(received, chunks, started, cpu, copies.copied)


def _figures(received: int, chunks: int, started: float, cpu: float, copied: Counter) -> dict:
    mib = received / MIB
    if received != LARGE_DOCUMENT.size:
        raise RuntimeError(f"read {received} of {LARGE_DOCUMENT.size} bytes")
    return {
        "mib": mib,
        "seconds": time.perf_counter() - started,
        "cpu_ms_per_mib": 1000 * (_cpu() - cpu) / mib,
        "chunks_per_mib": chunks / mib,
        # + 1: the socket read itself, the kernel's copy into the process
        "copies_per_byte": 1 + sum(copied.values()) / received,
        "copied": {name: round(count / received, 2) for name, count in copied.items()},
    }


async def run(api: str) -> dict[str, Any]:
    settings.ONECRM_API_URL = api
    settings.ONECRM_DATA_ACCESS = "staff"
    settings.ONECRM_TIMEOUT = 30
    settings.ONECRM_DEADLINE = 120
    settings.DOWNLOAD_MAX_SECONDS = 600
    results: dict[str, Any] = {}
    try:
        authorization = await staff_credential().authorization()
        contact_id, account_id = await find_party(api, {"Authorization": authorization})
        gateway = ContactGateway(
            ContactScope(contact_id=contact_id, account_id=account_id), data_access="staff"
        )
        for name, measure in (
            ("socket", lambda: raw_socket(api, authorization)),
            ("gateway stream", lambda: gateway_stream(gateway)),
            ("portal relay", lambda: portal_relay(gateway)),
        ):
            results[name] = await measure()
    finally:
        await close_http_client()
    return results


def print_relay(results: dict[str, Any]) -> None:
    print(f"\nrelay of {LARGE_DOCUMENT.size / MIB:.0f} MiB, in one process")
    print(f"  {'way':<16}{'MB/s':>8}{'CPU ms/MiB':>12}{'chunks/MiB':>12}{'copies/byte':>13}")
    for name, r in results.items():
        rate = r["mib"] * MIB / 1e6 / r["seconds"]
        print(
            f"  {name:<16}{rate:8.0f}{r['cpu_ms_per_mib']:12.2f}{r['chunks_per_mib']:12.2f}"
            f"{r['copies_per_byte']:13.2f}"
        )
    for name, r in results.items():
        for where, per_byte in r["copied"].items():
            print(f"    {name}: {where}: {per_byte} per byte")


def main() -> int:
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        print("seeding and starting the emulator ...", flush=True)
        server = start_emulator(Path(tmp))
        try:
            print_relay(asyncio.run(run(server.api_url)))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
