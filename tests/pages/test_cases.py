"""Support cases against the emulator as a server (issue 14): list, open with attachments,
the conversation, comments, close and reopen, in each data-access mode; what is written
carries the session's account and contact whatever the form says; uploads are bounded
and checked; a double submit writes once; a failure half-way leaves no half-made case.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import httpx2 as httpx
import pytest
from asgiref.sync import async_to_sync
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from crm_emulator.demo_data import make_png
from portal.downloads import take_slot
from portal.models import ActivityEvent, PortalSettings
from tests.conftest import close_response
from tests.pages.conftest import counted_calls, crm_requests, sign_in, staff_get, staff_token

pytestmark = pytest.mark.django_db

MODES = ["contact_token", "portal_auth", "staff"]
PNG = make_png(20, 10, 1)
PDF = b"%PDF-1.4\n% a tiny test file\n%%EOF\n"


def signed_in(client: Client, crm, person, mode: str) -> None:
    if mode == "contact_token":
        crm.control("POST", "switches", json={"contact_token_reads_data": True})
    sign_in(client, crm.api_url, person, mode)
    crm.control("DELETE", "requests")


CASE_FIELDS = "name case_number description account_id cust_contact_id status category priority"
NOTE_FIELDS = "name description account_id contact_id parent_id parent_type filename portal_flag"


def crm_records(crm, path: str, **filters: str) -> list[dict]:
    """Straight from the CRM with the staff credential (what was really written); a case
    list with its closed cases (`view_closed`, which other lists ignore)."""
    names = NOTE_FIELDS if path.endswith("/notes") or path.startswith("/data/Note") else CASE_FIELDS
    params = [("limit", "200"), ("view_closed", "1")]
    params += [(f"filters[{k}]", v) for k, v in filters.items()]
    params += [("fields[]", name) for name in names.split()]
    return staff_get(crm.api_url, staff_token(crm.api_url), path, params)["records"]


def crm_bytes(crm, path: str) -> bytes:
    reply = httpx.get(
        f"{crm.api_url}{path}",
        headers={"Authorization": f"Bearer {staff_token(crm.api_url)}"},
        timeout=10,
    )
    reply.raise_for_status()
    return reply.content


def form_token(page: bytes) -> str:
    match = re.search(rb'name="submission" value="([^"]+)"', page)
    assert match, "the form carries a submission token"
    return match.group(1).decode()


def new_case(client: Client, *, subject: str, files=(), **extra):
    token = form_token(client.get("/cases/new/").content)
    data = {"submission": token, "subject": subject, "description": "It hums.", **extra}
    if files:
        data["attachments"] = list(files)
    return client.post("/cases/new/", data)


def upload(name: str, content: bytes, content_type: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def is_closed(crm, status: str | None) -> bool:
    """Closed by the demo's own keys (1CRM's, "Closed - ..."), in this server's
    vocabulary: the strict profile's `Erledigt` is the demo's `Closed - Complete`."""
    return (crm.demo_value("aCase", "status", status) or "").startswith("Closed")


def case_of(crm, subject: str) -> dict | None:
    found = [c for c in crm_records(crm, "/data/aCase", name=subject) if c.get("name") == subject]
    assert len(found) <= 1, found
    return found[0] if found else None


# --- The list ----------------------------------------------------------------------------


def case_list_queries(crm) -> list[str]:
    """The query strings of the case lists the portal asked the CRM for."""
    return [r["query"] for r in crm_requests(crm) if r["path"] == "/data/aCase"]


CASE_NUMBER = re.compile(rb'<a href="/cases/[0-9a-f-]+/">(\d+)</a>')


def listed(client: Client, **params: str) -> set[str]:
    """The case numbers the list shows, over all its pages (other tests add cases to the
    demo account: it may hold more than one page)."""
    found: set[str] = set()
    for page in range(1, 50):
        response = client.get("/cases/", {**params, "page": str(page)})
        assert response.status_code == 200
        found |= {n.decode() for n in CASE_NUMBER.findall(response.content)}
        if b'rel="next"' not in response.content:
            return found
    raise AssertionError("the case list does not end")


def closed_cases_show_on_request(client: Client, crm, account_id: str, is_closed) -> None:
    """The contact's closed cases show on the closed and all views, which ask with
    `view_closed=1`; the open list and the dashboard's box do not ask. The portal filters
    itself, so it holds on a CRM that honours the parameter and on one that ignores it."""
    mine = crm_records(crm, "/data/aCase", account_id=account_id)
    closed = {str(c["case_number"]) for c in mine if is_closed(c.get("status") or "")}
    still_open = {str(c["case_number"]) for c in mine} - closed
    assert closed and still_open, "the demo account has open and closed cases"

    def shown(**params: str) -> tuple[set[str], list[str]]:
        crm.control("DELETE", "requests")
        return listed(client, **params), case_list_queries(crm)

    numbers, queries = shown()
    assert numbers == still_open
    assert queries and not [q for q in queries if "view_closed" in q]
    for status, expected in (("closed", closed), ("all", closed | still_open)):
        numbers, queries = shown(status=status)
        assert numbers == expected, status
        assert queries and all("view_closed=1" in q.split("&") for q in queries), queries
    crm.control("DELETE", "requests")
    assert client.get("/").status_code == 200
    dashboard = case_list_queries(crm)
    assert dashboard and not [q for q in dashboard if "view_closed" in q]


def test_closed_cases_are_asked_for_with_view_closed(crm_pages, demo, client):
    signed_in(client, crm_pages, demo.main, "portal_auth")
    closed_cases_show_on_request(
        client, crm_pages, demo.main.account_id, lambda status: is_closed(crm_pages, status)
    )


@pytest.mark.parametrize("mode", MODES)
def test_list_shows_open_cases_by_default_and_closed_on_request(crm_pages, demo, client, mode):
    signed_in(client, crm_pages, demo.main, mode)
    mine = crm_records(crm_pages, "/data/aCase", account_id=demo.main.account_id)
    # A case the staff credential created has no status (the CRM sets none): open.
    closed_numbers = {str(c["case_number"]) for c in mine if is_closed(crm_pages, c.get("status"))}
    open_numbers = {str(c["case_number"]) for c in mine} - closed_numbers
    assert open_numbers and closed_numbers, "the demo account has open and closed cases"

    def numbers(page: bytes) -> set[str]:
        return {n.decode() for n in re.findall(rb'<a href="/cases/[0-9a-f-]+/">(\d+)</a>', page)}

    with counted_calls() as cold:
        response = client.get("/cases/")
    assert response.status_code == 200
    assert numbers(response.content) <= open_numbers
    assert listed(client) == open_numbers
    with counted_calls() as warm:
        client.get("/cases/")
    # Cold: the list and the choices, besides the token, locale and currencies every
    # first page fetches; warm (choices and locale cached): the list call alone.
    every_first_page = {"/auth/user/access_token", "/portal/auth", "/meta/locale", "/data/Currency"}
    assert {c.path for c in cold.calls} - every_first_page == {"/data/aCase", "/meta/fields/aCase"}
    assert [c.path for c in warm.calls] == ["/data/aCase"]
    closed = client.get("/cases/", {"status": "closed"})
    assert listed(client, status="closed") == closed_numbers
    everything = listed(client, status="all")
    assert everything == open_numbers | closed_numbers
    htmx = client.get("/cases/", {"status": "closed"}, headers={"HX-Request": "true"})
    assert b"<html" not in htmx.content and numbers(htmx.content) == numbers(closed.content)
    assert htmx["HX-Push-Url"] == "/cases/?status=closed"
    # Nothing of another account's.
    theirs = crm_records(crm_pages, "/data/aCase", account_id=demo.other.account_id)
    assert not {str(c["case_number"]) for c in theirs} & everything


def test_the_list_filters_by_priority_in_the_query_string(crm_pages, demo, client):
    signed_in(client, crm_pages, demo.main, "portal_auth")
    mine = crm_records(crm_pages, "/data/aCase", account_id=demo.main.account_id)
    high = {str(c["case_number"]) for c in mine if c.get("priority") == "P1"}
    assert high and high != {str(c["case_number"]) for c in mine}

    def numbers(page: bytes) -> set[str]:
        return {n.decode() for n in re.findall(rb'<a href="/cases/[0-9a-f-]+/">(\d+)</a>', page)}

    crm_pages.control("DELETE", "requests")
    response = client.get("/cases/", {"status": "all", "priority": "P1"})
    assert response.status_code == 200
    assert numbers(response.content) == high
    lists = [r for r in crm_requests(crm_pages) if r["path"] == "/data/aCase"]
    assert [r["query"].count("filters%5Bpriority%5D=P1") for r in lists] == [1]
    # The select offers the CRM's priorities in the contact's language, P1 chosen; sort
    # links keep the filter.
    assert re.search(rb'<select id="list-priority" name="priority">', response.content)
    assert b'<option value="P1" selected>High</option>' in response.content
    assert b"priority=P1&amp;sort=number" in response.content
    htmx = client.get(
        "/cases/", {"priority": "P1", "status": "all"}, headers={"HX-Request": "true"}
    )
    assert htmx["HX-Push-Url"] == "/cases/?status=all&priority=P1"
    assert numbers(htmx.content) == high
    # A priority this CRM does not have, or two at once: refused, no list call.
    crm_pages.control("DELETE", "requests")
    assert client.get("/cases/", {"priority": "P9"}).status_code == 400
    assert client.get("/cases/?priority=P1&priority=P2").status_code == 400
    assert [r for r in crm_requests(crm_pages) if r["path"] == "/data/aCase"] == []


# --- Opening a case ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_open_a_case_with_two_attachments(crm_pages, demo, client, mode):
    signed_in(client, crm_pages, demo.main, mode)
    subject = f"Drill stops {uuid.uuid4().hex[:8]}"
    files = [upload("photo.png", PNG, "image/png"), upload("Überblick.pdf", PDF, "application/pdf")]
    response = new_case(client, subject=subject, files=files, category="PC Hardware", priority="P1")
    assert response.status_code == 302, response.content[:2000]
    case = case_of(crm_pages, subject)
    assert case is not None
    assert response["Location"] == f"/cases/{case['id']}/"
    assert case["account_id"] == demo.main.account_id
    assert case["cust_contact_id"] == demo.main.contact_id
    assert (case["category"], case["priority"]) == ("PC Hardware", "P1")
    notes = crm_records(crm_pages, f"/data/aCase/{case['id']}/notes")
    assert sorted(n["filename"] for n in notes) == ["photo.png", "Überblick.pdf"]
    for note in notes:
        assert note["parent_type"] == "Cases" and note["contact_id"] == demo.main.contact_id
        assert note["portal_flag"] in (True, 1, "1")
    # The bytes came through unchanged, and the contact downloads them again.
    page = client.get(response["Location"])
    assert page.status_code == 200
    for note in notes:
        expected = PNG if note["filename"] == "photo.png" else PDF
        assert crm_bytes(crm_pages, f"/files/download/Note/{note['id']}") == expected
        assert f"/cases/{case['id']}/attachments/{note['id']}".encode() in page.content
        download = client.get(f"/cases/{case['id']}/attachments/{note['id']}")
        assert download.status_code == 200
        assert download["Content-Disposition"].startswith("attachment;")
        assert int(download["Content-Length"]) == len(expected)
        close_response(download)
    assert ActivityEvent.objects.filter(kind="case_created", record_id=case["id"]).exists()


def test_case_files_and_the_personal_data_pdf_take_a_download_slot(
    crm_pages, demo, client, settings
):
    """Like every other download: with the contact's slots in use, a friendly 429 and no
    CRM stream (they were relayed outside the per-contact cap before)."""
    signed_in(client, crm_pages, demo.main, "portal_auth")
    cases = crm_records(crm_pages, "/data/aCase", account_id=demo.main.account_id)
    files = [
        (case, note)
        for case in cases
        for note in crm_records(crm_pages, f"/data/aCase/{case['id']}/notes")
        if note.get("filename") and note.get("portal_flag") in (True, 1, "1")
    ]
    assert files, "the demo account has a case with an attachment"
    case, note = files[0]
    attachment = f"/cases/{case['id']}/attachments/{note['id']}"
    settings.DOWNLOADS_PER_CONTACT = 1
    slot = async_to_sync(take_slot)(demo.main.contact_id)
    assert slot is not None
    crm_pages.control("DELETE", "requests")
    for url in (attachment, "/profile/personal-data.pdf"):
        assert client.get(url).status_code == 429, url
    relayed = [r for r in crm_requests(crm_pages) if r["path"].startswith(("/files/", "/printer/"))]
    assert relayed == []
    async_to_sync(slot.release)()
    served = client.get(attachment)
    assert served.status_code == 200
    close_response(served)


def test_a_tampered_form_creates_nothing_in_another_account(crm_pages, demo, client):
    signed_in(client, crm_pages, demo.main, "portal_auth")
    subject = f"Tampered {uuid.uuid4().hex[:8]}"
    response = new_case(
        client,
        subject=subject,
        account_id=demo.other.account_id,
        cust_contact_id=demo.other.contact_id,
        contact_id=demo.other.contact_id,
    )
    assert response.status_code == 302
    case = case_of(crm_pages, subject)
    assert case["account_id"] == demo.main.account_id
    assert case["cust_contact_id"] == demo.main.contact_id
    theirs = crm_records(crm_pages, "/data/aCase", account_id=demo.other.account_id)
    assert subject not in {c.get("name") for c in theirs}
    created = [
        e for e in crm_requests(crm_pages) if e["method"] == "POST" and e["path"] == "/data/aCase"
    ]
    assert len(created) == 1


def test_a_double_submit_creates_one_case(crm_pages, demo, client):
    signed_in(client, crm_pages, demo.main, "portal_auth")
    token = form_token(client.get("/cases/new/").content)
    subject = f"Twice {uuid.uuid4().hex[:8]}"
    data = {"submission": token, "subject": subject, "description": "Clicked twice."}
    first = client.post("/cases/new/", data)
    second = client.post("/cases/new/", data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert case_of(crm_pages, subject) is not None  # exactly one (case_of asserts it)


def test_the_form_keeps_what_was_typed_on_an_error(crm_pages, demo, client):
    signed_in(client, crm_pages, demo.main, "portal_auth")
    response = new_case(client, subject="", description="Kept <text> & more")
    assert response.status_code == 400
    assert b"Kept &lt;text&gt; &amp; more</textarea>" in response.content
    assert b'role="alert"' in response.content
    assert [
        e for e in crm_requests(crm_pages) if e["method"] == "POST" and "/data/" in e["path"]
    ] == []


@pytest.mark.parametrize(
    ("name", "content", "content_type", "message"),
    [
        ("big.pdf", PDF + b"x" * (1024 * 1024), "application/pdf", b"larger than 1 MiB"),
        ("tool.exe", b"MZ\x90\x00", "application/x-msdownload", b"cannot be attached"),
        ("photo.png", PDF, "application/pdf", b"cannot be attached"),  # stated type differs
        # Django drops the direction override; what is left is refused by its type.
        ("\u202egnp.exe", PNG, "image/png", b"cannot be attached"),
        (".htaccess.png", PNG, "image/png", b"ordinary name"),
        ("con.png", PNG, "image/png", b"ordinary name"),
    ],
)
def test_refused_uploads_write_nothing_and_keep_the_form(
    crm_pages, demo, client, name, content, content_type, message
):
    PortalSettings.objects.filter(pk=1).update(upload_max_mib=1)
    from portal.site_settings import forget_portal_settings

    forget_portal_settings()
    signed_in(client, crm_pages, demo.main, "portal_auth")
    subject = f"Refused {uuid.uuid4().hex[:8]}"
    response = new_case(client, subject=subject, files=[upload(name, content, content_type)])
    assert response.status_code == 400
    assert message in response.content, re.findall(rb"(?s)form-problems.{0,600}", response.content)
    assert f'value="{subject}"'.encode() in response.content
    writes = [e for e in crm_requests(crm_pages) if e["method"] == "POST"]
    assert [e for e in writes if e["path"] in {"/files/upload", "/data/aCase", "/data/Note"}] == []


def test_too_many_files_are_refused(crm_pages, demo, client):
    PortalSettings.objects.filter(pk=1).update(upload_max_files=1)
    from portal.site_settings import forget_portal_settings

    forget_portal_settings()
    signed_in(client, crm_pages, demo.main, "portal_auth")
    files = [upload("a.png", PNG, "image/png"), upload("b.png", PNG, "image/png")]
    response = new_case(client, subject="Two files", files=files)
    assert response.status_code == 400
    assert b"At most 1 files" in response.content
    assert [
        e
        for e in crm_requests(crm_pages)
        if e["method"] == "POST" and not e["path"].startswith(("/portal/auth", "/auth/"))
    ] == []


def test_a_failure_after_the_uploads_leaves_no_case(crm_pages, demo, client):
    """The uploads went through, then the CRM failed to create the case: nothing refers
    to the uploads, no case exists, and the contact is told nothing was saved."""
    signed_in(client, crm_pages, demo.main, "portal_auth")
    crm_pages.control(
        "POST",
        "faults",
        json={"path": "^/data/aCase$", "method": "POST", "kind": "status", "status": 500},
    )
    subject = f"Half way {uuid.uuid4().hex[:8]}"
    files = [upload("a.png", PNG, "image/png"), upload("b.png", PNG, "image/png")]
    response = new_case(client, subject=subject, files=files)
    crm_pages.control("DELETE", "faults")
    assert response.status_code == 503
    assert b"nothing was saved" in response.content
    assert f'value="{subject}"'.encode() in response.content
    assert case_of(crm_pages, subject) is None
    uploads = [e for e in crm_requests(crm_pages) if e["path"] == "/files/upload"]
    assert len(uploads) == 2  # both went first; no note names them


def test_a_failure_while_attaching_says_exactly_what_is_missing(crm_pages, demo, client):
    signed_in(client, crm_pages, demo.main, "portal_auth")
    crm_pages.control(
        "POST",
        "faults",
        json={
            "path": "^/data/Note$",
            "method": "POST",
            "kind": "status",
            "status": 500,
            "times": 1,
        },
    )
    subject = f"One missing {uuid.uuid4().hex[:8]}"
    files = [upload("first.png", PNG, "image/png"), upload("second.png", PNG, "image/png")]
    response = new_case(client, subject=subject, files=files)
    crm_pages.control("DELETE", "faults")
    assert response.status_code == 302
    case = case_of(crm_pages, subject)
    notes = crm_records(crm_pages, f"/data/aCase/{case['id']}/notes")
    assert [n["filename"] for n in notes] == ["second.png"]
    page = client.get(response["Location"])
    assert b"These files could not be attached: first.png" in page.content


# --- The conversation, comments, close and reopen -----------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_comment_with_an_attachment_close_and_reopen(crm_pages, demo, client, mode):
    PortalSettings.objects.filter(pk=1).update(cases_can_close=True, cases_can_reopen=True)
    from portal.site_settings import forget_portal_settings

    forget_portal_settings()
    signed_in(client, crm_pages, demo.main, mode)
    subject = f"Converse {uuid.uuid4().hex[:8]}"
    case_url = new_case(client, subject=subject)["Location"]
    case_id = case_url.strip("/").split("/")[-1]
    page = client.get(case_url)
    token = form_token(page.content)
    response = client.post(
        f"{case_url}comment",
        {
            "submission": token,
            "body": "More details here.",
            "attachments": [upload("log.txt", b"hello", "text/plain")],
        },
    )
    assert response.status_code == 302
    notes = crm_records(crm_pages, f"/data/aCase/{case_id}/notes")
    assert {n.get("description") for n in notes} >= {"More details here."}
    assert "log.txt" in {n.get("filename") for n in notes}
    assert all(n["contact_id"] == demo.main.contact_id for n in notes)
    page = client.get(case_url)
    assert b"More details here." in page.content and b"log.txt" in page.content
    # The same comment again (a reload) writes nothing more.
    again = client.post(f"{case_url}comment", {"submission": token, "body": "More details here."})
    assert again.status_code == 302
    assert len(crm_records(crm_pages, f"/data/aCase/{case_id}/notes")) == len(notes)

    assert client.post(f"{case_url}close").status_code == 302
    assert case_of(crm_pages, subject)["status"] == crm_pages.key(
        "aCase", "status", "Closed - Complete"
    )
    assert client.post(f"{case_url}close").status_code == 403  # already closed
    assert client.post(f"{case_url}reopen").status_code == 302
    assert case_of(crm_pages, subject)["status"] == crm_pages.key("aCase", "status", "Active - New")
    kinds = set(ActivityEvent.objects.filter(record_id=case_id).values_list("kind", flat=True))
    assert kinds == {"case_created", "case_commented", "case_closed", "case_reopened"}


def test_close_and_reopen_are_refused_unless_staff_allow(crm_pages, demo, client):
    signed_in(client, crm_pages, demo.main, "portal_auth")
    case_url = new_case(client, subject=f"No close {uuid.uuid4().hex[:8]}")["Location"]
    crm_pages.control("DELETE", "requests")
    assert b"Close this case" not in client.get(case_url).content
    assert client.post(f"{case_url}close").status_code == 403
    assert [
        e
        for e in crm_requests(crm_pages)
        if e["method"] not in {"GET", "HEAD"}
        and not e["path"].startswith(("/portal/auth", "/auth/"))
    ] == []


def test_the_conversation_tells_staff_replies_from_the_contacts_own(crm_pages, demo, client):
    signed_in(client, crm_pages, demo.main, "portal_auth")
    cases = crm_records(crm_pages, "/data/aCase", account_id=demo.main.account_id)
    for case in cases:
        notes = crm_records(crm_pages, f"/data/aCase/{case['id']}/notes")
        # A sparse CRM leaves an empty contact_id out (booleans stay).
        staff = [n for n in notes if not n.get("contact_id") and n.get("portal_flag") in (True, 1)]
        internal = [n for n in notes if n.get("portal_flag") in (False, 0, "0", "")]
        if staff and internal:
            break
    else:
        pytest.fail("the demo data has a case with staff replies and an internal note")
    client.get(f"/cases/{case['id']}/")  # warms the choices and the locale
    with counted_calls() as log:
        page = client.get(f"/cases/{case['id']}/")
    assert page.status_code == 200
    assert [c.path for c in log.calls] == [
        f"/data/aCase/{case['id']}",
        f"/data/aCase/{case['id']}/notes",
    ]
    assert b"Our support team" in page.content
    assert staff[0]["description"].encode() in page.content
    for note in internal:
        assert note["description"].encode() not in page.content


def crm_post(crm, path: str, headers: dict | None = None, **kwargs) -> dict:
    """A write straight to the CRM with the staff credential (what staff do in 1CRM)."""
    headers = {"Authorization": f"Bearer {staff_token(crm.api_url)}", **(headers or {})}
    reply = httpx.post(f"{crm.api_url}{path}", headers=headers, timeout=10, **kwargs)
    reply.raise_for_status()
    return reply.json()


def test_messages_of_the_same_moment_keep_one_order(crm_pages, demo, client):
    """The CRM's dates have whole seconds: a comment, its file and a staff reply written
    within one share a date_entered, and a CRM may list them in any order (the emulator
    by id). The conversation puts a message's text before notes that only carry a file,
    then orders by id: the same order on every page, whatever the CRM's tie order."""
    signed_in(client, crm_pages, demo.main, "portal_auth")
    case_url = new_case(client, subject=f"Same second {uuid.uuid4().hex[:8]}")["Location"]
    case_id = case_url.strip("/").split("/")[-1]
    # In the past: a later test's new reply must still be newer than these.
    moment = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    tag = uuid.uuid4().hex[:7]

    def note_id(first: str) -> str:  # ids that sort as the test needs, unique per run
        return f"{first}{tag}-0000-4000-8000-{uuid.uuid4().hex[:12]}"

    upload_id = crm_post(
        crm_pages,
        "/files/upload",
        content=b"hello",
        headers={"Content-Type": "text/plain", "X-OneCRM-Filename": f"log-{tag}.txt"},
    )["id"]
    common = {
        "parent_type": "Cases",
        "parent_id": case_id,
        "portal_flag": 1,
        "date_entered": moment,
    }
    customer = {"contact_id": demo.main.contact_id, "account_id": demo.main.account_id}
    notes = [  # in the order they were written; the ids sort the other way round
        (note_id("f"), {"name": "Words", "description": f"The words {tag}.", **customer}),
        (
            note_id("0"),
            {"name": f"log-{tag}.txt", "description": "", "filename": upload_id, **customer},
        ),
        (note_id("7"), {"name": "Reply", "description": f"Our reply {tag}.", "contact_id": ""}),
    ]
    for record_id, fields in notes:
        crm_post(crm_pages, "/data/Note", json={"data": {"id": record_id, **common, **fields}})
    listed = [n["id"] for n in crm_records(crm_pages, f"/data/aCase/{case_id}/notes")]
    assert listed == sorted(record_id for record_id, _ in notes), "the CRM lists ties by id"

    expected = [b"It hums.", f"Our reply {tag}.".encode(), f"The words {tag}.".encode(),
                f"log-{tag}.txt".encode()]  # fmt: skip
    for _ in range(2):  # and again: nothing about the order changes between pages
        page = client.get(case_url)
        assert page.status_code == 200
        places = [page.content.find(text) for text in expected]
        assert -1 not in places, places
        assert places == sorted(places), places


