"""The activity log: what is recorded, what never is, and how staff see it."""

import pytest
from asgiref.sync import async_to_sync
from django.test import RequestFactory

from portal.activity import arecord_activity, record_activity
from portal.models import ActivityEvent

pytestmark = pytest.mark.django_db


def request_with(user_agent="Mozilla/5.0 " + "x" * 500, ip="203.0.113.9"):
    return RequestFactory().get(
        "/invoices/1/pdf?access_token=SECRET", HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip
    )


def test_record_activity_keeps_ids_ip_and_a_truncated_user_agent():
    event = record_activity(
        request_with(), "pdf_download", contact_id="c-1", record_model="Invoice", record_id="i-9"
    )
    stored = ActivityEvent.objects.get(pk=event.pk)
    assert (stored.kind, stored.contact_id, stored.record_model, stored.record_id) == (
        "pdf_download",
        "c-1",
        "Invoice",
        "i-9",
    )
    assert stored.ip == "203.0.113.9"
    assert len(stored.user_agent) == 200
    values = " ".join(str(v) for v in ActivityEvent.objects.values().get(pk=event.pk).values())
    assert "SECRET" not in values and "access_token" not in values


def test_contact_comes_from_the_request_when_not_given():
    request = request_with()
    request.contact = type("Contact", (), {"contact_id": "c-7"})()
    assert record_activity(request, "sign_out").contact_id == "c-7"


def test_unknown_kinds_are_refused_and_bad_ips_dropped():
    with pytest.raises(ValueError):
        record_activity(request_with(), "password_dumped")
    assert record_activity(request_with(ip="not-an-ip"), "sign_in").ip is None


def test_async_variant():
    event = async_to_sync(arecord_activity)(request_with(), "quote_accepted", contact_id="c-2")
    assert ActivityEvent.objects.filter(pk=event.pk, kind="quote_accepted").exists()


def test_admin_lists_filters_and_searches_activity(admin_client):
    record_activity(request_with(), "sign_in", contact_id="c-1")
    record_activity(request_with(), "document_download", contact_id="c-2")
    page = admin_client.get("/admin/portal/activityevent/", {"kind__exact": "sign_in"})
    assert list(page.context["cl"].queryset.values_list("contact_id", flat=True)) == ["c-1"]
    page = admin_client.get("/admin/portal/activityevent/", {"q": "c-2"})
    assert list(page.context["cl"].queryset.values_list("kind", flat=True)) == ["document_download"]
    assert admin_client.get("/admin/portal/activityevent/add/").status_code == 403


def test_admin_start_page_shows_the_week_at_a_glance(admin_client):
    from portal.models import ContactAccess

    record_activity(request_with(), "sign_in", contact_id="c-1")
    record_activity(request_with(), "sign_in_failed", contact_id="")
    record_activity(request_with(), "pdf_download", contact_id="c-1")
    ContactAccess.objects.record_sign_in("c-1", "a-1")
    ContactAccess.objects.create(contact_id="c-2", blocked=True)
    response = admin_client.get("/admin/")
    overview = parse_overview(response.content.decode())
    assert overview["Sign-ins"] == "1 (failed: 1)"
    assert overview["Downloads"] == "1"
    assert overview["Contacts signed in"] == "1 of 2 with access · blocked: 1"


def parse_overview(html: str) -> dict[str, str]:
    import re

    section = html.split('id="portal-overview"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td>', section, re.S)
    return {key.strip(): " ".join(value.split()) for key, value in rows}


def test_prune_activity_also_removes_sign_in_links_expired_over_a_day_ago():
    from datetime import timedelta
    from io import StringIO

    from django.core.management import call_command
    from django.utils import timezone

    from portal.models import SignInLink

    now = timezone.now()
    for index, expired_for in enumerate(
        [timedelta(days=2), timedelta(hours=2), -timedelta(minutes=5)]
    ):
        SignInLink.objects.create(
            token_hash=f"{index:064x}",
            contact_id="c1",
            email="a@example.com",
            expires_at=now - expired_for,
        )
    out = StringIO()
    call_command("prune_activity", stdout=out)
    assert "Removed 1 expired sign-in link(s)." in out.getvalue()
    assert SignInLink.objects.count() == 2
