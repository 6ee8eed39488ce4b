"""Portal processes for the scale-out test: gunicorn's ASGI worker, several at once,
all sharing one PostgreSQL database and one Redis database."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx2 as httpx

from tests.emulator_server import ROOT, EmulatorServer, free_port


@dataclass
class PortalProcess:
    url: str
    process: subprocess.Popen
    env: dict[str, str] = field(repr=False)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def shared_env(database_url: str, cache_url: str, emulator: EmulatorServer) -> dict[str, str]:
    """One environment for every process, as a deployment gives its machines.

    DEBUG=1 only so the cookies are not `Secure` on plain-HTTP loopback and the admin's
    static files need no collectstatic; nothing here depends on it otherwise.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "CACHE_", "REDIS_", "ONECRM_"))
    }
    env.update(
        {
            "DEBUG": "1",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": database_url,
            "CACHE_URL": cache_url,
            # Our own key space in the shared Redis database, removed afterwards.
            "CACHE_KEY_PREFIX": f"scale{secrets.token_hex(4)}",
            "ONECRM_API_URL": emulator.api_url,
            "ONECRM_CLIENT_ID": "demo-portal",
            "ONECRM_CLIENT_SECRET": "demo-portal-secret",
            "ONECRM_DATA_ACCESS": "portal_auth",
            "SIGNIN_LINK_MIN_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )


def start_portals(env: dict[str, str], count: int) -> list[PortalProcess]:
    """Start `count` gunicorn masters (one ASGI worker each) on their own ports."""
    portals = []
    for _ in range(count):
        port = free_port()
        command = [
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
        ]
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        portals.append(PortalProcess(f"http://127.0.0.1:{port}", process, env))
    deadline = time.monotonic() + 30
    for portal in portals:
        while True:
            if portal.process.poll() is not None:
                raise RuntimeError(f"a portal exited with code {portal.process.returncode}")
            try:
                if httpx.get(f"{portal.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("a portal did not answer /healthz within 30 seconds")
            time.sleep(0.1)
    return portals
