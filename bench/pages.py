"""Page overhead and cost per page, measured side by side in one run.

For the invoice list (20 rows), one invoice's detail page and the dashboard:

* the CRM calls the page makes are read from the emulator's request log (after a
  warm-up, so the cached locale, settings and tokens are warm as in steady state);
* each round then times the page through the portal and, right before or after it
  (alternating), the same CRM requests sent directly with a bare httpx2 client, the
  way the page's view issues them (list: one call; detail: the record, then the rest
  concurrently; dashboard: all concurrently);
* figures: the portal's median and p99 over the direct replay's median (ratios), the
  CRM calls and bytes from the CRM per page, and the portal's CPU time per page.

The dashboard is also compared with its slowest single call made alone (its calls run
concurrently, so that is the floor of its time).
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx

from bench.stack import Session, Stack, cpu_seconds, portal_token, staff_token

ROUNDS = 150
WARMUP = 15
# Loopback page time / the same CRM calls made directly (median): issue 18's targets.
TARGET_RATIOS = {"invoice list": 1.5, "invoice detail": 1.3, "dashboard": 1.3}


@dataclass
class CrmCall:
    method: str
    path: str
    query: str
    credential: str


@dataclass
class PageCase:
    name: str
    path: str
    waves: str  # "sequential", "first-then-rest" or "concurrent": how the view issues calls
    calls: list[CrmCall]


def percentile(samples: list[float], pct: int) -> float:
    """The pct-th percentile (statistics.quantiles, inclusive method)."""
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


def browser_client(stack: Stack, session: Session, connections: int = 1) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=stack.portal.url,
        headers={"Cookie": session.cookie_header},
        timeout=60,
        trust_env=False,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


async def fetch_page(client: httpx.AsyncClient, path: str) -> httpx.Response:
    response = await client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}")
    return response


def logged_calls(stack: Stack) -> list[CrmCall]:
    entries = stack.emulator.control("GET", "requests").json()["requests"]
    return [CrmCall(e["method"], e["path"], e["query"], e["credential"]) for e in entries]


async def page_calls(stack: Stack, client: httpx.AsyncClient, path: str) -> list[CrmCall]:
    """The CRM requests one steady-state request of `path` makes."""
    for _ in range(3):  # warm caches (locale, settings, tokens) in both workers
        await fetch_page(client, path)
    stack.emulator.control("DELETE", "requests")
    await fetch_page(client, path)
    return logged_calls(stack)


class DirectReplay:
    """Sends a page's CRM requests straight to the CRM with a bare httpx2 client."""

    def __init__(self, stack: Stack, session: Session) -> None:
        staff = staff_token(stack.emulator)
        self.tokens = {
            "staff": staff,
            "portal": portal_token(stack.emulator, staff, session.contact.id),
        }
        self.api = stack.emulator.api_url
        self.http = httpx.AsyncClient(
            timeout=60,
            trust_env=False,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
        )
        self.bytes_received = 0

    async def call(self, call: CrmCall) -> float:
        headers = {"Accept": "application/json"}
        token = self.tokens.get(call.credential)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = f"{self.api}{call.path}" + (f"?{call.query}" if call.query else "")
        started = time.perf_counter()
        response = await self.http.request(call.method, url, headers=headers)
        response.json()  # the portal parses every answer; so does the replay
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"direct {call.path} answered {response.status_code}")
        self.bytes_received = response.num_bytes_downloaded
        return elapsed

    async def page(self, case: PageCase) -> tuple[float, int]:
        """Wall time of the page's calls issued as its view issues them; bytes received."""
        received = 0

        async def one(call: CrmCall) -> float:
            nonlocal received
            elapsed = await self.call(call)
            received += self.bytes_received
            return elapsed

        started = time.perf_counter()
        if case.waves == "sequential":
            for call in case.calls:
                await one(call)
        elif case.waves == "first-then-rest":
            await one(case.calls[0])
            await asyncio.gather(*(one(call) for call in case.calls[1:]))
        else:
            await asyncio.gather(*(one(call) for call in case.calls))
        return time.perf_counter() - started, received

    async def slowest_alone(self, case: PageCase) -> float:
        return max([await self.call(call) for call in case.calls])

    async def aclose(self) -> None:
        await self.http.aclose()


async def find_detail_path(client: httpx.AsyncClient) -> str:
    listing = await fetch_page(client, "/invoices/")
    links = re.findall(r'href="(/invoices/[0-9a-f-]{36}/)"', listing.text)
    if not links:
        raise RuntimeError("the invoice list shows no invoice to open")
    return links[0]


def pick_session(stack: Stack) -> Session:
    """A contact whose account has at least 20 invoices (a full list page)."""
    for session in stack.sessions:
        with httpx.Client(base_url=stack.portal.url, timeout=30) as http:
            page = http.get("/invoices/", headers={"Cookie": session.cookie_header})
        rows = len(re.findall(r'href="/invoices/[0-9a-f-]{36}/"', page.text))
        if rows >= 20:
            return session
    raise RuntimeError("no signed-in contact has a full page of invoices")


