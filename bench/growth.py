"""Cost as work grows: the same pages for accounts of 10, 1,000 and 10,000 invoices.

The emulator gets three large accounts (`seed_emulator --large-account N`, see
crm_emulator/large_account.py: N invoices, N/5 documents, N/20 cases), each with a
portal contact, who signs in like the others. For each account and page (the dashboard,
the invoice list's first and last page, and, where the routes exist on this commit,
the statement and a zip of the last full quarter's invoices) the table gives:

* the CRM calls the page made and the bytes of their answers (the emulator's request
  log, in steady state: locale, settings and tokens cached, and what a page keeps per
  account, such as the dashboard's balance, within its TTL);
* the same for the account's first visit of the page (the first request of that page in
  the account's session: what a page keeps per account is not kept yet, so this is what
  a visit costs once every TTL);
* the page's median time through the portal over a few rounds, and the portal
  workers' CPU per page over the same rounds.

A page whose calls or bytes grow from 1,000 to 10,000 invoices in steady state is not
bounded; the summary names those pages (and the calls that grew), and, apart, those
whose first visit costs more because they keep an aggregate per account for a while
(that visit still grows, up to the statement's record cap).
Times grow with the emulator's own work too (it filters in Python), so the calls and
bytes are the figures to compare across sizes; the time says what a customer of that
size waits for here.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx2 as httpx

from bench.pages import browser_client
from bench.stack import Session, Stack, cpu_seconds, sign_in
from crm_emulator.large_account import large_account_email
from tests.emulator_server import ROOT
from tests.signin.crm_signin import DemoContact, demo_contacts

SIZES = (10, 1_000, 10_000)
ROUNDS = 10
# Bytes or calls growing by more than this between the two largest accounts: the page's
# cost follows the account's size. (The smallest account fills less than a page.)
UNBOUNDED_FACTOR = 2.0


def seed_large_accounts(stack: Stack, sizes: tuple[int, ...]) -> float:
    """Adds the accounts to the running emulator (it reloads on the new generation)."""
    started = time.perf_counter()
    command = [sys.executable, str(ROOT / "manage.py"), "seed_emulator"]
    for size in sizes:
        command += ["--large-account", str(size)]
    subprocess.run(command, env=stack.emulator.env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _contact(stack: Stack, size: int) -> DemoContact:
    email = large_account_email(size)
    for contact in demo_contacts(stack.emulator):
        if contact.email == email:
            return contact
    raise RuntimeError(f"no contact {email} in the emulator")


def last_full_quarter(today: dt.date) -> tuple[dt.date, dt.date]:
    first_month = 3 * ((today.month - 1) // 3) + 1
    this_quarter = dt.date(today.year, first_month, 1)
    end = this_quarter - dt.timedelta(days=1)
    start = dt.date(end.year, 3 * ((end.month - 1) // 3) + 1, 1)
    return start, end


def _last_page(html: str) -> int:
    pages = [int(n) for n in re.findall(r"[?&;]page=(\d+)", html)]
    return max(pages, default=1)


def _routes(session: Session, stack: Stack) -> list[tuple[str, str]]:
    start, end = last_full_quarter(dt.datetime.now(dt.UTC).date())
    period = f"from={start.isoformat()}&to={end.isoformat()}"
    with httpx.Client(base_url=stack.portal.url, timeout=120) as http:
        headers = {"Cookie": session.cookie_header}
        first = http.get("/invoices/", headers=headers)
        first.raise_for_status()
        routes = [
            ("dashboard", "/"),
            ("invoice list, first page", "/invoices/"),
            ("invoice list, last page", f"/invoices/?page={_last_page(first.text)}"),
        ]
        # Issue 15's pages, when this commit has them.
        for name, path in (
            ("statement", "/statement/"),
            ("zip of a quarter's invoices", f"/invoices/download.zip?{period}"),
        ):
            if http.get(path, headers=headers).status_code == 200:
                routes.append((name, path))
    return routes


async def _measure(stack: Stack, session: Session, path: str) -> dict[str, Any]:
    async with browser_client(stack, session) as client:
        stack.emulator.control("DELETE", "requests")
        (await client.get(path)).raise_for_status()  # the account's first visit of the page
        first = stack.emulator.control("GET", "requests").json()["requests"]
        (await client.get(path)).raise_for_status()  # caches warm in both workers
        stack.emulator.control("DELETE", "requests")
        (await client.get(path)).raise_for_status()
        calls = stack.emulator.control("GET", "requests").json()["requests"]
        pids = stack.portal.worker_pids()
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        times = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            response = await client.get(path)
            response.raise_for_status()
            await response.aread()
            times.append(time.perf_counter() - started)
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    return {
        "path": path,
        "crm_calls": len(calls),
        "crm_call_paths": [f"{c['method']} {c['path']}" for c in calls],
        "crm_bytes": sum(c.get("bytes") or 0 for c in calls),
        "crm_by_path": _by_path(calls),
        "first_crm_calls": len(first),
        "first_crm_bytes": sum(c.get("bytes") or 0 for c in first),
        "page_bytes": len(response.content),
        "median_ms": statistics.median(times) * 1000,
        "portal_cpu_ms_per_page": cpu / ROUNDS * 1000,
    }


async def run_growth(stack: Stack, sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    stack.emulator.reset_controls()
    print(f"growth: adding accounts of {', '.join(f'{n:,}' for n in sizes)} invoices ...")
    seeded = seed_large_accounts(stack, sizes)
    accounts: dict[str, dict[str, Any]] = {}
    for size in sizes:
        # Landing on the invoice list: the dashboard's first visit below is the account's.
        session = sign_in(stack.portal.url, _contact(stack, size), landing="/invoices/")
        routes = _routes(session, stack)
        accounts[str(size)] = {name: await _measure(stack, session, path) for name, path in routes}
    smaller = sizes[-2] if len(sizes) > 1 else sizes[0]
    smallest, largest = accounts[str(smaller)], accounts[str(sizes[-1])]
    unbounded = [
        name
        for name, small in smallest.items()
        if name in largest and _grows(small, largest[name], "crm")
    ]
    # A page keeping an aggregate per account (the dashboard's balance) costs more on the
    # account's first visit (once a TTL) than in steady state: say what that costs too.
    first_grows = [
        name
        for name, small in smallest.items()
        if name in largest
        and largest[name]["first_crm_calls"] > largest[name]["crm_calls"]
        and _grows(small, largest[name], "first_crm")
    ]
    return {
        "sizes": list(sizes),
        "seed_seconds": seeded,
        "accounts": accounts,
        "unbounded": unbounded,
        "bounded_while_cached": first_grows,
    }


ID = re.compile(r"/[0-9a-f]{8}-[0-9a-f-]{27,}")


def _by_path(calls: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Calls and bytes per method and path (record ids as {id})."""
    out: dict[str, list[int]] = {}
    for call in calls:
        counted = out.setdefault(f"{call['method']} {ID.sub('/{id}', call['path'])}", [0, 0])
        counted[0] += 1
        counted[1] += call.get("bytes") or 0
    return out


