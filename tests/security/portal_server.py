"""The portal itself as a real ASGI server (gunicorn's native ASGI worker), for tests
that need real sockets: downloads cut mid-body, clients that go away or read slowly.

Like tests/emulator_server.py: a subprocess on a free loopback port, its own SQLite
database, stderr/stdout kept in a file so tests can read every log line it wrote.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx

from tests.emulator_server import ROOT, EmulatorServer, free_port


@dataclass
class PortalServer:
    port: int
    process: subprocess.Popen
    log_path: Path
    data_dir: Path
    env: dict[str, str] = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def callback(self) -> str:
        return f"{self.base_url}/login/oauth/callback/"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def start_portal(
    data_dir: Path, crm: EmulatorServer, extra_env: dict[str, str] | None = None
) -> PortalServer:
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CACHE_URL"}},
        "DEBUG": "1",  # plain HTTP on loopback; an unhandled error would show its trace
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_DATA_DIR": str(data_dir),
        "ONECRM_API_URL": crm.api_url,
        "ONECRM_DATA_ACCESS": "portal_auth",
        "LOG_LEVEL": "INFO",
        **(extra_env or {}),
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run(
        [*manage, "migrate", "--noinput"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    port = free_port()
    log_path = data_dir / "portal-server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.asgi:application",
            "-k",
            "asgi",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "60",
            "--graceful-timeout",
            "5",
            "--access-logfile",
            "-",
            "--error-logfile",
            "-",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = PortalServer(port=port, process=process, log_path=log_path, data_dir=data_dir, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the portal exited with code {process.returncode}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError("the portal did not answer /healthz within 30 seconds")
