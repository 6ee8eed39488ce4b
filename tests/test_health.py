"""/healthz is cheap; /readyz proves the database, the cache and the CRM answer."""

import time

import httpx2 as httpx
import pytest
from django.test import Client, override_settings

from tests.portal_server import portal_env, start_portal


@pytest.mark.django_db
def test_healthz_answers_without_touching_the_crm(client: Client, django_assert_num_queries):
    # No database query, and a CRM URL where nothing listens: it still answers.
    with django_assert_num_queries(0), override_settings(ONECRM_API_URL="http://127.0.0.1:9"):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_ready_when_database_cache_and_crm_answer(client: Client, crm):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "crm"}
    assert all(check["ok"] for check in body["checks"].values())


@pytest.mark.django_db
def test_readyz_is_unavailable_when_the_crm_is_unreachable(client: Client, settings):
    settings.ONECRM_API_URL = "http://127.0.0.1:9/1crm/api.php"  # nothing listens on port 9
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["crm"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.django_db
@pytest.mark.parametrize("credential", ["oauth", "basic"])
def test_readyz_asks_the_crm_with_the_portals_own_credential(
    client: Client, crm, settings, credential
):
    if credential == "basic":
        crm.control("POST", "switches", json={"basic_auth": True})
        settings.ONECRM_BASIC_USERNAME, settings.ONECRM_BASIC_PASSWORD = "admin", "demo-password"
    crm.control("DELETE", "requests")
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    calls = crm.control("GET", "requests").json()["requests"]
    kinds = {entry["credential"] for entry in calls if entry["path"] == "/version"}
    assert kinds == {"basic" if credential == "basic" else "staff"}
    grants = [entry for entry in calls if entry["path"] == "/auth/user/access_token"]
    assert bool(grants) is (credential == "oauth")


@pytest.mark.django_db
def test_readyz_is_unavailable_when_the_crm_refuses_the_credential(client: Client, crm, settings):
    crm.control("POST", "switches", json={"basic_auth": True})
    settings.ONECRM_BASIC_USERNAME, settings.ONECRM_BASIC_PASSWORD = "admin", "wrong-password"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["crm"]["ok"] is False
    assert "wrong-password" not in response.content.decode()


# A load balancer's probe gives up after its timeout (Kubernetes: 1 s by default; the
# demo waited 1 s). Half a second is far more than a ready worker needs to answer (a few
# milliseconds) and far less than importing the portal takes (a second or more here).
PROBE_TIMEOUT = 0.5


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_a_fresh_server_answers_its_very_first_probe(tmp_path, attempt):
    """From a fresh start, /healthz is the first request the server gets: it is refused
    while the portal cannot answer yet, and the first request it accepts is answered 200
    before the probe gives up. It used to be accepted while the worker was still
    importing the portal, the probe gave up, and gunicorn logged that request as a 500
    (`manage.py demo` showed one such line at every start)."""
    env = portal_env(tmp_path, "http://127.0.0.1:9/1crm/api.php")
    server = start_portal(env, wait=False, log_path=tmp_path / "server.log")
    outcomes: list[object] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and 200 not in outcomes:
            try:
                response = httpx.get(f"{server.url}/healthz", timeout=PROBE_TIMEOUT)
            except httpx.ConnectError:  # not listening yet: the probe knows it is not up
                assert server.process.poll() is None, server.log_text()
                time.sleep(0.02)
                continue
            except httpx.TimeoutException as error:  # accepted, but nobody answered
                outcomes.append(type(error).__name__)
                continue
            outcomes.append(response.status_code)
    finally:
        server.stop()
    assert outcomes == [200], outcomes
    probes = [line for line in server.log_text().splitlines() if "GET /healthz" in line]
    assert len(probes) == 1 and '" 200 ' in probes[0], probes