def test_another_accounts_case_note_is_not_reachable_through_mine(crm_pages, demo, client):
    signed_in(client, crm_pages, demo.main, "portal_auth")
    mine = crm_records(crm_pages, "/data/aCase", account_id=demo.main.account_id)[0]
    theirs = crm_records(crm_pages, "/data/aCase", account_id=demo.other.account_id)
    note = next(
        n
        for case in theirs
        for n in crm_records(crm_pages, f"/data/aCase/{case['id']}/notes")
        if n.get("filename")
    )
    response = client.get(f"/cases/{mine['id']}/attachments/{note['id']}")
    assert response.status_code == 404


def test_rate_limits_on_new_cases_and_comments_answer_clearly(crm_pages, demo, client):
    PortalSettings.objects.filter(pk=1).update(cases_per_hour=1, comments_per_hour=1)
    from portal.site_settings import forget_portal_settings

    forget_portal_settings()
    signed_in(client, crm_pages, demo.main, "portal_auth")
    case_url = new_case(client, subject=f"First {uuid.uuid4().hex[:8]}")["Location"]
    subject = f"Second {uuid.uuid4().hex[:8]}"
    crm_pages.control("DELETE", "requests")
    refused = new_case(client, subject=subject)
    assert refused.status_code == 429
    assert b"You have opened many cases in the last hour" in refused.content
    assert f'value="{subject}"'.encode() in refused.content  # what was typed is kept
    assert case_of(crm_pages, subject) is None
    assert not [
        e for e in crm_requests(crm_pages) if e["method"] == "POST" and "/data/" in e["path"]
    ]

    def comment(body: str):
        token = form_token(client.get(case_url).content)
        return client.post(f"{case_url}comment", {"submission": token, "body": body})

    assert comment("One message.").status_code == 302
    again = comment("Another message.")
    assert again.status_code == 429
    assert b"You have sent many messages in the last hour" in again.content
    assert b"Another message.</textarea>" in again.content
    case_id = case_url.strip("/").split("/")[-1]
    notes = crm_records(crm_pages, f"/data/aCase/{case_id}/notes")
    assert [n["description"] for n in notes] == ["One message."]


