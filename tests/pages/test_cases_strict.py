"""Support cases and the knowledge base on the strict CRM (docs/emulator.md, "Profiles"):
the installation's own case statuses (`Erledigt`, `Neu`, ...), a contact token that
reaches no related-record link (a case's notes), no bytes, sparse records and numbers as
strings. What the portal relies on there without the reference saying so has a fallback:
closed statuses are read by the CRM's English labels (and close and reopen write the
CRM's own keys); a case's notes are read with the staff credential after the case's
check when the contact's token may not follow the link.
"""

from __future__ import annotations

import re
import uuid

import pytest

from crm_emulator.profiles import INSTALLATION_VOCABULARY
from crm_gateway import CaseStatuses, FieldChoice
from portal.models import ActivityEvent, PortalSettings
from portal.site_settings import forget_portal_settings
from tests.conftest import close_response
from tests.pages.conftest import counted_calls, crm_requests, demo_of, sign_in
from tests.pages.test_cases import (
    PDF,
    PNG,
    closed_cases_show_on_request,
    crm_bytes,
    crm_records,
    form_token,
    listed,
    upload,
)

pytestmark = pytest.mark.django_db

MODES = ["contact_token", "portal_auth", "staff"]
STATUSES = INSTALLATION_VOCABULARY[("aCase", "status")]
CLOSED = {key for stored, key in STATUSES.items() if stored.startswith("Closed")}


@pytest.fixture(scope="module")
def strict_demo(strict_emulator):
    strict_emulator.reset_controls("default")
    return demo_of(strict_emulator)


@pytest.fixture
def strict(strict_crm, settings):
    settings.ONECRM_DATA_ACCESS = "portal_auth"
    return strict_crm


def signed_in(client, crm, person, mode: str, settings) -> None:
    settings.ONECRM_DATA_ACCESS = mode
    if mode == "contact_token":
        crm.control("POST", "switches", json={"contact_token_reads_data": True})
    sign_in(client, crm.api_url, person, mode)
    crm.control("DELETE", "requests")


def case_named(crm, subject: str) -> dict:
    found = [c for c in crm_records(crm, "/data/aCase", name=subject) if c.get("name") == subject]
    assert len(found) == 1, found
    return found[0]


def test_closed_statuses_are_read_by_their_english_labels():
    """The unit of the fallback: keys of 1CRM's own, and an installation's own keys."""
    own = CaseStatuses.of(
        (
            FieldChoice("Neu", "Active - New"),
            FieldChoice("Erledigt", "Closed - Complete"),
            FieldChoice("Duplikat", "Closed - Duplicate"),
        ),
        "Closed - Complete",
        "Active - New",
    )
    assert own.is_closed("Erledigt") and own.is_closed("duplikat") and not own.is_closed("Neu")
    assert (own.close_to, own.reopen_to) == ("Erledigt", "Neu")
    vendor = CaseStatuses.of(
        (FieldChoice("Active - New", "New"), FieldChoice("Closed - Complete", "Closed")),
        "Closed - Complete",
        "Active - New",
    )
    assert (vendor.close_to, vendor.reopen_to) == ("Closed - Complete", "Active - New")
    unknown = CaseStatuses.of((), "Closed - Complete", "Active - New")
    assert unknown.is_closed("Closed - Rejected") and not unknown.is_closed("Pending")


def test_closed_cases_show_on_a_crm_that_ignores_view_closed(client, strict, strict_demo, settings):
    """The strict CRM lists closed cases unasked and takes `view_closed` without a 400:
    the portal still asks where it needs them and filters open from closed itself."""
    signed_in(client, strict, strict_demo.main, "portal_auth", settings)
    closed_cases_show_on_request(
        client, strict, strict_demo.main.account_id, lambda status: status in CLOSED
    )


