"""Start and drive the 1CRM emulator as a real server for tests and benchmarks."""

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "emulator-admin-for-tests"
STARTUP_TIMEOUT = 90  # seconds; generous because CI machines can be heavily loaded


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class EmulatorServer:
    port: int
    process: subprocess.Popen
    env: dict[str, str] = field(repr=False)
    profile: str = "default"  # the `run_emulator --profile` it was started with
    _vocabulary: dict | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/1crm/api.php"

    def control(self, method: str, path: str, **kwargs) -> httpx.Response:
        """Call the emulator's admin-only control API (faults, switches, request log)."""
        if method != "GET":
            self._vocabulary = None  # a reset or a switch may change it
        response = httpx.request(
            method,
            f"{self.base_url}/__emulator__/{path}",
            headers={"X-Emulator-Admin": ADMIN_TOKEN},
            timeout=10,
            **kwargs,
        )
        response.raise_for_status()
        return response

    def reset_controls(self, profile: str | None = None) -> None:
        """Faults, logs and switches cleared; switches as in `profile` (default: the
        profile the server was started with)."""
        self.control("POST", "reset", json={"profile": profile} if profile else None)

    def vocabulary(self) -> dict[tuple[str, str], dict[str, str]]:
        """Demo value -> this server's key, for the fields whose keys its current
        `vocabulary` switch changes (empty in the demo's vocabulary)."""
        from crm_emulator.profiles import INSTALLATION_VOCABULARY

        if self._vocabulary is None:
            own = self.control("GET", "switches").json().get("vocabulary") == "installation"
            self._vocabulary = INSTALLATION_VOCABULARY if own else {}
        return self._vocabulary

    def key(self, model: str, field_name: str, demo_value: str) -> str:
        """A demo stage or status (`Delivered`) as this server's records and writes say
        it (`Zugestellt` in the strict profile's vocabulary)."""
        return self.vocabulary().get((model, field_name), {}).get(demo_value, demo_value)

    def demo_value(self, model: str, field_name: str, key: str | None) -> str | None:
        """The other way: this server's key as the demo's value."""
        mapping = self.vocabulary().get((model, field_name), {})
        return next((demo for demo, own in mapping.items() if own == key), key)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def most_at_once(calls: list[dict]) -> int:
    """The most calls of the emulator's request log that were under way at one instant
    (its `started` and `answered` stamps): concurrency shown by the calls themselves, not
    by a wall-clock time a busy machine stretches. A call still under way counts as such."""
    edges = sorted(
        [(c["started"], 1) for c in calls]
        + [(c["answered"], -1) for c in calls if c["answered"] is not None],
        key=lambda edge: (edge[0], edge[1]),
    )
    now = most = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def staff_token(api_url: str) -> str:
    """The demo API client's `client_credentials` token: the staff credential the portal
    uses, for tests that read the CRM's own view of the data (ids, counts, the log)."""
    reply = httpx.post(
        f"{api_url}/auth/user/access_token",
        json={
            "grant_type": "client_credentials",
            "client_id": "demo-portal",
            "client_secret": "demo-portal-secret",
            "scope": "read write profile",
        },
        timeout=10,
    )
    reply.raise_for_status()
    return reply.json()["access_token"]


def start_emulator(
    data_dir: Path, extra_env: dict[str, str] | None = None, profile: str = "default"
) -> EmulatorServer:
    env = {
        **os.environ,
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "crm_emulator.settings",  # the emulator installed
        "PORTAL_DATA_DIR": str(data_dir),
        "EMULATOR_DATABASE_URL": f"sqlite:///{data_dir / 'emulator.sqlite3'}",
        "EMULATOR_ADMIN_TOKEN": ADMIN_TOKEN,
        "EMULATOR_ALLOW_HTTP": "1",
        "EMULATOR_QUIET": "1",
        # Webhook retries in tests: quick, few.
        "EMULATOR_WEBHOOK_RETRY_DELAY": "0.2",
        "EMULATOR_WEBHOOK_ATTEMPTS": "3",
        **(extra_env or {}),
    }
    # The emulator never shares the suite's PostgreSQL database.
    env.pop("DATABASE_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    port = free_port()
    # Boot the server while the seed runs (both take seconds): the server reads no data
    # before its first request, and the first request is only sent once the seed is done.
    process = subprocess.Popen(
        [*manage, "run_emulator", "--port", str(port), "--profile", profile], env=env, cwd=ROOT
    )
    server = EmulatorServer(port=port, process=process, env=env, profile=profile)
    try:
        subprocess.run([*manage, "seed_emulator", "--reset"], env=env, check=True, cwd=ROOT)
    except BaseException:
        server.stop()
        raise
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the emulator exited with code {process.returncode}")
        try:
            if httpx.get(f"{server.api_url}/version", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"the emulator did not answer /version within {STARTUP_TIMEOUT} seconds")
