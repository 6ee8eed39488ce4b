"""/healthz is cheap; /readyz proves the database, the cache and the CRM answer."""

import pytest
from django.test import Client, override_settings


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
