"""A real portal (gunicorn, ASGI worker) on the emulator, and Debian's Chromium through
Playwright. The portal runs in its own process with its own SQLite database, exactly as
`manage.py demo` runs it, so streaming, CSP headers and sessions are the real thing.

Browser tests are marked `browser`; the session's Chromium is tests/conftest.py's
`chromium` fixture (one Playwright instance for every browser test): without
/usr/bin/chromium they skip locally and fail in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulator_server import ROOT, EmulatorServer
from tests.pages.conftest import demo  # noqa: F401 (the demo people, shared with view tests)
from tests.portal_server import PortalServer, portal_env, start_portal

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# Test runs write screenshots to an ignored folder; refresh the README's copies with
# PORTAL_SCREENSHOTS=docs/screenshots uv run pytest -m browser
SCREENSHOTS = Path(
    os.environ.get("PORTAL_SCREENSHOTS", ROOT / "tests" / "artifacts" / "screenshots")
)


@pytest.fixture(scope="session")
def portal_server(emulator: EmulatorServer, tmp_path_factory) -> Iterator[PortalServer]:
    """The portal under gunicorn's ASGI worker on the emulator, quotes decidable."""
    env = portal_env(tmp_path_factory.mktemp("portal"), emulator.api_url)
    server = start_portal(
        env,
        setup="from portal.models import PortalSettings as P; "
        "P.objects.filter(pk=P.SINGLETON_ID).update(quotes_can_decide=True)",
    )
    yield server
    server.stop()
