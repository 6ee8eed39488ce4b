"""Scale-out: two portal processes (gunicorn -k asgi) on two ports, sharing one
PostgreSQL database and one Redis database, behave as one portal.

* a contact who signs in on one process (the CRM's OAuth page) carries on on the other,
  and signing out on the other ends the session on both;
* a setting staff change in the admin of one process shows on the other's next page;
* the e-mail-link rate limit counts requests made to either process.

Needs PostgreSQL (a temporary `portal_scale_<random>` database, dropped afterwards) and
Redis (database 13, under a key prefix of our own, removed afterwards); without them it
skips locally and fails in CI (tests.conftest.missing).
"""

from __future__ import annotations

import re
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2 as httpx
import pytest

from tests.conftest import missing
from tests.emulator_server import EmulatorServer
from tests.scale.portals import PortalProcess, manage, shared_env, start_portals
from tests.services import SCALE_OUT, redis_test_url
from tests.signin.crm_signin import DEMO_PASSWORD, authorize_at_crm, demo_contacts
from tests.staff.forms import form_values

pytestmark = [pytest.mark.services, pytest.mark.slow]

POSTGRES = "postgres://postgres@127.0.0.1:5432"
POSTGRES_ADMIN_DB = "test"
REDIS = redis_test_url(SCALE_OUT)
STAFF_PASSWORD = DEMO_PASSWORD


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _postgres(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/{POSTGRES_ADMIN_DB}", autocommit=True) as connection:
        connection.execute(sql)  # type: ignore[arg-type]


@dataclass
class Cluster:
    a: PortalProcess
    b: PortalProcess
    emulator: EmulatorServer


@pytest.fixture(scope="module")
def cluster(emulator: EmulatorServer) -> Iterator[Cluster]:
    if not _reachable(5432):
        missing("PostgreSQL is not reachable on 127.0.0.1:5432")
    if not _reachable(6379):
        missing("Redis is not reachable on 127.0.0.1:6379")
    import redis

    database = f"portal_scale_{secrets.token_hex(4)}"
    try:
        _postgres(f"CREATE DATABASE {database}")
    except Exception as error:  # a server that answers but refuses us
        missing(f"cannot create a PostgreSQL database: {type(error).__name__}")
    env = shared_env(f"{POSTGRES}/{database}", REDIS, emulator)
    portals: list[PortalProcess] = []
    try:
        # Once, before the processes start (one Django start-up for both steps).
        manage(
            env,
            "shell",
            "-c",
            "from django.core.management import call_command; "
            "from django.contrib.auth import get_user_model; "
            "call_command('migrate', verbosity=0); "
            "get_user_model().objects.create_superuser("
            f"'admin', 'admin@example.com', '{STAFF_PASSWORD}')",
        )
        portals = start_portals(env, 2)
        yield Cluster(portals[0], portals[1], emulator)
    finally:
        for portal in portals:
            portal.stop()
        _postgres(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        shared = redis.Redis.from_url(REDIS)
        keys = list(shared.scan_iter(match=f"{env['CACHE_KEY_PREFIX']}:*"))
        if keys:
            shared.delete(*keys)
        shared.close()


def _csrf_token(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert found, "the form carries no CSRF token"
    return found.group(1)


def test_a_session_started_on_one_process_continues_on_the_other(cluster):
    emulator = cluster.emulator
    emulator.reset_controls()
    contact = demo_contacts(emulator)[0]
    # Cookies do not depend on the port: one browser, two processes.
    with httpx.Client(timeout=20, follow_redirects=False) as browser:
        start = browser.get(f"{cluster.a.url}/login/oauth/?next=/invoices/")
        assert start.status_code == 302
        callback = authorize_at_crm(start.headers["location"], contact.email)
        assert callback.startswith(f"{cluster.a.url}/login/oauth/callback/")
        signed_in = browser.get(callback)
        assert signed_in.status_code == 302 and signed_in.headers["location"] == "/invoices/"

        on_b = browser.get(f"{cluster.b.url}/invoices/")
        assert on_b.status_code == 200, on_b.headers.get("location")
        assert re.search(r'href="/invoices/[0-9a-f-]{36}/"', on_b.text), "B lists the invoices"
        # B read the contact's data for the contact the session holds.
        calls = emulator.control("GET", "requests").json()["requests"]
        assert any(c["contact_id"] == contact.id and c["path"] == "/data/Invoice" for c in calls)

        # Signing out on A ends the session on B too (one session store).
        page = browser.get(f"{cluster.a.url}/invoices/")
        logout = browser.post(
            f"{cluster.a.url}/logout/",
            data={"csrfmiddlewaretoken": _csrf_token(page.text)},
        )
        assert logout.status_code == 302
        after = browser.get(f"{cluster.b.url}/invoices/")
        assert after.status_code == 302 and after.headers["location"].startswith("/login/")


def test_a_setting_changed_in_one_process_admin_shows_on_the_other(cluster):
    before = httpx.get(f"{cluster.b.url}/login/", timeout=20)
    assert before.status_code == 200
    new_name = f"Portal {secrets.token_hex(3)}"
    assert new_name not in before.text

    with httpx.Client(base_url=cluster.a.url, timeout=20, follow_redirects=False) as staff:
        login = staff.get("/admin/login/?next=/admin/")
        signed_in = staff.post(
            "/admin/login/?next=/admin/",
            data={
                "username": "admin",
                "password": STAFF_PASSWORD,
                "csrfmiddlewaretoken": _csrf_token(login.text),
                "next": "/admin/",
            },
        )
        assert signed_in.status_code == 302, "staff sign-in to the admin failed"
        change_url = "/admin/portal/portalsettings/1/change/"
        form = staff.get(change_url)
        assert form.status_code == 200
        values = form_values(form.text, "portalsettings_form")
        values["portal_name"] = new_name
        saved = staff.post(change_url, data=values)
        assert saved.status_code == 302, "the settings form was refused"

    after = httpx.get(f"{cluster.b.url}/login/", timeout=20)
    assert new_name in after.text


def test_the_email_link_rate_limit_counts_requests_to_both_processes(cluster):
    address = f"nobody-{secrets.token_hex(4)}@example.com"
    statuses = []
    with httpx.Client(timeout=20, follow_redirects=False) as browser:
        for portal in (cluster.a, cluster.b, cluster.a, cluster.b):
            form = browser.get(f"{portal.url}/login/")
            reply = browser.post(
                f"{portal.url}/login/email/",
                data={"email": address, "csrfmiddlewaretoken": _csrf_token(form.text)},
            )
            statuses.append(reply.status_code)
    # Three links per address per window, wherever they are asked for.
    assert statuses == [200, 200, 200, 429]
