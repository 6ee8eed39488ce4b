"""The system under test for the portal benchmarks: the emulator and the portal under
gunicorn's ASGI worker on loopback, in production mode, with signed-in contacts.

Production mode (DEBUG off) means manifest static files (collected into a temporary
STATIC_ROOT), `__Host-` cookies marked Secure and HSTS headers. Only HTTPS redirects are
switched off (SECURE_SSL_REDIRECT=0), because loopback is plain HTTP. A Secure cookie is
never sent back over HTTP by a standards-following cookie jar, so `Browser` keeps its own
cookies (name -> value) and sends them itself, as a browser behind TLS would.

Database and cache: the temporary PostgreSQL database and the Redis database given with
`--database-url` / `--cache-url`, else (if both answer on 127.0.0.1) a temporary
`portal_bench_<random>` database and Redis db 14 under a random key prefix, else SQLite
and the local-memory cache. The run's JSON says which.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx2 as httpx

from tests.emulator_server import ADMIN_TOKEN, ROOT, EmulatorServer, free_port
from tests.signin.crm_signin import DemoContact, authorize_at_crm, demo_contacts

LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432"
# The emulator serves one request per thread: 32 downloads must not take every thread
# the dashboard's calls need (a real CRM serves far more at once).
EMULATOR_THREADS = 96
LOCAL_REDIS = "redis://127.0.0.1:6379/14"


def _answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def start_bench_emulator(data_dir: Path, threads: int = EMULATOR_THREADS) -> EmulatorServer:
    """tests.emulator_server.start_emulator, with enough threads for the downloads."""
    env = {
        **os.environ,
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "crm_emulator.settings",  # the emulator installed
        "PORTAL_DATA_DIR": str(data_dir),
        "EMULATOR_DATABASE_URL": f"sqlite:///{data_dir / 'emulator.sqlite3'}",
        "EMULATOR_ADMIN_TOKEN": ADMIN_TOKEN,
        "EMULATOR_ALLOW_HTTP": "1",
        "EMULATOR_QUIET": "1",
    }
    env.pop("DATABASE_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "seed_emulator", "--reset"], env=env, check=True, cwd=ROOT)
    port = free_port()
    command = [*manage, "run_emulator", "--port", str(port), "--threads", str(threads)]
    server = EmulatorServer(port, subprocess.Popen(command, env=env, cwd=ROOT), env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the emulator exited with code {server.process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.api_url}/version", timeout=1).status_code == 200:
                return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError("the emulator did not answer /version within 60 seconds")


@dataclass
class Services:
    database_url: str
    cache_url: str
    kind: str  # "postgresql+redis" or "sqlite+locmem"
    drop: str = ""  # a temporary PostgreSQL database to drop at the end


def _psql(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{LOCAL_POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(sql)  # type: ignore[arg-type]


def pick_services(data_dir: Path, want: str) -> Services:
    """want: "auto" (PostgreSQL + Redis when both answer locally), "services" or "sqlite"."""
    local = _answers("127.0.0.1", 5432) and _answers("127.0.0.1", 6379)
    if want == "services" and not local:
        raise SystemExit("--db services: PostgreSQL or Redis does not answer on 127.0.0.1")
    if want == "sqlite" or not local:
        return Services(f"sqlite:///{data_dir / 'portal.sqlite3'}", "", "sqlite+locmem")
    name = f"portal_bench_{secrets.token_hex(4)}"
    _psql(f"CREATE DATABASE {name}")
    return Services(f"{LOCAL_POSTGRES}/{name}", LOCAL_REDIS, "postgresql+redis", drop=name)


def drop_services(services: Services) -> None:
    if services.drop:
        with contextlib.suppress(Exception):
            _psql(f"DROP DATABASE IF EXISTS {services.drop} WITH (FORCE)")


@dataclass
class PortalServer:
    url: str
    process: subprocess.Popen
    env: dict[str, str] = field(repr=False)

    def worker_pids(self) -> list[int]:
        """The gunicorn workers (children of the master): they serve the requests."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )


def portal_env(
    data_dir: Path, emulator: EmulatorServer, services: Services, **extra: str
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "CACHE_", "REDIS_", "ONECRM_"))
    }
    env.update(
        {
            "DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "PORTAL_BASE_URL": "http://127.0.0.1",  # start_portal adds the port
            "SECURE_SSL_REDIRECT": "0",
            "PORTAL_DATA_DIR": str(data_dir),
            "STATIC_ROOT": str(data_dir / "static"),
            "DATABASE_URL": services.database_url,
            # Django: no persistent connections under ASGI (each request thread would keep one).
            "DATABASE_CONN_MAX_AGE": "0",
            "CACHE_URL": services.cache_url,
            "CACHE_KEY_PREFIX": f"bench{secrets.token_hex(4)}",
            "ONECRM_API_URL": emulator.api_url,
            "ONECRM_CLIENT_ID": "demo-portal",
            "ONECRM_CLIENT_SECRET": "demo-portal-secret",
            "ONECRM_DATA_ACCESS": "portal_auth",
            "LOG_LEVEL": "WARNING",
            # The download benchmark is one contact's 32 downloads at once (throughput),
            # not the per-contact cap a real contact meets.
            "DOWNLOADS_PER_CONTACT": "1000",
            **extra,
        }
    )
    return env


