"""Benchmark of the CRM gateway (not a test), measured in one run against its own emulator:

1. overhead of a 200-record list call through the gateway (allow-list, scope filters,
   record checks, typed models) as a ratio to a bare httpx2 call of the same URL;
   target <= 1.15;
2. a 200 MB download through the gateway (checked record, stream) against a direct
   httpx2 download: throughput ratio (target >= 0.8) and the peak growth of the
   process's resident memory while it runs (target < 30 MB).

Run: `uv run python -m bench gateway`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx2 as httpx

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402

from crm_emulator.demo_data import LARGE_DOCUMENT  # noqa: E402
from crm_gateway import (  # noqa: E402
    ContactGateway,
    ContactScope,
    Document,
    Invoice,
    ListQuery,
    close_http_client,
    staff_credential,
)
from tests.emulator_server import start_emulator  # noqa: E402

LIST_ROUNDS = 60
LIST_WARMUP = 5
DOWNLOAD_ROUNDS = 2
TARGET_LIST_RATIO = 1.15
TARGET_THROUGHPUT_RATIO = 0.8
TARGET_MEMORY_MB = 30.0


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Samples resident memory every 5 ms while active: peak growth over the start."""

    def __init__(self) -> None:
        self.baseline = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> PeakMemory:
        self.baseline = self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 1e6


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def find_party(api: str, headers: dict[str, str]) -> tuple[str, str]:
    """A contact of the account that owns the large document."""
    async with httpx.AsyncClient(timeout=30) as http:
        accounts = (
            await http.get(
                f"{api}/data/Document/{LARGE_DOCUMENT.id}/accounts",
                params=[("fields[]", "id")],
                headers=headers,
            )
        ).json()["records"]
        account_id = accounts[0]["id"]
        contacts = (
            await http.get(
                f"{api}/data/Contact",
                params=[("filters[primary_account_id]", account_id), ("fields[]", "id")],
                headers=headers,
            )
        ).json()["records"]
    return contacts[0]["id"], account_id


async def bench_list(
    api: str, gateway: ContactGateway, headers: dict[str, str]
) -> tuple[float, float]:
    query = ListQuery(limit=200)
    # The bare call sends exactly what the gateway sends, so the CRM does the same work.
    scoped = gateway._scoped_query("Invoice", query)
    assert scoped is not None
    params = scoped.params()
    limits = httpx.Limits(max_keepalive_connections=10, keepalive_expiry=30)
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as bare:
        counts: dict[str, int] = {}

        async def bare_call() -> None:
            response = await bare.get(f"{api}/data/Invoice", params=params, headers=headers)
            response.raise_for_status()
            counts["bare"] = len(response.json()["records"])

        async def gateway_call() -> None:
            page = await gateway.list_records(Invoice, query)
            counts["gateway"] = len(page.records)

        async def gateway_call_typed() -> None:
            # ... and the typed view of every record built, as a page showing them all does.
            page = await gateway.list_records(Invoice, query)
            counts["typed"] = sum(1 for item in page.records if item.record.amount is not None)

        calls = [bare_call, gateway_call, gateway_call_typed]
        for _ in range(LIST_WARMUP):
            for call in calls:
                await call()
        samples: dict[str, list[float]] = {call.__name__: [] for call in calls}
        for round_ in range(LIST_ROUNDS):  # interleaved, rotating who goes first
            shift = round_ % len(calls)
            for call in calls[shift:] + calls[:shift]:
                samples[call.__name__].append(await timed(call))
    assert counts["bare"] == counts["gateway"] == counts["typed"] > 0
    bare_ms, gateway_ms, typed_ms = (
        statistics.median(samples[call.__name__]) * 1000 for call in calls
    )
    ratio, typed_ratio = gateway_ms / bare_ms, typed_ms / bare_ms
    print(f"list call ({counts['bare']} invoices, medians of {LIST_ROUNDS} interleaved rounds)")
    print(f"  bare httpx2 GET + json        {bare_ms:7.2f} ms")
    print(
        f"  gateway.list_records          {gateway_ms:7.2f} ms   ratio {ratio:5.3f}"
        f" (target <= {TARGET_LIST_RATIO})"
    )
    print(
        f"  ... + typed view of each      {typed_ms:7.2f} ms   ratio {typed_ratio:5.3f}"
        " (for information)"
    )
    return ratio, typed_ratio


async def bench_download(api: str, gateway: ContactGateway, headers: dict[str, str]):
    url = f"{api}/files/download/Document/{LARGE_DOCUMENT.id}"
    size = LARGE_DOCUMENT.size

    async def direct() -> None:
        received = 0
        async with (
            httpx.AsyncClient(timeout=30, trust_env=False) as http,
            http.stream("GET", url, headers=headers) as response,
        ):
            response.raise_for_status()
            async for chunk in response.aiter_raw():
                received += len(chunk)
        assert received == size

    async def through_gateway() -> None:
        record = await gateway.get_record(Document, LARGE_DOCUMENT.id)
        received = 0
        async with gateway.download(record) as stream:
            async for chunk in stream:
                received += len(chunk)
        assert received == size == stream.content_length

    direct_times, gateway_times, growth = [], [], []
    for _ in range(DOWNLOAD_ROUNDS):
        direct_times.append(await timed(direct))
        with PeakMemory() as memory:
            gateway_times.append(await timed(through_gateway))
        growth.append(memory.growth_mb)
    mb = size / 1e6
    direct_rate = mb / min(direct_times)
    gateway_rate = mb / min(gateway_times)
    ratio = gateway_rate / direct_rate
    peak = max(growth)
    print(f"download of {mb:.0f} MB (best of {DOWNLOAD_ROUNDS})")
    print(f"  direct httpx2 stream          {direct_rate:7.1f} MB/s")
    print(
        f"  gateway.download              {gateway_rate:7.1f} MB/s   ratio {ratio:5.3f}"
        f" (target >= {TARGET_THROUGHPUT_RATIO})"
    )
    print(f"  peak memory growth            {peak:7.1f} MB   (target < {TARGET_MEMORY_MB})")
    return ratio, peak


async def run(api: str) -> int:
    settings.ONECRM_API_URL = api
    settings.ONECRM_DATA_ACCESS = "staff"
    settings.ONECRM_TIMEOUT = 30
    settings.ONECRM_DEADLINE = 60
    try:
        staff = staff_credential()
        headers = {"Authorization": await staff.authorization()}
        contact_id, account_id = await find_party(api, headers)
        gateway = ContactGateway(
            ContactScope(contact_id=contact_id, account_id=account_id), data_access="staff"
        )
        list_ratio, _ = await bench_list(api, gateway, headers)
        throughput_ratio, memory_mb = await bench_download(api, gateway, headers)
    finally:
        await close_http_client()
    ok = (
        list_ratio <= TARGET_LIST_RATIO
        and throughput_ratio >= TARGET_THROUGHPUT_RATIO
        and memory_mb < TARGET_MEMORY_MB
    )
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


def main() -> int:
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per request otherwise
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        print("seeding and starting the emulator ...", flush=True)
        server = start_emulator(Path(tmp))
        try:
            return asyncio.run(run(server.api_url))
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