def _grown_paths(small: dict[str, Any], large: dict[str, Any]) -> list[str]:
    """The calls whose number or bytes grew most (what to look at)."""
    before, after = small.get("crm_by_path", {}), large.get("crm_by_path", {})
    grown = []
    for path, (calls, size) in sorted(after.items(), key=lambda item: -item[1][1]):
        was_calls, was_size = before.get(path, [0, 0])
        if calls > was_calls or size > UNBOUNDED_FACTOR * max(was_size, 1):
            grown.append(
                f"{path} {was_calls}->{calls} calls, {was_size / 1024:.1f}->{size / 1024:.1f} KB"
            )
    return grown


def _grows(small: dict[str, Any], large: dict[str, Any], prefix: str) -> bool:
    calls, size = f"{prefix}_calls", f"{prefix}_bytes"
    if calls not in small or calls not in large:
        return False
    return large[calls] > small[calls] or large[size] > UNBOUNDED_FACTOR * max(small[size], 1)


def print_growth(result: dict[str, Any]) -> None:
    print("\ncost as the account grows (invoices in the account; steady state):")
    print(
        f"{'page':<30}{'invoices':>9}{'CRM calls':>10}{'CRM KB':>10}{'page KB':>9}"
        f"{'time p50':>11}{'CPU ms':>8}{'1st calls':>10}{'1st KB':>10}"
    )
    names = list(result["accounts"][str(result["sizes"][0])])
    for name in names:
        for size in result["sizes"]:
            page = result["accounts"][str(size)].get(name)
            if page is None:
                continue
            print(
                f"{name:<30}{size:>9,}{page['crm_calls']:>10}{page['crm_bytes'] / 1024:>10.1f}"
                f"{page['page_bytes'] / 1024:>9.1f}{page['median_ms']:>9.1f}ms"
                f"{page['portal_cpu_ms_per_page']:>8.1f}"
                f"{page['first_crm_calls']:>10}{page['first_crm_bytes'] / 1024:>10.1f}"
            )
    missing = {"statement", "zip of a quarter's invoices"} - set(names)
    if missing:
        print(f"(not on this commit: {', '.join(sorted(missing))})")
    unbounded = result["unbounded"]
    print(
        "cost not bounded (calls or bytes grow with the account, in steady state): "
        + (", ".join(unbounded) if unbounded else "none")
    )
    sizes = result["sizes"]
    smaller, largest = str(sizes[-2] if len(sizes) > 1 else sizes[0]), str(sizes[-1])
    for name in unbounded:
        grown = _grown_paths(result["accounts"][smaller][name], result["accounts"][largest][name])
        if grown:
            print(f"  {name}: " + "; ".join(grown))
    for name in result.get("bounded_while_cached", []):
        small, large = result["accounts"][smaller][name], result["accounts"][largest][name]
        print(
            f"kept per account: {name} (steady state {small['crm_calls']} -> "
            f"{large['crm_calls']} calls); its first visit per TTL still grows: "
            f"{small['first_crm_calls']} -> {large['first_crm_calls']} calls, "
            f"{small['first_crm_bytes'] / 1024:.1f} -> {large['first_crm_bytes'] / 1024:.1f} KB "
            f"({int(smaller):,} -> {int(largest):,} invoices; at most statement_max_records "
            "invoices read)"
        )
