"""A real portal (gunicorn, ASGI worker) on the emulator, and Debian's Chromium through
Playwright. The portal runs in its own process with its own SQLite database, exactly as
`manage.py demo` runs it, so streaming, CSP headers and sessions are the real thing.

Browser tests are marked `browser`; the session's Chromium is tests/conftest.py's
`chromium` fixture (one Playwright instance for every browser test): without
/usr/bin/chromium they skip locally and fail in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.emulator_server import ROOT, EmulatorServer, free_port
from tests.pages.conftest import demo  # noqa: F401 (the demo people, shared with view tests)

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"


@dataclass
class PortalServer:
    url: str
    process: subprocess.Popen
    env: dict[str, str] = field(repr=False)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, check=True, cwd=ROOT)


@pytest.fixture(scope="session")
def portal_server(emulator: EmulatorServer, tmp_path_factory) -> Iterator[PortalServer]:
    data_dir = tmp_path_factory.mktemp("portal")
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite:///{data_dir / 'portal.sqlite3'}",
        "CACHE_URL": "",
        "ONECRM_API_URL": emulator.api_url,
        "ONECRM_CLIENT_ID": "demo-portal",
        "ONECRM_CLIENT_SECRET": "demo-portal-secret",
        "ONECRM_DATA_ACCESS": "portal_auth",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    _manage(env, "migrate", "--verbosity", "0")
    _manage(
        env,
        "shell",
        "-c",
        "from portal.models import PortalSettings as P; "
        "P.objects.filter(pk=P.SINGLETON_ID).update(quotes_can_decide=True)",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.asgi:application",
            "--worker-class",
            "asgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    server = PortalServer(f"http://127.0.0.1:{port}", process, env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the portal exited with code {process.returncode}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        server.stop()
        raise RuntimeError("the portal did not answer /healthz within 30 seconds")
    yield server
    server.stop()
