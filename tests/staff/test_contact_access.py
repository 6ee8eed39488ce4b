"""Contact access: the helpers the sign-in uses, block/unblock, finding a CRM contact."""

import pytest
from asgiref.sync import async_to_sync

from portal.models import ActivityEvent, ContactAccess
from tests.staff.conftest import assert_used

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/portal/contactaccess/"
FIND = "/admin/portal/contactaccess/find-contact/"


def test_record_sign_in_creates_then_updates_and_is_blocked_follows_the_flag():
    first = ContactAccess.objects.record_sign_in("c-1", "a-1")
    assert first.last_sign_in is not None and not first.blocked
    again = ContactAccess.objects.record_sign_in("c-1", "a-2")
    assert again.pk == first.pk and again.account_id == "a-2"
    assert again.last_sign_in >= first.last_sign_in
    assert ContactAccess.objects.is_blocked("c-1") is False
    assert ContactAccess.objects.is_blocked("unknown") is False
    ContactAccess.objects.filter(contact_id="c-1").update(blocked=True)
    assert ContactAccess.objects.is_blocked("c-1") is True


def test_async_helpers():
    access = async_to_sync(ContactAccess.objects.arecord_sign_in)("c-2", "a-1")
    assert access.last_sign_in is not None
    assert async_to_sync(ContactAccess.objects.ais_blocked)("c-2") is False


def test_block_and_unblock_actions_are_recorded(admin_client):
    access = ContactAccess.objects.create(contact_id="c-1", account_id="a-1")
    response = admin_client.post(
        CHANGELIST, {"action": "block", "_selected_action": [access.pk]}, follow=True
    )
    assert response.status_code == 200
    assert ContactAccess.objects.get(pk=access.pk).blocked is True
    admin_client.post(CHANGELIST, {"action": "unblock", "_selected_action": [access.pk]})
    assert ContactAccess.objects.get(pk=access.pk).blocked is False
    kinds = list(ActivityEvent.objects.order_by("at", "id").values_list("kind", "contact_id"))
    assert kinds == [("access_blocked", "c-1"), ("access_unblocked", "c-1")]


def test_staff_send_a_sign_in_link_that_signs_the_contact_in(admin_client, crm, client):
    from django.core import mail

    from tests.signin.crm_signin import demo_contacts

    contact = demo_contacts(crm)[0]
    access = ContactAccess.objects.create(contact_id=contact.id)
    unknown = ContactAccess.objects.create(contact_id="00000000-0000-0000-0000-000000000000")
    admin_client.post(
        CHANGELIST, {"action": "send_link", "_selected_action": [access.pk, unknown.pk]}
    )
    assert [message.to for message in mail.outbox] == [[contact.email]]
    assert ContactAccess.objects.get(pk=access.pk).invited_at is not None
    assert ContactAccess.objects.get(pk=unknown.pk).invited_at is None
    link = mail.outbox[0].body.split("http://testserver", 1)[1].split()[0]
    assert client.post(link).status_code == 302
    assert client.session["portal_contact"]["contact_id"] == contact.id


def test_find_a_crm_contact_by_email_with_the_staff_credential(admin_client, crm):
    response = admin_client.get(FIND, {"q": "emily.carter@example.com"})
    assert response.status_code == 200
    results = response.context["results"]
    assert response.context["problem"] == ""
    assert [r.email1 for r in results] == ["emily.carter@example.com"]
    assert "Emily" in response.content.decode()


def test_find_by_name_then_block_from_the_results(admin_client, crm):
    response = admin_client.get(FIND, {"q": "Becker"})
    results = response.context["results"]
    assert results, "Jonas Becker is in the demo data"
    contact = results[0]
    assert contact.access is None
    admin_client.post(
        FIND,
        {
            "contact_id": contact.id,
            "account_id": contact.primary_account_id,
            "action": "block",
            "q": "Becker",
        },
    )
    assert ContactAccess.objects.is_blocked(contact.id) is True
    again = admin_client.get(FIND, {"q": "Becker"}).context["results"][0]
    assert again.access.blocked is True


