"""Benchmark of the 1CRM emulator (not a test): list-call latency and throughput, PDF time.

Run: `uv run python -m bench.emulator` (or `uv run python -m bench emulator` where a
`bench/__main__.py` dispatches). Starts its own seeded emulator on a free port.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx

from tests.emulator_server import start_emulator

ROUNDS = 50
THROUGHPUT_SECONDS = 5.0
THREADS = 8
BUDGET_MS = 50.0  # a 200-record list must answer within this


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def summary(name: str, samples: list[float]) -> float:
    ordered = sorted(samples)
    median = statistics.median(ordered)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(f"{name:<44} median {median:7.1f} ms   p95 {p95:7.1f} ms   max {ordered[-1]:7.1f} ms")
    return median


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="emulator-bench-") as tmp:
        print("seeding and starting the emulator ...", flush=True)
        server = start_emulator(Path(tmp))
        try:
            return run(server.api_url)
        finally:
            server.stop()


def run(api: str) -> int:
    with httpx.Client(timeout=30) as http:
        token = http.post(
            f"{api}/auth/user/access_token",
            json={
                "grant_type": "client_credentials",
                "client_id": "demo-portal",
                "client_secret": "demo-portal-secret",
            },
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def get(path: str, **params) -> httpx.Response:
            response = http.get(f"{api}{path}", headers=headers, params=params)
            response.raise_for_status()
            return response

        get("/data/Invoice", limit=200)  # warm the cache
        list_200 = summary(
            "GET /data/Invoice limit=200 (all fields)",
            [timed(lambda: get("/data/Invoice", limit=200)) for _ in range(ROUNDS)],
        )
        summary(
            "GET /data/InvoiceLine limit=200 (1,700 rows)",
            [timed(lambda: get("/data/InvoiceLine", limit=200)) for _ in range(ROUNDS)],
        )
        summary(
            "GET /data/Invoice filtered + ordered, 200",
            [
                timed(
                    lambda: get(
                        "/data/Invoice",
                        limit=200,
                        order="due_date DESC",
                        **{
                            "filters[due_date-operator]": "period_prev",
                            "filters[due_date-period]": "year",
                            "filters[shipping_stage]": "Shipped^,^Pending",
                        },
                    )
                )
                for _ in range(ROUNDS)
            ],
        )
        invoice = get("/data/Invoice", limit=1).json()["records"][0]["id"]
        summary(
            "GET /tally/Invoice/{id}",
            [timed(lambda: get(f"/tally/Invoice/{invoice}")) for _ in range(20)],
        )
        pdf = summary(
            "GET /printer/pdf/Invoice/{id}",
            [timed(lambda: get(f"/printer/pdf/Invoice/{invoice}")) for _ in range(10)],
        )

    def worker(deadline: float) -> int:
        done = 0
        with httpx.Client(timeout=30, headers=headers) as client:
            while time.perf_counter() < deadline:
                client.get(f"{api}/data/Invoice", params={"limit": 200}).raise_for_status()
                done += 1
        return done

    deadline = time.perf_counter() + THROUGHPUT_SECONDS
    with ThreadPoolExecutor(THREADS) as pool:
        calls = sum(pool.map(worker, [deadline] * THREADS))
    print(
        f"throughput, {THREADS} clients, 200-record lists: "
        f"{calls / THROUGHPUT_SECONDS:.0f} calls/s ({calls} in {THROUGHPUT_SECONDS:.0f} s)"
    )
    print(f"PDF print: {pdf:.0f} ms median")
    verdict = "OK" if list_200 < BUDGET_MS else "TOO SLOW"
    print(f"200-record list: {list_200:.1f} ms median (budget {BUDGET_MS:.0f} ms): {verdict}")
    return 0 if list_200 < BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
