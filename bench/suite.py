"""The portal benchmark suite: `uv run python -m bench [PART ...] [options]`.

Parts: pages, load, downloads, busy-dashboard, zips, growth (all by default); profile,
statement.
Starts the emulator and the portal (gunicorn's ASGI worker, DEBUG off) once, signs in
contacts through the CRM's OAuth page, runs the parts asked for (all by default), prints
a table, then every issue 18 target with "met" or "missed" (bench/targets.py), and
writes every figure to bench/results/<date>-<commit>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from bench.downloads import (
    DOWNLOADS,
    print_busy_dashboard,
    print_downloads,
    run_busy_dashboard,
    run_downloads,
)
from bench.growth import print_growth, run_growth
from bench.load import LATENCY_MS, SECONDS, print_load, run_load
from bench.pages import ROUNDS, print_pages, run_pages
from bench.stack import running_stack
from bench.targets import as_json, checks, print_checks
from bench.zips import print_zips, run_zips
from tests.emulator_server import ROOT

# zips and growth come last: they add large accounts to the emulator the others read.
PARTS = ("pages", "load", "downloads", "busy-dashboard", "zips", "growth")
# Not part of a full run: py-spy over the workers (bench/profile.py); the statement of
# account on large accounts (bench/statement.py).
EXTRAS = ("profile", "statement")
RESULTS = ROOT / "bench" / "results"


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("parts", nargs="*", help=f"any of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="portal processes (default 2)")
    parser.add_argument(
        "--db",
        choices=["auto", "services", "sqlite"],
        default="auto",
        help="auto: PostgreSQL + Redis when both answer on 127.0.0.1, else SQLite",
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per page")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="seconds per load level")
    parser.add_argument(
        "--downloads",
        type=int,
        default=DOWNLOADS,
        help=f"concurrent 200 MiB downloads (default {DOWNLOADS}; scale down on a slow machine)",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results")
    parser.add_argument("--clients", type=int, default=8, help="profile: concurrent clients")
    parser.add_argument("--top", type=int, default=40, help="profile: functions to list")
    parser.add_argument("--keep", default="", help="profile: directory for py-spy's samples")
    args = parser.parse_args(argv)
    unknown = [part for part in args.parts if part not in (*PARTS, *EXTRAS)]
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}: choose from {', '.join(PARTS)}")
    return args


async def run(args: argparse.Namespace, parts: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with running_stack(workers=args.workers, db=args.db) as stack:
        results["services"] = stack.services.kind
        results["workers"] = stack.workers
        results["signed_in_contacts"] = len(stack.sessions)
        if "pages" in parts:
            print("pages: portal vs the same CRM calls made directly ...", flush=True)
            results["pages"] = await run_pages(stack, args.rounds)
            print_pages(results["pages"])
            print(f"\nthe same, every CRM call {LATENCY_MS} ms late (a CRM across a network):")
            results["pages_with_latency"] = await run_pages(
                stack, max(args.rounds // 3, 20), latency_ms=LATENCY_MS
            )
            results["pages_with_latency_ms"] = LATENCY_MS
            print_pages(results["pages_with_latency"])
        if "load" in parts:
            print("\nload: 1, 16 and 64 clients ...", flush=True)
            results["load"] = await run_load(stack, args.seconds)
            print_load(results["load"])
        if "downloads" in parts:
            results["downloads"] = await run_downloads(stack, args.downloads)
            print_downloads(results["downloads"])
        if "busy-dashboard" in parts:
            results["busy_dashboard"] = await run_busy_dashboard(stack)
            print_busy_dashboard(results["busy_dashboard"])
        if "zips" in parts:
            results["zips"] = await run_zips(stack)
            print_zips(results["zips"])
        if "growth" in parts:
            results["growth"] = await run_growth(stack)
            print_growth(results["growth"])
        if "statement" in parts:
            from bench.statement import print_statement, run_statement

            results["statement"] = await run_statement(stack)
            print_statement(results["statement"])
        if "profile" in parts:
            from bench.profile import run_profile

            await run_profile(stack, args.seconds, args.clients, args.top, args.keep)
    return results


def main(argv: list[str]) -> int:
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    args = parse(argv)
    parts = list(dict.fromkeys(args.parts)) or list(PARTS)
    started = dt.datetime.now(dt.UTC)
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    report: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"),
        "commit": commit,
        "tree_dirty": dirty,
        "machine": machine(),
        "parts": parts,
        "options": {k: v for k, v in vars(args).items() if k != "parts"},
    }
    report.update(asyncio.run(run(args, parts)))
    found = checks(report)
    print_checks(found)
    report["targets"] = as_json(found)
    report["duration_seconds"] = round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1)
    if not args.no_save and set(parts) & {*PARTS, "statement"}:
        RESULTS.mkdir(exist_ok=True)
        name = f"{started:%Y-%m-%dT%H%M}-{commit}.json"
        (RESULTS / name).write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nresults: {(RESULTS / name).relative_to(ROOT)}")
    return 0