def test_find_says_why_when_the_crm_is_unreachable(admin_client, settings):
    from tests.emulator_server import free_port

    settings.ONECRM_API_URL = f"http://127.0.0.1:{free_port()}/1crm/api.php"
    response = admin_client.get(FIND, {"q": "someone@example.com"})
    assert response.status_code == 200
    assert "refused the connection" in response.context["problem"]


def test_the_list_links_each_contact_to_its_activity(admin_client):
    ContactAccess.objects.create(contact_id="c-42", account_id="a-1")
    page = admin_client.get(CHANGELIST).content.decode()
    assert 'href="/admin/portal/activityevent/?q=c-42"' in page


def test_find_contact_uses_the_configured_staff_credential(admin_client, staff_auth, crm):
    response = admin_client.get(FIND, {"q": "emily.carter@example.com"})
    assert response.context["problem"] == ""
    assert [r.email1 for r in response.context["results"]] == ["emily.carter@example.com"]
    assert_used(crm, staff_auth, "/data/Contact")


def test_find_says_why_when_the_crm_refuses_the_basic_password(admin_client, crm, settings):
    crm.control("POST", "switches", json={"basic_auth": True})
    settings.ONECRM_BASIC_USERNAME, settings.ONECRM_BASIC_PASSWORD = "admin", "not-the-password"
    response = admin_client.get(FIND, {"q": "Becker"})
    assert "ONECRM_BASIC_USERNAME" in response.context["problem"]
    assert "not-the-password" not in response.content.decode()


def test_send_a_sign_in_link_says_why_when_the_crm_is_unreachable(admin_client, settings, caplog):
    from django.core import mail

    from tests.emulator_server import free_port

    port = free_port()  # nothing listens there
    settings.ONECRM_API_URL = f"http://127.0.0.1:{port}/1crm/api.php"
    first = ContactAccess.objects.create(contact_id="c-1")
    second = ContactAccess.objects.create(contact_id="c-2")
    with caplog.at_level("WARNING", logger="portal.admin"):
        response = admin_client.post(
            CHANGELIST,
            {"action": "send_link", "_selected_action": [first.pk, second.pk]},
            follow=True,
        )
    assert response.status_code == 200
    said = [str(message) for message in response.context["messages"]]
    assert any("refused the connection" in message for message in said), said
    assert "0 sign-in link(s) sent." in said
    assert "Traceback" not in response.content.decode()
    assert mail.outbox == []
    assert ContactAccess.objects.filter(invited_at__isnull=False).count() == 0
    # One line for the operator: what failed, why, where to look; no stack trace.
    (line,) = [r for r in caplog.records if r.name == "portal.admin"]
    assert line.levelname == "WARNING" and line.exc_info is None
    text = line.getMessage()
    assert "sign-in link" in text and "c-1" in text and "ONECRM_API_URL" in text
    assert f"127.0.0.1:{port}" in text or "127.0.0.1 refused" in text
    assert settings.ONECRM_CLIENT_SECRET not in text


def test_send_a_link_from_the_search_says_why_when_the_crm_is_unreachable(
    admin_client, settings, caplog
):
    from tests.emulator_server import free_port

    settings.ONECRM_API_URL = f"http://127.0.0.1:{free_port()}/1crm/api.php"
    with caplog.at_level("WARNING", logger="portal.admin"):
        response = admin_client.post(
            FIND,
            {"contact_id": "c-3", "account_id": "a-1", "action": "send_link"},
            follow=True,
        )
    assert response.status_code == 200
    said = [str(message) for message in response.context["messages"]]
    assert any("refused the connection" in message for message in said), said
    assert ContactAccess.objects.get(contact_id="c-3").invited_at is None
    assert [r.exc_info for r in caplog.records if r.name == "portal.admin"] == [None]
