"""Portal processes for the scale-out test: gunicorn's ASGI worker, several at once,
all sharing one PostgreSQL database and one Redis database."""

from __future__ import annotations

import os
import secrets

from tests.emulator_server import EmulatorServer
from tests.portal_server import PortalServer, run_manage, start_portal

# The scale-out test's name for a portal process.
PortalProcess = PortalServer


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
    run_manage(env, *args)


def start_portals(env: dict[str, str], count: int) -> list[PortalServer]:
    """Start `count` gunicorn masters (one ASGI worker each) on their own ports, at once."""
    portals = [start_portal(env, migrate=False, wait=False) for _ in range(count)]
    for portal in portals:
        portal.wait_until_ready()
    return portals
