"""Start the portal as a real server (gunicorn's ASGI worker), as production runs it.

For browser tests, streaming and fault tests, scale-out tests and benchmarks: one way to
set up a portal process, so they all test the same thing.
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx

from tests.emulator_server import ROOT, free_port


@dataclass
class PortalServer:
    url: str
    process: subprocess.Popen
    env: dict[str, str] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        """Run a management command against this portal's database and settings."""
        return run_manage(self.env, *args)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def portal_env(data_dir: Path, api_url: str, **overrides: str) -> dict[str, str]:
    """The demo's environment (DEBUG, SQLite in data_dir, local-memory cache) for a
    portal talking to the CRM at api_url; overrides win (DATABASE_URL, CACHE_URL...)."""
    env = {
        **os.environ,
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite:///{data_dir / 'portal.sqlite3'}",
        "CACHE_URL": "",
        "ONECRM_API_URL": api_url,
        "ONECRM_CLIENT_ID": "demo-portal",
        "ONECRM_CLIENT_SECRET": "demo-portal-secret",
        "ONECRM_DATA_ACCESS": "portal_auth",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    env.update(overrides)
    return env


def run_manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, check=True, cwd=ROOT
    )


def start_portal(
    env: dict[str, str], *, setup: str = "", migrate: bool = True, workers: int = 1
) -> PortalServer:
    """Migrate, run `setup` (Python for `manage.py shell -c`), start gunicorn -k asgi on a
    free port and wait until /healthz answers."""
    if migrate or setup:
        code = "from django.core.management import call_command; "
        code += "call_command('migrate', verbosity=0); " if migrate else ""
        run_manage(env, "shell", "-c", code + setup)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "portal.asgi:application",
            "--worker-class", "asgi", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--log-level", "warning",
        ],
        env=env,
        cwd=ROOT,
    )  # fmt: skip
    server = PortalServer(f"http://127.0.0.1:{port}", process, env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the portal exited with code {process.returncode}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError("the portal did not answer /healthz within 60 seconds")
