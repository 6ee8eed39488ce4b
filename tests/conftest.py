"""Shared fixtures: real parts, started once per session.

`emulator` runs the 1CRM emulator as a real HTTP server in its own process, seeded with
the demo data, on a free loopback port. Tests that need Chromium, PostgreSQL or Redis
skip with a reason on a newcomer's machine; CI sets PORTAL_REQUIRE_ALL=1 so that any
such skip fails instead.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulator_server import EmulatorServer, start_emulator

REQUIRE_ALL = os.environ.get("PORTAL_REQUIRE_ALL") == "1"
# Which emulator profile the session's `emulator` runs (docs/emulator.md, "Profiles"):
# `.ci/run` runs the page, sign-in and security suites (tests/pages, tests/signin,
# tests/security) a second time with PORTAL_EMULATOR_PROFILE=strict.
EMULATOR_PROFILE = os.environ.get("PORTAL_EMULATOR_PROFILE", "") or "default"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def close_response(response) -> None:
    """Close a streamed response without closing the test's database connection.

    Django's request_finished signal closes database connections; its test client turns
    that off around the requests it makes, but not when a test closes a stream itself,
    and on PostgreSQL the test's transaction would then be gone.
    """
    from django.core.signals import request_finished
    from django.db import close_old_connections

    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def missing(reason: str) -> None:
    """Skip (newcomer's machine) or fail (CI) when a real part is not available."""
    if REQUIRE_ALL:
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _no_language_left_over() -> Iterator[None]:
    """The language middleware activates a page's language and nothing deactivates it in
    the test client's thread: a test must not hand its language (a French page's) to the
    next test, which may format words without a request."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Run browser tests last, after pytest-django's own ordering.

    Playwright's sync API keeps an event loop running in the main thread while a browser
    is open, and no async test (nor Django's async_to_sync) can run beside it; a browser
    fixture shared by several tests would otherwise stay open across other modules' tests.
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium through Playwright, one for the whole session.

    Playwright's sync API runs one event loop in the main thread: two sync instances
    cannot coexist, so every browser test shares this one (and runs last, see above).
    """
    if not CHROMIUM.exists():
        missing("Debian's Chromium (/usr/bin/chromium) is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits, cached settings and tokens do not leak from one test to the next."""
    from django.core.cache import cache

    from crm_gateway import capabilities, forget_cached_tokens

    cache.clear()
    forget_cached_tokens()
    capabilities.forget()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory) -> EmulatorServer:
    server = start_emulator(tmp_path_factory.mktemp("emulator"), profile=EMULATOR_PROFILE)
    yield server
    server.stop()


@pytest.fixture
def crm(emulator: EmulatorServer, settings) -> EmulatorServer:
    """The emulator with faults and switches cleared, and the portal pointed at it."""
    emulator.reset_controls()
    settings.ONECRM_API_URL = emulator.api_url
    return emulator


@pytest.fixture(scope="session")
def strict_emulator(request, tmp_path_factory) -> EmulatorServer:
    """An emulator started with `run_emulator --profile strict`: a CRM that reads the
    reference's silences the plainest way (its own server, its own data)."""
    if EMULATOR_PROFILE == "strict":
        yield request.getfixturevalue("emulator")
        return
    server = start_emulator(tmp_path_factory.mktemp("strict-emulator"), profile="strict")
    yield server
    server.stop()


@pytest.fixture
def strict_crm(strict_emulator: EmulatorServer, settings) -> EmulatorServer:
    """Like `crm`, on the strict emulator: controls reset to the strict profile."""
    strict_emulator.reset_controls()
    settings.ONECRM_API_URL = strict_emulator.api_url
    return strict_emulator
