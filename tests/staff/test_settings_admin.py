"""Staff edit the portal settings in the admin: validation, history, logo, caching."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from portal.models import PortalSettings, SettingsChange
from portal.site_settings import get_portal_settings
from tests.staff.conftest import SETTINGS_URL

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 200
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 100
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)


def post(admin_client, data):
    return admin_client.post(SETTINGS_URL, data)


def errors_of(response) -> str:
    assert response.status_code == 200, "the form should come back with errors"
    form = response.context["adminform"].form
    return " ".join(str(e) for errs in form.errors.values() for e in errs)


def test_singleton_list_goes_straight_to_the_one_row_and_cannot_be_added_or_deleted(
    admin_client,
):
    response = admin_client.get("/admin/portal/portalsettings/")
    assert response.status_code == 302 and response["Location"].endswith("/1/change/")
    assert admin_client.get("/admin/portal/portalsettings/add/").status_code == 403
    assert admin_client.get("/admin/portal/portalsettings/1/delete/").status_code == 403
    assert PortalSettings.objects.count() == 1


def test_defaults_come_from_the_data_migration():
    row = PortalSettings.objects.get(pk=1)
    assert row.page_size == 20 and row.activity_retention_days == 180
    assert row.signin_oauth and row.signin_email
    assert row.invoice_stages and row.quote_stages


@pytest.mark.parametrize(
    ("color", "message"),
    [
        ("blue", "six hexadecimal digits"),
        ("#12345", "six hexadecimal digits"),
        ("#ffff00", "contrast of only 1.07:1"),
        ("#777777", "at least 4.5:1"),
    ],
)
def test_bad_or_low_contrast_colour_is_refused_with_a_clear_message(
    admin_client, settings_form, color, message
):
    data = settings_form()
    data["primary_color"] = color
    assert message in errors_of(post(admin_client, data))
    assert PortalSettings.objects.get(pk=1).primary_color == "#1f5fa8"


@pytest.mark.parametrize("size", [0, 201, -1])
def test_page_size_outside_1_to_200_is_refused(admin_client, settings_form, size):
    data = settings_form()
    data["page_size"] = str(size)
    response = post(admin_client, data)
    assert "page_size" in response.context["adminform"].form.errors
    assert PortalSettings.objects.get(pk=1).page_size == 20


def test_the_saved_colour_and_its_contrast_are_shown(admin_client):
    page = admin_client.get(SETTINGS_URL).content.decode()
    assert "#1f5fa8: white text on it has a contrast of 6.44:1" in page


def test_page_size_200_is_accepted(admin_client, settings_form):
    data = settings_form()
    data["page_size"] = "200"
    assert post(admin_client, data).status_code == 302
    assert PortalSettings.objects.get(pk=1).page_size == 200


def test_at_least_one_sign_in_mode_stays_on(admin_client, settings_form):
    data = settings_form()
    data.pop("signin_oauth", None)
    data.pop("signin_email", None)
    assert "at least one way to sign in" in errors_of(post(admin_client, data))


def test_stage_lists_are_validated(admin_client, settings_form):
    data = settings_form()
    data["quote_stages"] = "Delivered\ndelivered"
    assert "listed twice" in errors_of(post(admin_client, data))
    data["quote_stages"] = ""
    assert "at least one quote stage" in errors_of(post(admin_client, data))


def upload(name: str, content: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("big.png", PNG + b"\x00" * (512 * 1024), "at most 512 KB"),
        ("logo.png", b"GIF89a not really a png", "not a PNG, JPEG or WebP"),
        ("notes.png", b"hello, I am text", "not a PNG, JPEG or WebP"),
        ("logo.svg", SVG, "SVG logos are not accepted"),
        ("sneaky.png", SVG, "SVG logos are not accepted"),
    ],
)
def test_oversized_or_non_image_logo_is_refused(
    admin_client, settings_form, name, content, message
):
    data = settings_form()
    data["logo_upload"] = upload(name, content)
    assert message in errors_of(post(admin_client, data))
    assert PortalSettings.objects.get(pk=1).logo_content_type == ""


def test_logo_type_comes_from_its_bytes_not_its_name(admin_client, settings_form, client):
    data = settings_form()
    data["logo_upload"] = upload("logo.png", WEBP, "image/png")  # really WebP
    assert post(admin_client, data).status_code == 302
    row = PortalSettings.objects.get(pk=1)
    assert row.logo_content_type == "image/webp"
    response = client.get(f"/branding/logo?v={row.revision}")
    assert response["Content-Type"] == "image/webp" and response.content == WEBP


def test_every_change_is_kept_in_the_history_with_who_and_old_and_new(
    admin_client, admin_user, settings_form
):
    data = settings_form()
    data.update(portal_name="Acme customer portal", page_size="50", primary_color="#0b5d1e")
    data.pop("section_documents", None)
    data["logo_upload"] = upload("logo.png", PNG)
    response = post(admin_client, data)
    assert response.status_code == 302, errors_of(response)

    changes = {c.field: c for c in SettingsChange.objects.all()}
    assert set(changes) == {
        "portal_name",
        "page_size",
        "primary_color",
        "section_documents",
        "logo",
    }
    assert (changes["portal_name"].old_value, changes["portal_name"].new_value) == (
        "Customer portal",
        "Acme customer portal",
    )
    assert (changes["page_size"].old_value, changes["page_size"].new_value) == ("20", "50")
    assert (changes["section_documents"].old_value, changes["section_documents"].new_value) == (
        "yes",
        "no",
    )
    assert changes["logo"].old_value == "(none)" and "image/png" in changes["logo"].new_value
    assert all(c.changed_by == admin_user for c in changes.values())
    assert all(c.changed_by_name == admin_user.username for c in changes.values())

    # Saving again without changes adds nothing; the history shows on the settings page.
    assert post(admin_client, settings_form()).status_code == 302
    assert SettingsChange.objects.count() == 5
    page = admin_client.get(SETTINGS_URL).content.decode()
    assert "Acme customer portal" in page and "history of changes" in page.lower()


def test_history_is_read_only(admin_client):
    row = PortalSettings.objects.get(pk=1)
    change = SettingsChange.objects.create(portal_settings=row, field="page_size")
    assert admin_client.get("/admin/portal/settingschange/").status_code == 200
    assert admin_client.get("/admin/portal/settingschange/add/").status_code == 403
    response = admin_client.post(
        f"/admin/portal/settingschange/{change.pk}/change/", {"field": "x"}
    )
    assert response.status_code == 403
    assert admin_client.post(f"/admin/portal/settingschange/{change.pk}/delete/").status_code == 403


def test_settings_page_shows_the_environment_with_secrets_masked(admin_client, settings):
    settings.ONECRM_SERVICE_CLIENT_SECRET = "demo-portal-secret"
    settings.ONECRM_CLIENT_SECRET = "another-very-secret-value"
    page = admin_client.get(SETTINGS_URL).content.decode()
    assert "ONECRM_API_URL" in page and settings.ONECRM_API_URL in page
    assert "ONECRM_DATA_ACCESS" in page
    assert "demo-portal-secret" not in page and "another-very-secret-value" not in page
    assert "secr" not in page.split("ONECRM_SERVICE_CLIENT_SECRET", 1)[1][:200]
    assert "Test connection" in page


def test_prune_keeps_retention_from_settings(admin_client):
    from io import StringIO

    from django.core.management import call_command
    from django.utils import timezone

    from portal.models import ActivityEvent

    old = ActivityEvent.objects.create(kind="sign_in", contact_id="c1")
    ActivityEvent.objects.filter(pk=old.pk).update(at=timezone.now() - timezone.timedelta(days=200))
    middle = ActivityEvent.objects.create(kind="sign_in", contact_id="c2")
    ActivityEvent.objects.filter(pk=middle.pk).update(
        at=timezone.now() - timezone.timedelta(days=40)
    )
    ActivityEvent.objects.create(kind="sign_in", contact_id="c3")

    out = StringIO()
    call_command("prune_activity", stdout=out)
    assert "Removed 1 activity event(s) older than 180 day(s)." in out.getvalue()
    out = StringIO()
    call_command("prune_activity", "--days", "30", stdout=out)
    assert "Removed 1 " in out.getvalue()
    assert list(ActivityEvent.objects.values_list("contact_id", flat=True)) == ["c3"]


def test_get_portal_settings_reads_the_cache_not_the_database(django_assert_num_queries):
    get_portal_settings()
    with django_assert_num_queries(0):
        assert get_portal_settings().page_size == 20
