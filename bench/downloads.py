"""Downloads: N concurrent downloads of the emulator's 200 MiB document through the portal.

Side by side in one run:
1. the same N downloads taken directly from the CRM with a bare httpx2 client (the
   request the portal makes, read from the emulator's log);
2. the N downloads through the portal (`/documents/<id>/download`), while the peak
   resident memory (VmHWM, reset beforehand through /proc/<pid>/clear_refs) of every
   portal worker is watched, and a dashboard request is timed over and over;
3. the same dashboard timed with nothing else running (idle), just before.

Figures: aggregate throughput through the portal as a ratio to direct (target >= 0.8),
the peak RSS growth of each portal worker (target < 50 MB) and the dashboard's median
while the downloads run as a ratio to idle (target < 1.5).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from typing import Any

import httpx2 as httpx

from bench.pages import browser_client, fetch_page, logged_calls
from bench.stack import Session, Stack, portal_token, proc_status, reset_peak_rss, staff_token
from crm_emulator.demo_data import LARGE_DOCUMENT

DOWNLOADS = 32
TARGET_THROUGHPUT_RATIO = 0.8
TARGET_RSS_MB = 50.0
TARGET_DASHBOARD_FACTOR = 1.5
IDLE_DASHBOARDS = 30


class RssWatch:
    """Peak RSS of the portal workers: VmHWM after a reset, and 10 ms samples of VmRSS
    (in case the kernel refuses clear_refs)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.baseline = {pid: proc_status(pid)["VmRSS"] for pid in pids}
        self.hwm_reset = all(reset_peak_rss(pid) for pid in pids)
        self.sampled = dict(self.baseline)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            for pid in self.pids:
                self.sampled[pid] = max(self.sampled[pid], proc_status(pid)["VmRSS"])

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def growth_mb(self) -> dict[int, float]:
        growth = {}
        for pid in self.pids:
            peak = self.sampled[pid]
            if self.hwm_reset:
                peak = max(peak, proc_status(pid)["VmHWM"])
            growth[pid] = (peak - self.baseline[pid]) / 1e6
        return growth


