"""The primary colour and the logo are served by views, cacheable per settings revision."""

import pytest
from django.test import Client

from portal.models import PortalSettings

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def test_branding_css_carries_the_primary_colour_and_follows_changes(client: Client):
    row = PortalSettings.objects.get(pk=1)
    row.primary_color = "#0b5d1e"
    row.save()
    response = client.get(f"/branding.css?v={row.revision}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b"--portal-primary: #0b5d1e;" in response.content
    assert "immutable" in response["Cache-Control"]

    row.primary_color = "#5a1f8a"
    row.save()
    fresh = client.get(f"/branding.css?v={row.revision}")
    assert b"#5a1f8a" in fresh.content
    stale = client.get(f"/branding.css?v={row.revision - 1}")
    assert "immutable" not in stale["Cache-Control"]


def test_logo_is_served_inline_with_its_real_type_and_nosniff(client: Client):
    assert client.get("/branding/logo").status_code == 404
    row = PortalSettings.objects.get(pk=1)
    row.logo_data, row.logo_content_type = PNG, "image/png"
    row.save()
    response = client.get(f"/branding/logo?v={row.revision}")
    assert response.status_code == 200
    assert response.content == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