@pytest.mark.parametrize("mode", MODES)
def test_the_list_tells_open_from_closed_in_the_installations_vocabulary(
    client, strict, strict_demo, settings, mode
):
    signed_in(client, strict, strict_demo.main, mode, settings)
    mine = crm_records(strict, "/data/aCase", account_id=strict_demo.main.account_id)
    closed = {str(c["case_number"]) for c in mine if c.get("status") in CLOSED}
    still_open = {str(c["case_number"]) for c in mine} - closed
    assert closed and still_open, "the demo account has open and closed cases"

    assert listed(client) == still_open
    assert listed(client, status="closed") == closed
    assert listed(client, status="all") == closed | still_open
    high = {str(c["case_number"]) for c in mine if c.get("priority") == "P1"}
    assert high and listed(client, status="all", priority="P1") == high


@pytest.mark.parametrize("mode", MODES)
def test_open_comment_close_and_reopen_on_the_strict_crm(
    client, strict, strict_demo, settings, mode
):
    PortalSettings.objects.filter(pk=1).update(cases_can_close=True, cases_can_reopen=True)
    forget_portal_settings()
    signed_in(client, strict, strict_demo.main, mode, settings)
    subject = f"Strict {uuid.uuid4().hex[:8]}"
    token = form_token(client.get("/cases/new/").content)
    files = [upload("photo.png", PNG, "image/png"), upload("Überblick.pdf", PDF, "application/pdf")]
    response = client.post(
        "/cases/new/",
        {
            "submission": token,
            "subject": subject,
            "description": "It hums.",
            "priority": "P2",
            "attachments": files,
        },
    )
    assert response.status_code == 302, response.content[:2000]
    case = case_named(strict, subject)
    case_url = response["Location"]
    assert case_url == f"/cases/{case['id']}/"
    assert case["account_id"] == strict_demo.main.account_id
    assert case["cust_contact_id"] == strict_demo.main.contact_id
    assert case.get("status") in (None, "Neu")  # the CRM's own default, if it sets one
    notes = crm_records(strict, f"/data/aCase/{case['id']}/notes")
    assert sorted(n["filename"] for n in notes) == ["photo.png", "Überblick.pdf"]

    # The page lists the attachments although the contact's token may not follow the
    # case's notes link; the bytes come through the portal unchanged.
    page = client.get(case_url)
    assert page.status_code == 200 and b"box-error" not in page.content
    for note in notes:
        link = f"/cases/{case['id']}/attachments/{note['id']}"
        assert link.encode() in page.content
        download = client.get(link)
        assert download.status_code == 200
        expected = PNG if note["filename"] == "photo.png" else PDF
        assert int(download["Content-Length"]) == len(expected)
        assert crm_bytes(strict, f"/files/download/Note/{note['id']}") == expected
        close_response(download)

    token = form_token(page.content)
    comment = client.post(
        f"{case_url}comment",
        {
            "submission": token,
            "body": "Strictly more.",
            "attachments": [upload("log.txt", b"hello", "text/plain")],
        },
    )
    assert comment.status_code == 302
    page = client.get(case_url)
    assert b"Strictly more." in page.content and b"log.txt" in page.content
    assert b"Close this case" in page.content

    assert client.post(f"{case_url}close").status_code == 302
    assert case_named(strict, subject)["status"] == "Erledigt"
    closed_page = client.get(case_url)
    assert b"Reopen this case" in closed_page.content
    assert b"Close this case" not in closed_page.content
    assert client.post(f"{case_url}close").status_code == 403  # already closed
    assert client.post(f"{case_url}reopen").status_code == 302
    assert case_named(strict, subject)["status"] == "Neu"
    kinds = set(ActivityEvent.objects.filter(record_id=case["id"]).values_list("kind", flat=True))
    assert kinds == {"case_created", "case_commented", "case_closed", "case_reopened"}