def prepare_portal(env: dict[str, str]) -> None:
    _manage(env, "migrate", "--verbosity", "0")
    _manage(env, "collectstatic", "--noinput", "--verbosity", "0")


def start_portal(env: dict[str, str], workers: int, port: int | None = None) -> PortalServer:
    port = port or free_port()
    env = {**env, "PORTAL_BASE_URL": f"http://127.0.0.1:{port}"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--access-logfile",
            "/dev/null",
        ],
        env=env,
        cwd=ROOT,
    )
    server = PortalServer(f"http://127.0.0.1:{port}", process, env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the portal exited with code {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            healthy = httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200
            if healthy and len(server.worker_pids()) >= workers:
                return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError("the portal did not answer /healthz within 60 seconds")


def _cookies_of(response: httpx.Response) -> dict[str, str]:
    jar: dict[str, str] = {}
    for header in response.headers.get_list("set-cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            jar[name] = morsel.value
    return jar


@dataclass
class Session:
    """A signed-in contact: the cookies a browser would send."""

    contact: DemoContact
    cookies: dict[str, str]

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items() if value)


def sign_in(portal_url: str, contact: DemoContact, landing: str = "/") -> Session:
    """The contact's OAuth sign-in, as a browser: portal -> CRM sign-in page -> callback,
    landing on `landing` (the dashboard; the growth benchmark lands elsewhere, to see
    what the account's first dashboard costs)."""
    cookies: dict[str, str] = {}
    with httpx.Client(timeout=30, follow_redirects=False) as browser:

        def get(url: str) -> httpx.Response:
            header = "; ".join(f"{k}={v}" for k, v in cookies.items() if v)
            response = browser.get(url, headers={"Cookie": header} if header else {})
            cookies.update(_cookies_of(response))
            return response

        start = get(f"{portal_url}/login/oauth/?{urlencode({'next': landing})}")
        assert start.status_code == 302, start.status_code
        callback = authorize_at_crm(start.headers["location"], contact.email)
        assert urlsplit(callback).netloc == urlsplit(portal_url).netloc, "unexpected callback"
        done = get(callback)
        assert done.status_code == 302 and done.headers["location"] == landing, done.status_code
        page = get(f"{portal_url}{landing}")
        assert page.status_code == 200, f"{landing} after sign-in: {page.status_code}"
    return Session(contact, cookies)


@dataclass
class Stack:
    emulator: EmulatorServer
    portal: PortalServer
    services: Services
    sessions: list[Session]
    workers: int


@contextlib.contextmanager
def running_stack(workers: int = 2, db: str = "auto", contacts: int = 8) -> Iterator[Stack]:
    """Everything started once for all benchmarks, stopped (and dropped) at the end."""
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        root = Path(tmp)
        print("seeding and starting the emulator ...", flush=True)
        emulator = start_bench_emulator(root / "emulator")
        services = pick_services(root, db)
        portal = None
        try:
            env = portal_env(root / "portal", emulator, services)
            print(f"preparing the portal ({services.kind}, DEBUG off) ...", flush=True)
            prepare_portal(env)
            portal = start_portal(env, workers)
            people = demo_contacts(emulator)[:contacts]
            print(f"signing in {len(people)} contacts through the CRM's OAuth page ...", flush=True)
            sessions = [sign_in(portal.url, person) for person in people]
            yield Stack(emulator, portal, services, sessions, workers)
        finally:
            if portal is not None:
                portal.stop()
            emulator.stop()
            drop_services(services)


def staff_token(emulator: EmulatorServer) -> str:
    reply = httpx.post(
        f"{emulator.api_url}/auth/user/access_token",
        json={
            "grant_type": "client_credentials",
            "client_id": "demo-portal",
            "client_secret": "demo-portal-secret",
        },
        timeout=10,
    )
    reply.raise_for_status()
    return reply.json()["access_token"]


def portal_token(emulator: EmulatorServer, staff: str, contact_id: str) -> str:
    """What the portal acts with in `portal_auth` mode: a token minted for the contact."""
    reply = httpx.post(
        f"{emulator.api_url}/portal/auth",
        json={"contact_id": contact_id},
        headers={"Authorization": f"Bearer {staff}"},
        timeout=10,
    )
    reply.raise_for_status()
    return reply.json()["access_token"]


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            found[name] = int(value.split()[0]) * 1024
    return found


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat), every core."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / ticks, sum(values) / ticks


def process_tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (a gunicorn master and its workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid, *(int(p) for p in children.read_text().split())] if children.exists() else [pid]
    total = 0.0
    for one in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(one)
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
