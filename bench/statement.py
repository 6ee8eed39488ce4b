"""The statement of account on large accounts: memory and CRM calls as the account grows.

`uv run python -m bench statement` (not part of a full run) adds accounts of 1,000 and
10,000 invoices to the emulator (`seed_emulator --large-account N`, with their payments),
signs their contacts in, and for the statement of the last 12 months, its PDF and its
CSV measures, after two warm-up requests:

* the lines shown (open items and payments) and the CRM calls made (the request log),
  every call's `limit` (never above 200, their sum never above `statement_max_records`);
* the portal workers' peak resident memory growth while answering (VmHWM after a reset,
  as bench/downloads.py measures it), and MB per 1,000 lines;
* the median time of three rounds (information: this machine is shared).

Targets: at 10,000 invoices the growth stays under 30 MB for each of the three, and the
growth from the 1,000-invoice account to the 10,000-invoice one is no more than the
lines' growth (memory follows what is shown, bounded by the cap, never the account).
"""

from __future__ import annotations

import re
import statistics
import time
from typing import Any
from urllib.parse import parse_qs

import httpx2 as httpx

from bench.downloads import RssWatch
from bench.growth import _contact, seed_large_accounts
from bench.stack import Stack, sign_in

SIZES = (1_000, 10_000)
ROUNDS = 3
TARGET_RSS_MB = 30.0
QUERY = "?period=last_12_months"
ROUTES = (
    ("page", f"/statement/{QUERY}"),
    ("pdf", f"/statement.pdf{QUERY}"),
    ("csv", f"/statement.csv{QUERY}"),
)


def _lines(html: str) -> int:
    return len(re.findall(r"<tr data-(?:invoice|payment)=", html))


def _measure(stack: Stack, cookie: str, path: str) -> dict[str, Any]:
    headers = {"Cookie": cookie}
    with httpx.Client(base_url=stack.portal.url, timeout=300) as http:
        for _ in range(2):  # imports, fonts, caches and tokens warm in the workers
            http.get(path, headers=headers).raise_for_status()
        stack.emulator.control("DELETE", "requests")
        times: list[float] = []
        with RssWatch(stack.portal.worker_pids()) as memory:
            for _ in range(ROUNDS):
                started = time.perf_counter()
                response = http.get(path, headers=headers)
                response.raise_for_status()
                times.append(time.perf_counter() - started)
        calls = stack.emulator.control("GET", "requests").json()["requests"]
    lists = [c for c in calls if c["path"] in {"/data/Invoice", "/data/Payment"}]
    limits = [int(parse_qs(c["query"]).get("limit", ["0"])[0]) for c in lists]
    return {
        "path": path,
        "bytes": len(response.content),
        "crm_list_calls_per_request": len(lists) / ROUNDS,
        "largest_limit": max(limits, default=0),
        "rss_growth_mb": round(max(memory.growth_mb().values()), 1),
        "median_ms": round(statistics.median(times) * 1000, 1),
    }


async def run_statement(stack: Stack, sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    stack.emulator.reset_controls()
    print(f"statement: adding accounts of {', '.join(f'{n:,}' for n in sizes)} invoices ...")
    seeded = seed_large_accounts(stack, sizes)
    accounts: dict[str, Any] = {}
    for size in sizes:
        session = sign_in(stack.portal.url, _contact(stack, size))
        with httpx.Client(base_url=stack.portal.url, timeout=300) as http:
            page = http.get(ROUTES[0][1], headers={"Cookie": session.cookie_header})
            page.raise_for_status()
        lines = _lines(page.text)
        measured = {name: _measure(stack, session.cookie_header, path) for name, path in ROUTES}
        for figures in measured.values():
            figures["mb_per_1000_lines"] = round(figures["rss_growth_mb"] / max(lines, 1) * 1000, 2)
        accounts[str(size)] = {"lines": lines, **measured}
    small, large = accounts[str(sizes[0])], accounts[str(sizes[-1])]
    line_growth = large["lines"] / max(small["lines"], 1)
    checks = {}
    for name, _path in ROUTES:
        growth = large[name]["rss_growth_mb"] / max(small[name]["rss_growth_mb"], 0.1)
        checks[name] = {
            "rss_under_target": large[name]["rss_growth_mb"] < TARGET_RSS_MB,
            "rss_growth_ratio": round(growth, 2),
            "follows_lines_not_account": growth <= max(line_growth, 1.0) * 1.25,
            "limit_within_page": large[name]["largest_limit"] <= 200,
        }
    return {
        "sizes": list(sizes),
        "seed_seconds": round(seeded, 1),
        "accounts": accounts,
        "line_growth_ratio": round(line_growth, 2),
        "checks": checks,
    }


def print_statement(result: dict[str, Any]) -> None:
    print("\nstatement of the last 12 months, as the account grows:")
    print(f"{'file':<6}{'invoices':>9}{'lines':>7}{'CRM lists':>10}{'RSS +MB':>9}"
          f"{'MB/1k lines':>12}{'KB':>8}{'p50':>10}")  # fmt: skip
    for name, _path in ROUTES:
        for size in result["sizes"]:
            account = result["accounts"][str(size)]
            f = account[name]
            print(
                f"{name:<6}{size:>9,}{account['lines']:>7}{f['crm_list_calls_per_request']:>10.1f}"
                f"{f['rss_growth_mb']:>9.1f}{f['mb_per_1000_lines']:>12.2f}"
                f"{f['bytes'] / 1024:>8.0f}{f['median_ms']:>8.0f}ms"
            )
    print(f"lines grew {result['line_growth_ratio']}x from the smaller account to the larger")
    for name, check in result["checks"].items():
        verdict = "met" if all(v for k, v in check.items() if k != "rss_growth_ratio") else "MISSED"
        print(
            f"  {name}: RSS growth x{check['rss_growth_ratio']} "
            f"(< {TARGET_RSS_MB:.0f} MB at the larger: {check['rss_under_target']}; "
            f"follows the lines: {check['follows_lines_not_account']}) {verdict}"
        )