async def measure_case(
    stack: Stack, client: httpx.AsyncClient, direct: DirectReplay, case: PageCase, rounds: int
) -> dict[str, Any]:
    portal_times: list[float] = []
    direct_times: list[float] = []
    alone_times: list[float] = []
    page_bytes = crm_bytes = 0
    for _ in range(WARMUP):
        await fetch_page(client, case.path)
        await direct.page(case)
    pids = stack.portal.worker_pids()
    cpu_before = sum(cpu_seconds(pid) for pid in pids)
    for round_ in range(rounds):
        portal_first = round_ % 2 == 0
        if not portal_first:
            elapsed, crm_bytes = await direct.page(case)
            direct_times.append(elapsed)
        started = time.perf_counter()
        response = await fetch_page(client, case.path)
        portal_times.append(time.perf_counter() - started)
        page_bytes = response.num_bytes_downloaded
        if portal_first:
            elapsed, crm_bytes = await direct.page(case)
            direct_times.append(elapsed)
        if case.waves == "concurrent" and round_ % 3 == 0:
            alone_times.append(await direct.slowest_alone(case))
    cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    portal_median = statistics.median(portal_times)
    direct_median = statistics.median(direct_times)
    result: dict[str, Any] = {
        "path": case.path,
        "rounds": rounds,
        "crm_calls": len(case.calls),
        "crm_call_paths": [f"{c.method} {c.path}" for c in case.calls],
        "crm_bytes": crm_bytes,
        "page_bytes": page_bytes,
        "portal_median_ms": portal_median * 1000,
        "portal_p99_ms": percentile(portal_times, 99) * 1000,
        "direct_median_ms": direct_median * 1000,
        "direct_p99_ms": percentile(direct_times, 99) * 1000,
        "ratio_median": portal_median / direct_median,
        "ratio_p99": percentile(portal_times, 99) / direct_median,
        # CPU of the portal's workers only (the direct replay runs in this process).
        "portal_cpu_ms_per_page": cpu / rounds * 1000,
        "target_ratio": TARGET_RATIOS[case.name],
    }
    if alone_times:
        slowest = statistics.median(alone_times)
        result["slowest_call_alone_median_ms"] = slowest * 1000
        result["ratio_to_slowest_call"] = portal_median / slowest
    result["met"] = result["ratio_median"] <= result["target_ratio"]
    return result


async def run_pages(stack: Stack, rounds: int = ROUNDS, latency_ms: int = 0) -> dict[str, Any]:
    """latency_ms > 0: every CRM call answers that much later, for the portal and for the
    direct replay alike (a CRM across a network rather than on loopback)."""
    stack.emulator.reset_controls()
    session = pick_session(stack)
    direct = DirectReplay(stack, session)
    results: dict[str, Any] = {}
    try:
        async with browser_client(stack, session) as client:
            detail = await find_detail_path(client)
            cases = [
                PageCase("invoice list", "/invoices/", "sequential", []),
                PageCase("invoice detail", detail, "first-then-rest", []),
                PageCase("dashboard", "/", "concurrent", []),
            ]
            for case in cases:
                case.calls = await page_calls(stack, client, case.path)
                if not case.calls:
                    raise RuntimeError(f"{case.path} made no CRM call: nothing to compare")
            if latency_ms:
                latency = {"path": "^/", "kind": "latency", "ms": latency_ms}
                stack.emulator.control("POST", "faults", json=latency)
            for case in cases:
                results[case.name] = await measure_case(stack, client, direct, case, rounds)
    finally:
        stack.emulator.reset_controls()
        await direct.aclose()
    return results


def print_pages(results: dict[str, Any]) -> None:
    print()
    print(
        f"{'page overhead':<16}{'portal p50':>11}{'p99':>9}{'direct p50':>12}"
        f"{'ratio p50':>11}{'ratio p99':>11}{'target':>8}  {'calls':>5}{'CRM KB':>8}"
        f"{'page KB':>9}{'CPU ms':>8}"
    )
    for name, r in results.items():
        target = f"<={r['target_ratio']}"
        print(
            f"{name:<16}{r['portal_median_ms']:>9.1f}ms{r['portal_p99_ms']:>7.1f}ms"
            f"{r['direct_median_ms']:>10.1f}ms{r['ratio_median']:>11.2f}{r['ratio_p99']:>11.2f}"
            f"{target:>8}  {r['crm_calls']:>5}{r['crm_bytes'] / 1024:>8.1f}"
            f"{r['page_bytes'] / 1024:>9.1f}{r['portal_cpu_ms_per_page']:>8.1f}"
            f"  {'met' if r['met'] else 'MISSED'}"
        )
        if "ratio_to_slowest_call" in r:
            print(
                f"{'':<16}slowest single call alone {r['slowest_call_alone_median_ms']:.1f} ms:"
                f" ratio {r['ratio_to_slowest_call']:.2f}"
            )