def test_staff_replies_show_on_the_strict_crm_in_a_bounded_number_of_calls(
    client, strict, strict_demo, settings
):
    signed_in(client, strict, strict_demo.main, "portal_auth", settings)
    cases = crm_records(strict, "/data/aCase", account_id=strict_demo.main.account_id)
    for case in cases:
        notes = crm_records(strict, f"/data/aCase/{case['id']}/notes")
        staff = [n for n in notes if not n.get("contact_id") and n.get("portal_flag") is True]
        if staff and staff[0].get("description"):
            break
    else:
        pytest.fail("the demo data has a case with a staff reply")
    url = f"/cases/{case['id']}/"
    client.get(url)  # learns that the link is refused, warms choices and locale
    strict.control("DELETE", "requests")
    with counted_calls() as log:
        page = client.get(url)
    assert page.status_code == 200
    assert b"Our support team" in page.content
    assert staff[0]["description"].encode() in page.content
    # The refusal was remembered: the notes come with the staff credential at once.
    assert [c.path for c in log.calls] == [
        url.replace("/cases/", "/data/aCase/").rstrip("/"),
        f"/data/aCase/{case['id']}/notes",
    ]
    notes_calls = [r for r in crm_requests(strict) if r["path"].endswith("/notes")]
    assert [r["credential"] for r in notes_calls] == ["staff"]


def test_another_accounts_case_and_attachment_are_404_on_the_strict_crm(
    client, strict, strict_demo, settings
):
    signed_in(client, strict, strict_demo.main, "portal_auth", settings)
    mine = crm_records(strict, "/data/aCase", account_id=strict_demo.main.account_id)[0]
    theirs = crm_records(strict, "/data/aCase", account_id=strict_demo.other.account_id)
    note = next(
        n
        for case in theirs
        for n in crm_records(strict, f"/data/aCase/{case['id']}/notes")
        if n.get("filename")
    )
    assert client.get(f"/cases/{theirs[0]['id']}/").status_code == 404
    assert client.post(f"/cases/{theirs[0]['id']}/comment", {"body": "x"}).status_code == 404
    assert client.get(f"/cases/{mine['id']}/attachments/{note['id']}").status_code == 404


def test_the_knowledge_base_on_the_strict_crm(client, strict, strict_demo, settings):
    from crm_emulator.demo_support import GERMAN_ARTICLE_SLUG, HOSTILE_ARTICLE_SLUG
    from tests.pages.test_help import articles

    signed_in(client, strict, strict_demo.main, "portal_auth", settings)
    index = client.get("/help/")
    assert index.status_code == 200 and b"Getting started" in index.content
    assert b"Staff only" not in index.content
    found = articles(strict)
    hostile = client.get(f"/help/articles/{found[HOSTILE_ARTICLE_SLUG]['id']}/")
    assert hostile.status_code == 200
    body = hostile.content.decode().lower()
    article = body[body.index('class="help-article__body"') :]
    article = article[: article.index("</article>")]
    for active in ("<script", "onclick", "onerror", "javascript:", "<iframe", "style="):
        assert active not in article, active
    search = client.get("/help/", {"q": "Große Grüße"})
    assert f"/help/articles/{found[GERMAN_ARTICLE_SLUG]['id']}/".encode() in search.content


@pytest.mark.parametrize("mode", MODES)
def test_the_dashboards_open_cases_box_on_the_strict_crm(
    client, strict, strict_demo, settings, mode
):
    from tests.pages.test_dashboard import box
    from tests.pages.test_dashboard_cases import staff_reply

    signed_in(client, strict, strict_demo.main, mode, settings)
    mine = crm_records(strict, "/data/aCase", account_id=strict_demo.main.account_id)
    still_open = [c for c in mine if c.get("status") not in CLOSED]
    response = client.get("/")
    assert response.status_code == 200
    cases = box(response.content.decode(), "cases")
    assert "card--failed" not in cases
    assert f"{len(still_open)} open case" in cases
    shown = re.findall(r'href="/cases/([0-9a-f-]+)/"', cases)
    assert shown and set(shown) <= {c["id"] for c in still_open}
    # A staff reply on the first: read although the contact's token may not follow links.
    staff_reply(strict, shown[0], f"A staff answer {mode}.")
    cases = box(client.get("/").content.decode(), "cases")
    row = re.search(rf'href="/cases/{shown[0]}/">.*?</li>', cases, re.S).group(0)
    assert "new repl" in row
