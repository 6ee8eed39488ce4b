"""The dashboard's open cases box (issue 14): the count, the latest open cases, and which
have a staff reply the contact has not seen ("seen" is the portal's own record, per
contact and case, written when the case's page shows the conversation); its own box when
the CRM call fails; hidden with the cases section; a bounded number of CRM calls.
"""

from __future__ import annotations

import re

import httpx2 as httpx
import pytest

from portal.models import CaseSeen, PortalSettings
from portal.site_settings import forget_portal_settings
from portal.views.dashboard_cases import LATEST
from tests.pages.conftest import counted_calls, crm_requests, staff_get, staff_token
from tests.pages.test_cases import crm_records, is_closed
from tests.pages.test_dashboard import box

pytestmark = pytest.mark.django_db

CASE_LINK = re.compile(r'<a href="/cases/([0-9a-f-]+)/">')
UNSEEN = re.compile(r"(\d+) new repl(?:y|ies)</span>")
# A message marked new on the case's page (not the case's status badge, which may also
# read "New").
NEW_MESSAGE = re.compile(
    r'<p class="message__who">(?:(?!</p>).)*<span class="badge badge--open">New</span>', re.S
)


def shown_cases(html: str) -> list[str]:
    return CASE_LINK.findall(box(html, "cases"))


def staff_reply(crm, case_id: str, text: str, when: str = "") -> None:
    """A reply written by staff in the CRM: a portal note without a contact (stamped
    `when`, the CRM's "YYYY-MM-DD HH:MM:SS", if given; else now)."""
    data = {"name": text, "description": text, "parent_type": "Cases", "parent_id": case_id,
            "portal_flag": True}  # fmt: skip
    if when:
        data["date_entered"] = when
    reply = httpx.post(
        f"{crm.api_url}/data/Note",
        json={"data": data},
        headers={"Authorization": f"Bearer {staff_token(crm.api_url)}"},
        timeout=10,
    )
    reply.raise_for_status()


def test_the_box_counts_open_cases_and_marks_unseen_staff_replies(contact_client, crm_pages, demo):
    mine = crm_records(crm_pages, "/data/aCase", account_id=demo.main.account_id)
    still_open = [c for c in mine if not is_closed(crm_pages, c.get("status"))]
    html = contact_client.get("/").content.decode()
    cases = box(html, "cases")
    count = len(still_open)
    assert f"{count} open case" in cases and 'href="/cases/"' in cases
    shown = shown_cases(html)
    assert shown and len(shown) <= LATEST
    assert set(shown) <= {c["id"] for c in still_open}

    # Never opened: each staff reply on a shown case is unseen.
    def staff_notes(case_id: str) -> list[dict]:
        notes = crm_records(crm_pages, f"/data/aCase/{case_id}/notes")
        return [
            n for n in notes if n.get("portal_flag") in (True, 1, "1") and not n.get("contact_id")
        ]

    with_replies = [case_id for case_id in shown if staff_notes(case_id)]
    if not with_replies:
        # The demo's latest cases have staff replies, but other tests may have opened
        # newer cases in this account since: give the newest one a reply of its own.
        staff_reply(crm_pages, shown[0], "We are looking into it.")
        cases = box(contact_client.get("/").content.decode(), "cases")
        with_replies = [shown[0]]
    case_id = with_replies[0]
    before = re.search(rf'href="/cases/{case_id}/">.*?</li>', cases, re.S).group(0)
    assert UNSEEN.search(before).group(1) == str(len(staff_notes(case_id)))

    # Opening the case marks its replies seen (for this contact and case only), and the
    # page marks them new this once.
    page = contact_client.get(f"/cases/{case_id}/").content.decode()
    assert len(NEW_MESSAGE.findall(page)) == len(staff_notes(case_id))
    seen = CaseSeen.objects.get(contact_id=demo.main.contact_id, case_id=case_id)
    assert seen.replies_seen_until is not None
    assert not CaseSeen.objects.exclude(contact_id=demo.main.contact_id).filter(case_id=case_id)
    again = contact_client.get(f"/cases/{case_id}/").content.decode()
    assert not NEW_MESSAGE.search(again)
    after = box(contact_client.get("/").content.decode(), "cases")
    row = re.search(rf'href="/cases/{case_id}/">.*?</li>', after, re.S).group(0)
    assert not UNSEEN.search(row)

    # A new staff reply in the CRM: unseen again, one of it.
    staff_reply(crm_pages, case_id, "We have sent a replacement.")
    later = box(contact_client.get("/").content.decode(), "cases")
    row = re.search(rf'href="/cases/{case_id}/">.*?</li>', later, re.S).group(0)
    assert UNSEEN.search(row).group(1) == "1"


