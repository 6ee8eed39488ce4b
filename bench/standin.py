"""A CRM stand-in for the load test: recorded replies, a fixed latency, almost no CPU.

`python -m bench.standin --upstream http://127.0.0.1:PORT --port P --latency-ms 50`

A bare asyncio HTTP/1.1 server (no framework, no parsing beyond the request line and
Content-Length). The first time it sees a request (method, target with its query
string, credential and body) it forwards it to the upstream (the emulator) and records
the reply (a 2xx one); from then on it answers that request from the recording. Every
answer leaves `latency` after the request arrived (`loop.call_at`, no thread, no sleep
per request). So once the load test's warm-up has met every request its pages make,
the CRM costs the machine next to nothing, and what runs out of CPU is the portal.

`GET /__standin__/stats` answers `{"hits": n, "misses": n, "recorded": n}`;
`DELETE /__standin__/stats` zeroes the counters (the recordings stay). The load test
reports the misses of its measured seconds (they should be none).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from urllib.parse import urlsplit

import httpx2 as httpx

STATS_PATH = b"/__standin__/stats"
# Request headers the upstream needs to answer as it would the portal (credentials,
# what it accepts); everything else (Host, connection handling) is the stand-in's own.
FORWARDED = ("authorization", "accept", "content-type", "x-http-method-override")


def _reply(status: int, reason: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class StandIn:
    def __init__(self, upstream: str, latency: float) -> None:
        self.upstream = upstream.rstrip("/")
        self.latency = latency
        # (method, target, credential, body) -> the reply: the same path answers each
        # contact with their own records, and POST /portal/auth each with their token.
        self.recorded: dict[tuple[bytes, bytes, str, bytes], bytes] = {}
        self.hits = self.misses = 0
        self.pending: set[asyncio.Task] = set()  # forwards under way (the loop keeps weak refs)
        self.http = httpx.AsyncClient(timeout=120, trust_env=False)

    async def forward(
        self, method: bytes, target: bytes, headers: dict, body: bytes
    ) -> tuple[int, bytes]:
        reply = await self.http.request(
            method.decode(),
            self.upstream + target.decode("latin-1"),
            headers={k: v for k, v in headers.items() if k in FORWARDED},
            content=body or None,
        )
        content_type = reply.headers.get("content-type", "application/json")
        status = reply.status_code
        return status, _reply(status, reply.reason_phrase, content_type, reply.content)

    def stats(self, method: bytes) -> bytes:
        if method == b"DELETE":
            self.hits = self.misses = 0
        body = {"hits": self.hits, "misses": self.misses, "recorded": len(self.recorded)}
        return _reply(200, "OK", "application/json", json.dumps(body).encode())


class Connection(asyncio.Protocol):
    def __init__(self, server: StandIn) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].split(b"\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, target, _version = head[0].split(b" ", 2)
            self.answer(method, target, headers, body)

    def answer(self, method: bytes, target: bytes, headers: dict, body: bytes) -> None:
        server = self.server
        loop = asyncio.get_running_loop()
        due = loop.time() + server.latency
        if target.startswith(STATS_PATH):
            self.send(server.stats(method))
            return
        key = (method, target, headers.get("authorization", ""), body)
        recorded = server.recorded.get(key)
        if recorded is not None:
            server.hits += 1
            loop.call_at(due, self.send, recorded)
            return
        server.misses += 1
        task = loop.create_task(self.record(key, headers, due))
        server.pending.add(task)
        task.add_done_callback(server.pending.discard)

    async def record(self, key: tuple[bytes, bytes, str, bytes], headers: dict, due: float) -> None:
        method, target, _credential, body = key
        try:
            status, reply = await self.server.forward(method, target, headers, body)
        except httpx.HTTPError as error:
            reply = _reply(502, "Bad Gateway", "text/plain", str(error).encode())
        else:
            if 200 <= status < 300:  # an error is the upstream's moment, not its answer
                self.server.recorded[key] = reply
        delay = due - asyncio.get_running_loop().time()
        await asyncio.sleep(max(0.0, delay))
        self.send(reply)

    def send(self, reply: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(upstream: str, port: int, latency_ms: float) -> None:
    server = StandIn(upstream, latency_ms / 1000)
    loop = asyncio.get_running_loop()
    listening = await loop.create_server(
        lambda: Connection(server), "127.0.0.1", port, backlog=1024
    )
    async with listening:
        await listening.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.standin", description=__doc__)
    parser.add_argument("--upstream", required=True, help="the emulator's origin, no path")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    if urlsplit(args.upstream).path not in ("", "/"):
        parser.error("--upstream is an origin: scheme, host and port only")
    asyncio.run(serve(args.upstream, args.port, args.latency_ms))


if __name__ == "__main__":
    main()
