"""Benchmark of the emulator's demo data (not a test): what building it costs a seed.

`build_demo_data(today)` runs whenever an emulator is seeded: at the start of every test
session (each emulator profile), `manage.py demo --reseed` and every benchmark run. It
used to be a timed test (under 2 s); a wall-clock limit fails on a loaded machine and
passes a slowdown on a fast one, so here the build is measured side by side with the rest
of the seed it feeds, in one run on a temporary SQLite database:

1. the build alone, warm (the PDF library imported once before), median of BUILD_ROUNDS;
2. `seed_emulator --reset`, median of SEED_ROUNDS: the build again, plus the files, the
   rows, the links and the credentials written. The seed less the build is "the rest".

Target: the build at most DEMO_DATA_TO_REST times the rest (bench/targets.py). A build
that grew slower (a quadratic lookup, PDFs drawn twice) pushes the ratio up whatever the
machine. Also printed, for information: the first build in the process over a warm one
(the first pays for importing fpdf2, as a fresh `seed_emulator` process does; that
import is most of what the timed test measured, and why it failed on a busy machine).

Run: `uv run python -m bench demo_data`.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import statistics
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

BUILD_ROUNDS = 5
SEED_ROUNDS = 3
TODAY = dt.date(2026, 11, 29)


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="demo-data-bench-") as tmp:
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "crm_emulator.settings",
                "PORTAL_DATA_DIR": tmp,
                "DATABASE_URL": f"sqlite:///{Path(tmp) / 'portal.sqlite3'}",
                "EMULATOR_DATABASE_URL": f"sqlite:///{Path(tmp) / 'emulator.sqlite3'}",
            }
        )
        import django

        django.setup()
        return run()


def run() -> int:
    from django.core.management import call_command

    from bench.targets import DEMO_DATA_TO_REST, _at_most, print_checks
    from crm_emulator.demo_data import build_demo_data

    def seed() -> None:
        with redirect_stdout(io.StringIO()):  # its "emulator seeded: ..." line
            call_command("seed_emulator", "--reset")

    first = timed(lambda: build_demo_data(TODAY))
    builds = [timed(lambda: build_demo_data(TODAY)) for _ in range(BUILD_ROUNDS)]
    seed()  # the tables created, the database file grown once
    seeds = [timed(seed) for _ in range(SEED_ROUNDS)]
    build, seeded = statistics.median(builds), statistics.median(seeds)
    rest = max(seeded - build, 1e-3)
    print(f"build_demo_data, first in the process   {first * 1000:8.0f} ms")
    print(f"build_demo_data, warm (median of {BUILD_ROUNDS})     {build * 1000:8.0f} ms")
    print(f"seed_emulator --reset (median of {SEED_ROUNDS})     {seeded * 1000:8.0f} ms")
    print(f"the rest of the seed                    {rest * 1000:8.0f} ms")
    print(f"first build / warm build                {first / build:8.2f}   (information)")
    found = [_at_most("demo data build / the rest of the seed", build / rest, DEMO_DATA_TO_REST)]
    print_checks(found, title="demo data")
    return 0 if all(check.met for check in found) else 1


if __name__ == "__main__":
    sys.exit(main())