def test_writing_pages_make_a_bounded_number_of_calls(crm_pages, demo, client):
    signed_in(client, crm_pages, demo.main, "portal_auth")
    client.get("/cases/new/")  # warms the choices, the locale and the token
    with counted_calls() as form:
        page = client.get("/cases/new/")
    assert form.calls == []  # everything it needs is cached
    token = form_token(page.content)
    files = [upload("a.png", PNG, "image/png"), upload("b.png", PNG, "image/png")]
    data = {"submission": token, "subject": f"Counted {uuid.uuid4().hex[:8]}",
            "description": "Two files.", "attachments": files}  # fmt: skip
    with counted_calls() as created:
        case_url = client.post("/cases/new/", data)["Location"]

    def crm_calls(log) -> list[str]:  # besides minting the contact's token
        return [c.path for c in log.calls if not c.path.startswith(("/portal/auth", "/auth/"))]

    # Two uploads, the case, its read-back, two notes.
    assert crm_calls(created) == [
        "/files/upload", "/files/upload", "/data/aCase",
        f"/data/aCase/{case_url.strip('/').split('/')[-1]}", "/data/Note", "/data/Note",
    ]  # fmt: skip
    token = form_token(client.get(case_url).content)
    with counted_calls() as commented:
        client.post(f"{case_url}comment", {"submission": token, "body": "Counted."})
    # The case (its check), the note.
    assert crm_calls(commented) == [
        f"/data/aCase/{case_url.strip('/').split('/')[-1]}",
        "/data/Note",
    ]


