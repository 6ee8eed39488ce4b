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
    # Where the server's stdout and stderr went, when kept (every log line it wrote).
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return self.url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def callback(self) -> str:
        return f"{self.url}/login/oauth/callback/"

    @property
    def data_dir(self) -> Path:
        return Path(self.env["PORTAL_DATA_DIR"])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        """Run a management command against this portal's database and settings."""
        return run_manage(self.env, *args)

    def wait_until_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the portal exited with code {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the portal did not answer /healthz within {seconds:.0f} seconds")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def portal_env(data_dir: Path, api_url: str, **overrides: str) -> dict[str, str]:
    """The demo's environment (DEBUG, SQLite in data_dir, local-memory cache) for a
    portal talking to the CRM at api_url; overrides win (DATABASE_URL, CACHE_URL...).

    DEBUG only so that cookies are not `Secure` on plain-HTTP loopback and static files
    need no collectstatic; errors still get the portal's own pages.
    """
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
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )


def start_portal(
    env: dict[str, str],
    *,
    setup: str = "",
    migrate: bool = True,
    workers: int = 1,
    log_path: Path | None = None,
    wait: bool = True,
) -> PortalServer:
    """Migrate, run `setup` (Python for `manage.py shell -c`), start gunicorn -k asgi on a
    free port and (unless wait=False) wait until /healthz answers."""
    if migrate or setup:
        code = "from django.core.management import call_command; "
        code += "call_command('migrate', verbosity=0); " if migrate else ""
        run_manage(env, "shell", "-c", code + setup)
    port = free_port()
    # Links and the OAuth redirect_uri point at this server, wherever the test calls from.
    env = {**env, "PORTAL_BASE_URL": f"http://127.0.0.1:{port}"}
    command = [
        sys.executable, "-m", "gunicorn", "portal.asgi:application",
        "--worker-class", "asgi", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--timeout", "60", "--graceful-timeout", "5",
    ]  # fmt: skip
    if log_path is None:
        process = subprocess.Popen([*command, "--log-level", "warning"], env=env, cwd=ROOT)
    else:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*command, "--access-logfile", "-", "--error-logfile", "-"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    server = PortalServer(f"http://127.0.0.1:{port}", process, env, log_path)
    if wait:
        server.wait_until_ready()
    return server
