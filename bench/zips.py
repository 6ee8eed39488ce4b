"""Downloads in bulk: one zip of 200 invoices (`/invoices/download.zip`) through the portal.

The emulator gets the growth part's account of 1,000 invoices (`seed_emulator
--large-account 1000`; left alone when it is there already), whose contact signs in.
The zip's period is the most recent stretch of that account's invoices that holds at
most 200 (the default `zip_max_files`), read from the emulator with the staff credential.
A small zip first (one invoice) warms the worker (imports, the CRM's fonts, caches); then,
while the peak resident memory of every portal worker is watched (VmHWM after a reset
through /proc/<pid>/clear_refs, and VmRSS sampled every 10 ms, bench/downloads.py's
RssWatch), the 200-invoice zip is read to its end.

Figures: the peak RSS growth of the worker that built the zip (target < 30 MB: the zip is
never held whole, memory follows `zip_concurrency` chunks), the zip's size and files,
and, from the emulator's request log, how many PDF calls were under way at once (at most
`zip_concurrency`, 4 by default). Its time is printed for information, not a target.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import time
import zipfile
from typing import Any

import httpx2 as httpx

from bench.downloads import RssWatch
from bench.growth import _contact, seed_large_accounts
from bench.stack import Stack, sign_in, staff_token

# The shipping stages contacts see by default (portal.models.DEFAULT_INVOICE_STAGES; the
# benchmark does not set Django up).
DEFAULT_INVOICE_STAGES = ("Pending", "Partially Shipped", "Shipped", "Delivered")
ACCOUNT_INVOICES = 1_000
ZIP_FILES = 200
TARGET_RSS_MB = 30.0
SUMMARY = re.compile(r"Showing \d+\u2013\d+ of (\d+)")
NUMBER_CELL = re.compile(r'data-label="Number"><a href="/invoices/[0-9a-f-]+/">([^<]+)<')


def _period(stack: Stack, account_id: str) -> tuple[str, int]:
    """`from=<date>`: the newest invoices of the account, at most ZIP_FILES of them."""
    token = staff_token(stack.emulator)
    dates: list[str] = []
    while True:
        reply = httpx.get(
            f"{stack.emulator.api_url}/data/Invoice",
            params=[
                ("fields[]", "invoice_date"),
                ("fields[]", "shipping_stage"),
                ("filters[billing_account_id]", account_id),
                ("limit", "200"),
                ("offset", str(len(dates))),
            ],
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        reply.raise_for_status()
        body = reply.json()
        dates += [
            r["invoice_date"] if r.get("shipping_stage") in DEFAULT_INVOICE_STAGES else ""
            for r in body["records"]
        ]
        if not body["records"] or len(dates) >= int(body["total_results"]):
            break
    shown = sorted((d for d in dates if d), reverse=True)
    start = dt.date.fromisoformat(shown[ZIP_FILES - 1])
    if len(shown) > ZIP_FILES and shown[ZIP_FILES] == shown[ZIP_FILES - 1]:
        start += dt.timedelta(days=1)  # that day's invoices would make more than 200
    count = sum(1 for d in shown if d >= start.isoformat())
    return f"from={start.isoformat()}", count


def _most_at_once(calls: list[dict[str, Any]]) -> int:
    edges = sorted([(c["started"], 1) for c in calls] + [(c["answered"], -1) for c in calls])
    now = most = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def _read_zip(http: httpx.Client, path: str) -> bytes:
    with http.stream("GET", path) as response:
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
        return b"".join(response.iter_raw())


async def run_zips(stack: Stack) -> dict[str, Any]:
    stack.emulator.reset_controls()
    print(f"zips: adding (or finding) the account of {ACCOUNT_INVOICES:,} invoices ...")
    seed_large_accounts(stack, (ACCOUNT_INVOICES,))
    contact = _contact(stack, ACCOUNT_INVOICES)
    session = sign_in(stack.portal.url, contact)
    query, expected = _period(stack, contact.account_id)
    headers = {"Cookie": session.cookie_header}
    with httpx.Client(base_url=stack.portal.url, headers=headers, timeout=600) as http:
        listing = http.get(f"/invoices/?{query}")
        listing.raise_for_status()
        match = SUMMARY.search(listing.text)
        shown = int(match.group(1)) if match else 0
        one = http.get("/invoices/?sort=number&dir=asc")
        number = NUMBER_CELL.search(one.text)
        warm = f"/invoices/download.zip?q={number.group(1)}" if number else "/invoices/download.zip"
        _read_zip(http, warm)
        print(f"zips: one zip of {shown} invoices ({query}) ...", flush=True)
        stack.emulator.control("DELETE", "requests")
        with RssWatch(stack.portal.worker_pids()) as memory:
            started = time.perf_counter()
            body = _read_zip(http, f"/invoices/download.zip?{query}")
            seconds = time.perf_counter() - started
        growth = memory.growth_mb()
    archive = zipfile.ZipFile(io.BytesIO(body))
    files = len(archive.namelist())
    broken = archive.testzip()
    calls = [
        c
        for c in stack.emulator.control("GET", "requests").json()["requests"]
        if c["path"].startswith("/printer/pdf/Invoice/")
    ]
    worst = max(growth.values())
    return {
        "account_invoices": ACCOUNT_INVOICES,
        "query": query,
        "expected_files": expected,
        "listed": shown,
        "files": files,
        "zip_bytes": len(body),
        "zip_intact": broken is None,
        "seconds": seconds,
        "pdf_calls": len(calls),
        "pdf_calls_at_once": _most_at_once(calls) if calls else 0,
        "rss_growth_mb": {str(pid): round(mb, 1) for pid, mb in growth.items()},
        "rss_method": "VmHWM after clear_refs + VmRSS samples"
        if memory.hwm_reset
        else "VmRSS samples every 10 ms",
        "rss_met": worst < TARGET_RSS_MB and files == shown and broken is None,
    }


def print_zips(r: dict[str, Any]) -> None:
    print()
    print(
        f"zips: {r['files']} invoices in one zip ({r['listed']} listed, {r['query']}),"
        f" {r['zip_bytes'] / 1e6:.1f} MB, {'intact' if r['zip_intact'] else 'BROKEN'},"
        f" {r['seconds']:.1f} s (information)"
    )
    print(f"  PDF calls {r['pdf_calls']}, at most {r['pdf_calls_at_once']} at once")
    growth = ", ".join(f"{mb:.1f}" for mb in r["rss_growth_mb"].values())
    print(
        f"  peak RSS growth per portal worker  {growth} MB (target < {TARGET_RSS_MB:.0f})"
        f"  {'met' if r['rss_met'] else 'MISSED'}   [{r['rss_method']}]"
    )