async def _download(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> int:
    received = 0
    async with http.stream("GET", url, headers=headers) as response:
        if response.status_code != 200:
            raise RuntimeError(f"download answered {response.status_code}")
        async for chunk in response.aiter_raw():
            received += len(chunk)
    if received != LARGE_DOCUMENT.size:
        raise RuntimeError(f"download ended after {received} of {LARGE_DOCUMENT.size} bytes")
    return received


async def _many(count: int, url: str, headers: dict[str, str], base_url: str = "") -> float:
    """Wall time of `count` concurrent downloads, each on its own connection."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=300, trust_env=False, limits=limits
    ) as http:
        started = time.perf_counter()
        await asyncio.gather(*(_download(http, url, headers) for _ in range(count)))
        return time.perf_counter() - started


def _owner_session(stack: Stack) -> Session:
    staff = staff_token(stack.emulator)
    reply = httpx.get(
        f"{stack.emulator.api_url}/data/Document/{LARGE_DOCUMENT.id}/accounts",
        params=[("fields[]", "id")],
        headers={"Authorization": f"Bearer {staff}"},
        timeout=30,
    )
    reply.raise_for_status()
    owners = {record["id"] for record in reply.json()["records"]}
    for session in stack.sessions:
        if session.contact.account_id in owners:
            return session
    raise RuntimeError("no signed-in contact belongs to the large document's account")


async def _dashboards(
    client: httpx.AsyncClient, until: asyncio.Event | None, count: int, failed: list[str]
) -> list:
    times = []
    while (until is not None and not until.is_set()) or (until is None and len(times) < count):
        started = time.perf_counter()
        try:
            await fetch_page(client, "/")
        except (RuntimeError, httpx.HTTPError) as error:
            failed.append(str(error))  # counted, and the figure says so
        else:
            times.append(time.perf_counter() - started)
        if until is not None:
            await asyncio.sleep(0.05)  # a person clicking, not a second load generator
    return times


async def run_downloads(stack: Stack, downloads: int = DOWNLOADS) -> dict[str, Any]:
    stack.emulator.reset_controls()
    session = _owner_session(stack)
    portal_path = f"/documents/{LARGE_DOCUMENT.id}/download"
    headers = {"Cookie": session.cookie_header}

    # The CRM request the portal makes for this download (credential included).
    stack.emulator.control("DELETE", "requests")
    async with (
        browser_client(stack, session) as client,
        client.stream("GET", portal_path) as probe,
    ):
        if probe.status_code != 200:
            raise RuntimeError(f"{portal_path} answered {probe.status_code}")
    crm_call = next(c for c in logged_calls(stack) if c.path.startswith("/files/download/"))
    staff = staff_token(stack.emulator)
    tokens = {"staff": staff, "portal": portal_token(stack.emulator, staff, session.contact.id)}
    direct_headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
    if crm_call.credential in tokens:
        direct_headers["Authorization"] = f"Bearer {tokens[crm_call.credential]}"
    direct_url = f"{stack.emulator.api_url}{crm_call.path}"

    total_mb = downloads * LARGE_DOCUMENT.size / 1e6
    what = f"{downloads} x {LARGE_DOCUMENT.size / 2**20:.0f} MiB"
    print(f"downloads: {what} directly ...", flush=True)
    direct_seconds = await _many(downloads, direct_url, direct_headers)

    async with browser_client(stack, session) as client:
        failed: list[str] = []
        idle = await _dashboards(client, None, IDLE_DASHBOARDS, failed)
        print(f"downloads: {what} through the portal ...", flush=True)
        with RssWatch(stack.portal.worker_pids()) as memory:
            done = asyncio.Event()
            watcher = asyncio.create_task(_dashboards(client, done, 0, failed))
            try:
                portal_seconds = await _many(downloads, portal_path, headers, stack.portal.url)
            finally:
                done.set()
                busy = await watcher
        growth = memory.growth_mb()

    direct_rate = total_mb / direct_seconds
    portal_rate = total_mb / portal_seconds
    idle_median = statistics.median(idle)
    busy_median = statistics.median(busy) if busy else float("inf")
    result = {
        "downloads": downloads,
        "size_bytes": LARGE_DOCUMENT.size,
        "direct_mb_per_s": direct_rate,
        "portal_mb_per_s": portal_rate,
        "throughput_ratio": portal_rate / direct_rate,
        "throughput_met": portal_rate / direct_rate >= TARGET_THROUGHPUT_RATIO,
        "rss_growth_mb": {str(pid): round(mb, 1) for pid, mb in growth.items()},
        "rss_method": "VmHWM after clear_refs + VmRSS samples"
        if memory.hwm_reset
        else "VmRSS samples every 10 ms",
        "rss_met": max(growth.values()) < TARGET_RSS_MB,
        "dashboard_idle_median_ms": idle_median * 1000,
        "dashboard_busy_median_ms": busy_median * 1000,
        "dashboard_busy_samples": len(busy),
        "dashboard_failures": failed,
        "dashboard_factor": busy_median / idle_median,
        "dashboard_met": busy_median / idle_median < TARGET_DASHBOARD_FACTOR and not failed,
    }
    return result


BUSY_DOWNLOADS = 4
BUSY_SECONDS = 10.0


async def _stream_for(http: httpx.AsyncClient, url: str, until: asyncio.Event) -> int:
    """One download after the other on one connection until `until` is set; bytes read."""
    received = 0
    while not until.is_set():
        async with http.stream("GET", url) as response:
            if response.status_code != 200:
                raise RuntimeError(f"download answered {response.status_code}")
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if until.is_set():
                    break
    return received


async def run_busy_dashboard(
    stack: Stack, downloads: int = BUSY_DOWNLOADS, seconds: float = BUSY_SECONDS
) -> dict[str, Any]:
    """The dashboard while a few downloads stream (what a portal sees most of the day,
    unlike the 32 at once above): its median over `seconds` against idle, same client."""
    stack.emulator.reset_controls()
    session = _owner_session(stack)
    portal_path = f"/documents/{LARGE_DOCUMENT.id}/download"
    limits = httpx.Limits(max_connections=downloads, max_keepalive_connections=downloads)
    failed: list[str] = []
    async with browser_client(stack, session) as client:
        idle = await _dashboards(client, None, IDLE_DASHBOARDS, failed)
        print(f"busy dashboard: {downloads} downloads streaming for {seconds:g} s ...", flush=True)
        async with httpx.AsyncClient(
            base_url=stack.portal.url,
            headers={"Cookie": session.cookie_header},
            timeout=300,
            trust_env=False,
            limits=limits,
        ) as http:
            done = asyncio.Event()
            streams = [
                asyncio.create_task(_stream_for(http, portal_path, done)) for _ in range(downloads)
            ]
            await asyncio.sleep(1.0)  # every download under way
            watch = asyncio.create_task(_dashboards(client, done, 0, failed))
            started = time.perf_counter()
            await asyncio.sleep(seconds)
            done.set()
            busy = await watch
            received = sum(await asyncio.gather(*streams))
            elapsed = time.perf_counter() - started + 1.0
    idle_median = statistics.median(idle)
    busy_median = statistics.median(busy) if busy else float("inf")
    return {
        "downloads": downloads,
        "seconds": seconds,
        "portal_mb_per_s": received / 1e6 / elapsed,
        "dashboard_idle_median_ms": idle_median * 1000,
        "dashboard_busy_median_ms": busy_median * 1000,
        "dashboard_busy_p99_ms": (
            statistics.quantiles(busy, n=100)[98] * 1000 if len(busy) > 1 else float("inf")
        ),
        "dashboard_busy_samples": len(busy),
        "dashboard_failures": failed,
        "dashboard_factor": busy_median / idle_median,
        "dashboard_met": busy_median / idle_median < TARGET_DASHBOARD_FACTOR and not failed,
    }


def print_busy_dashboard(r: dict[str, Any]) -> None:
    print()
    print(
        f"dashboard while {r['downloads']} downloads stream ({r['portal_mb_per_s']:.0f} MB/s"
        f" through the portal): idle {r['dashboard_idle_median_ms']:.1f} ms, busy"
        f" {r['dashboard_busy_median_ms']:.1f} ms (p99 {r['dashboard_busy_p99_ms']:.1f} ms,"
        f" {r['dashboard_busy_samples']} samples, {len(r['dashboard_failures'])} failed)"
        f"   x{r['dashboard_factor']:.2f} (target < {TARGET_DASHBOARD_FACTOR:g})"
        f"  {'met' if r['dashboard_met'] else 'MISSED'}"
    )


def print_downloads(r: dict[str, Any]) -> None:
    print()
    print(f"downloads: {r['downloads']} concurrent x {r['size_bytes'] / 2**20:.0f} MiB")
    print(
        f"  aggregate throughput  direct {r['direct_mb_per_s']:7.1f} MB/s   portal"
        f" {r['portal_mb_per_s']:7.1f} MB/s   ratio {r['throughput_ratio']:.2f}"
        f" (target >= {TARGET_THROUGHPUT_RATIO})  {'met' if r['throughput_met'] else 'MISSED'}"
    )
    growth = ", ".join(f"{mb:.1f}" for mb in r["rss_growth_mb"].values())
    print(
        f"  peak RSS growth per portal worker  {growth} MB (target < {TARGET_RSS_MB:.0f})"
        f"  {'met' if r['rss_met'] else 'MISSED'}   [{r['rss_method']}]"
    )
    print(
        f"  dashboard  idle {r['dashboard_idle_median_ms']:.1f} ms   during downloads"
        f" {r['dashboard_busy_median_ms']:.1f} ms ({r['dashboard_busy_samples']} samples,"
        f" {len(r['dashboard_failures'])} failed)"
        f"   x{r['dashboard_factor']:.2f} (target < {TARGET_DASHBOARD_FACTOR:g})"
        f"  {'met' if r['dashboard_met'] else 'MISSED'}"
    )
