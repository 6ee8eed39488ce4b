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
