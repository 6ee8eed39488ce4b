import pytest

from tests.staff.forms import form_values

SETTINGS_URL = "/admin/portal/portalsettings/1/change/"


@pytest.fixture
def settings_form(admin_client):
    """The settings change form's current values; tests change some and post them."""

    def current() -> dict:
        response = admin_client.get(SETTINGS_URL)
        assert response.status_code == 200
        return form_values(response.content, "portalsettings_form")

    return current


@pytest.fixture(params=["oauth", "basic"])
def staff_auth(request, crm, settings) -> str:
    """The portal's own credential, each way an installation may configure it: the OAuth
    staff client (client_credentials) or HTTP Basic (the emulator's switch turned on)."""
    from crm_emulator.demo_data import DEMO_PASSWORD

    if request.param == "basic":
        crm.control("POST", "switches", json={"basic_auth": True})
        settings.ONECRM_BASIC_USERNAME = "admin"
        settings.ONECRM_BASIC_PASSWORD = DEMO_PASSWORD
    crm.control("DELETE", "requests")
    return request.param


def crm_calls(crm, path_prefix: str = "") -> list[dict]:
    """The requests the emulator saw since the test began (method, path, credential)."""
    return [
        entry
        for entry in crm.control("GET", "requests").json()["requests"]
        if entry["path"].startswith(path_prefix)
    ]


def assert_used(crm, staff_auth: str, *path_prefixes: str) -> None:
    """The calls to these paths went with the configured credential, and with Basic no
    client_credentials token was ever asked for."""
    expected = {"basic": "basic", "oauth": "staff"}[staff_auth]
    for prefix in path_prefixes:
        calls = [entry for entry in crm_calls(crm, prefix) if entry["credential"] != "anonymous"]
        assert calls, f"no authenticated call to {prefix}"
        assert {entry["credential"] for entry in calls} == {expected}, prefix
    grants = crm_calls(crm, "/auth/user/access_token")
    assert (len(grants) > 0) is (staff_auth == "oauth"), grants