def test_a_long_case_shows_its_newest_messages(crm_pages, demo, client, monkeypatch):
    """The conversation reads at most `CASE_NOTES_READ` notes: a long case keeps its
    newest ones (the latest replies), oldest of them first, never its oldest."""
    # The gateway's own limit, made small (200 notes would make a slow test).
    monkeypatch.setattr("crm_gateway.gateway.CASE_NOTES_READ", 3)
    signed_in(client, crm_pages, demo.main, "portal_auth")
    case_url = new_case(client, subject=f"Long case {uuid.uuid4().hex[:8]}")["Location"]
    case_id = case_url.strip("/").split("/")[-1]
    tag = uuid.uuid4().hex[:7]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    for n in range(5):  # five staff replies, a minute apart, written oldest first
        when = (start + dt.timedelta(minutes=n)).strftime("%Y-%m-%d %H:%M:%S")
        data = {"name": "Reply", "description": f"Reply {n} {tag}.", "parent_type": "Cases",
                "parent_id": case_id, "portal_flag": 1, "date_entered": when}  # fmt: skip
        crm_post(crm_pages, "/data/Note", json={"data": data})
    page = client.get(case_url).content.decode()
    shown = re.findall(rf"Reply (\d) {tag}\.", page)
    assert shown == ["2", "3", "4"]