def test_a_second_staff_reply_in_the_same_second_is_new(contact_client, crm_pages, demo):
    """The CRM's timestamps have whole seconds: a reply stamped the very second of the
    newest one the contact has read is still new to them, on the dashboard and the page."""
    case_id = shown_cases(contact_client.get("/").content.decode())[0]
    moment = "2031-01-02 03:04:05"  # after every reply the demo or another test wrote
    staff_reply(crm_pages, case_id, "First answer.", when=moment)
    assert moment[:10] in stamps(crm_pages, case_id), "the CRM keeps the stamp given"
    contact_client.get(f"/cases/{case_id}/")  # read up to the first answer
    staff_reply(crm_pages, case_id, "Second answer, the same second.", when=moment)
    row = re.search(
        rf'href="/cases/{case_id}/">.*?</li>',
        box(contact_client.get("/").content.decode(), "cases"),
        re.S,
    ).group(0)
    assert UNSEEN.search(row).group(1) == "1"
    page = contact_client.get(f"/cases/{case_id}/").content.decode()
    assert len(NEW_MESSAGE.findall(page)) == 1
    # The message's badge is the last "New" (the case's status, above, may read New too).
    assert "Second answer, the same second." in page.rsplit('badge--open">New</span>', 1)[1]
    # Read now: nothing new, and the row holds both replies of that second.
    again = contact_client.get(f"/cases/{case_id}/").content.decode()
    assert not NEW_MESSAGE.search(again)
    seen = CaseSeen.objects.get(contact_id=demo.main.contact_id, case_id=case_id)
    assert len(seen.replies_seen_ids) == 2
    assert stamps(crm_pages, case_id).count(moment[:10]) == 2  # one second, two replies


def stamps(crm, case_id: str) -> list[str]:
    """The dates of the case's notes, as the CRM holds them."""
    params = [("limit", "200"), ("fields[]", "date_entered")]
    notes = staff_get(crm.api_url, staff_token(crm.api_url), f"/data/aCase/{case_id}/notes", params)
    return [str(n["date_entered"])[:10] for n in notes["records"]]


def test_the_box_makes_a_bounded_number_of_calls(contact_client, crm_pages):
    contact_client.get("/")  # warms the choices, the locale and the tokens
    with counted_calls() as log:
        assert contact_client.get("/").status_code == 200
    case_calls = [c.path for c in log.calls if "aCase" in c.path]
    assert case_calls.count("/data/aCase") == 1
    notes = [path for path in case_calls if path.endswith("/notes")]
    assert 1 <= len(notes) <= LATEST and len(case_calls) == 1 + len(notes)


def test_a_failing_cases_call_fails_in_its_own_box(contact_client, crm_pages, settings):
    settings.DASHBOARD_BALANCE_TTL = 0  # the balance box as read (not "as of" a cached one)
    healthy = contact_client.get("/").content.decode()
    crm_pages.control(
        "POST", "faults", json={"path": "^/data/aCase$", "kind": "status", "status": 500}
    )
    response = contact_client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    failed = box(html, "cases")
    assert "card--failed" in failed and "This part could not be loaded just now." in failed
    assert 'hx-select="#box-cases"' in failed
    for other in ("invoices", "quotes", "documents"):
        assert box(html, other) == box(healthy, other)


def test_the_box_is_hidden_when_the_cases_section_is_off(contact_client, crm_pages):
    PortalSettings.objects.filter(pk=PortalSettings.SINGLETON_ID).update(section_cases=False)
    forget_portal_settings()
    crm_pages.control("DELETE", "requests")
    html = contact_client.get("/").content.decode()
    assert 'id="box-cases"' not in html and "Open support cases" not in html
    assert not [r for r in crm_requests(crm_pages) if "aCase" in r["path"]]
