"""The contact's own profile in Chromium, on a desktop and at 360 px: the page, an edit with
a validation error that keeps what was typed (keyboard only), the saved edit read back
from the CRM, an e-mail change confirmed through the mailed link, the personal-data PDF
and the activity JSON downloaded, and an erasure request through its confirmation step.
Every page is axe clean and free of CSP violations and sideways scrolling.
Screenshots: docs/screenshots/profile-*.png.

The portal here is its own server (gunicorn, ASGI worker) whose mail goes to an SMTP
server this test runs (tests/signin/smtp_server.py), so the test reads the confirmation
link the way the contact would, from the mail.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from email import message_from_bytes, policy

import httpx2 as httpx
import pytest

from tests.browser.test_customer_pages import DESKTOP, PHONE, Visit, sign_in
from tests.pages.conftest import DemoContact, demo_of, staff_get, staff_token
from tests.portal_server import PortalServer, portal_env, start_portal
from tests.signin.smtp_server import SmtpServer

pytestmark = pytest.mark.browser

CONTACT_FIELDS = ["first_name", "last_name", "email1", "phone_work", "phone_mobile", "title"]


@pytest.fixture(scope="module")
def relay() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def profile_portal(emulator, relay, tmp_path_factory) -> Iterator[PortalServer]:
    """The portal, as in the other browser tests, with its mail going to `relay`."""
    env = portal_env(
        tmp_path_factory.mktemp("profile-portal"),
        emulator.api_url,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(relay.port),
        EMAIL_USE_TLS="0",
    )
    server = start_portal(env)
    yield server
    server.stop()


def contact_record(api_url: str, contact_id: str) -> dict:
    params = [("fields[]", name) for name in CONTACT_FIELDS]
    path = f"/data/Contact/{contact_id}"
    return staff_get(api_url, staff_token(api_url), path, params)["record"]


def staff_patch(api_url: str, contact_id: str, data: dict) -> None:
    reply = httpx.patch(
        f"{api_url}/data/Contact/{contact_id}",
        json={"data": data},
        headers={"Authorization": f"Bearer {staff_token(api_url)}"},
        timeout=10,
    )
    reply.raise_for_status()


@pytest.fixture(scope="module")
def person(emulator) -> DemoContact:
    """A seeded contact (they sign in through the CRM's page with the demo password; the
    contacts other tests create have no password) whom no other test signs in as: not the
    demo's main or other contact, nor the first by address (the sign-in tests')."""
    from crm_emulator.demo_data import CONTACTS, email_for

    seeded = {email_for(first, last) for _, first, last, *_ in CONTACTS}
    api = emulator.api_url
    demo = demo_of(emulator)
    params = [("fields[]", f) for f in ("first_name", "last_name", "email1", "primary_account_id")]
    params += [("fields[]", "portal_active"), ("order", "email1"), ("limit", "200")]
    contacts = [
        c
        for c in staff_get(api, staff_token(api), "/data/Contact", params)["records"]
        if c.get("primary_account_id")
        and c.get("portal_active") in (True, 1, "1")
        and c.get("email1") in seeded
    ]
    taken = {demo.main.contact_id, demo.other.contact_id, contacts[0]["id"]}
    free = [c for c in contacts if c["id"] not in taken]
    chosen = sorted(
        free, key=lambda c: (c["primary_account_id"] != demo.main.account_id, c["last_name"])
    )[0]
    name = f"{chosen.get('first_name', '')} {chosen.get('last_name', '')}".strip()
    return DemoContact(chosen["id"], chosen["primary_account_id"], name, chosen["email1"], "")


@pytest.fixture
def restored(emulator, person) -> Iterator[None]:
    """Whatever the test changes, the contact's record is as it was afterwards."""
    before = contact_record(emulator.api_url, person.contact_id)
    yield
    staff_patch(
        emulator.api_url, person.contact_id, {k: before.get(k) or "" for k in CONTACT_FIELDS}
    )


def tab_until(visit: Visit, test: str, what: str, limit: int = 60) -> None:
    """Press Tab until `test` (a JS expression on `el`, the focused element) holds."""
    page = visit.page
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!({test}); }})()"):
            return
    raise AssertionError(f"{what} cannot be reached with Tab")


def type_into(visit: Visit, field_id: str, text: str) -> None:
    """Tab to the field, clear it and type, as a keyboard user does."""
    tab_until(visit, f"el && el.id === {json.dumps(field_id)}", f"#{field_id}")
    visit.page.keyboard.press("Control+a")
    visit.page.keyboard.press("Delete")
    if text:
        visit.page.keyboard.type(text)


def press_button(visit: Visit, name: str) -> None:
    """Tab to the button named `name` and press Enter; wait for the next page."""
    tab_until(
        visit, f"el && el.tagName === 'BUTTON' && el.innerText.trim() === {json.dumps(name)}", name
    )
    with visit.page.expect_navigation():
        visit.page.keyboard.press("Enter")
    visit.page.wait_for_load_state("networkidle")


def wait_for_mail(relay: SmtpServer, count: int) -> list:
    """The relay's messages once it has `count` (the portal sends from its mail queue,
    after the page was answered)."""
    for _ in range(200):
        if len(relay.messages) >= count:
            break
        time.sleep(0.1)
    assert len(relay.messages) >= count, "the mail never reached the relay"
    return [message_from_bytes(m, policy=policy.default) for m in relay.messages]


def run_profile_visit(visit: Visit, api: str, person: DemoContact, relay: SmtpServer) -> None:
    page = visit.page
    sign_in(visit, person.email)

    # --- The page, from the navigation.
    visit.nav_link("Profile").click()
    page.wait_for_url(re.compile(r".*/profile/$"))
    assert page.get_by_role("heading", name="Your profile", exact=True).is_visible()
    assert page.get_by_text(person.email).first.is_visible()
    visit.check_page("profile")
    visit.screenshot("profile")

    # --- An edit with a mistake, by keyboard alone: what was typed stays, nothing is saved.
    page.locator("body").focus()
    type_into(visit, "field-last_name", "")
    type_into(visit, "field-phone_work", "call me maybe")
    press_button(visit, "Save my details")
    summary = page.get_by_role("alert").filter(has_text="Please check these fields")
    assert summary.is_visible()
    assert page.locator("#field-phone_work").input_value() == "call me maybe"
    assert page.locator("#field-phone_work").get_attribute("aria-invalid") == "true"
    assert page.locator("#field-last_name").get_attribute("aria-invalid") == "true"
    visit.check_page("profile, with errors")
    visit.screenshot("profile-errors")
    assert contact_record(api, person.contact_id)["phone_work"] != "call me maybe"
    # The summary's links lead to the fields.
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.id") == "field-last_name"

    # --- Corrected and saved: the CRM has it.
    last_name = person.name.split(" ", 1)[1]
    page.locator("body").focus()
    type_into(visit, "field-last_name", last_name)
    type_into(visit, "field-phone_work", "+49 30 555-0101")
    press_button(visit, "Save my details")
    assert page.get_by_text("Your details were saved.").is_visible()
    record = contact_record(api, person.contact_id)
    assert record["phone_work"] == "+49 30 555-0101" and record["last_name"] == last_name
    visit.check_page("profile, saved")

    # --- A new e-mail address: a link to it, and only following it changes the address.
    new_email = f"{visit.label}.{person.contact_id[:8]}@example.org"
    already = len(relay.messages)
    page.locator("body").focus()
    type_into(visit, "new-email", new_email)
    press_button(visit, "Send a confirmation link")
    assert page.get_by_text(f"We sent a link to {new_email}").is_visible()
    visit.check_page("profile, link sent")
    mails = wait_for_mail(relay, already + 1)
    confirm = mails[already]
    assert confirm["To"] == new_email
    link = re.search(r"https?://\S+/profile/email/\S+/", confirm.get_content())
    assert link, confirm.get_content()
    assert contact_record(api, person.contact_id)["email1"] == person.email
    page.goto(link.group(0))
    assert page.get_by_role("heading", name="Confirm your new e-mail address").is_visible()
    visit.check_page("e-mail change, confirm")
    page.get_by_role("button", name="Use this address").click()
    page.wait_for_url(re.compile(r".*/profile/$"))
    assert page.get_by_text(f"Your e-mail address is now {new_email}").is_visible()
    assert contact_record(api, person.contact_id)["email1"] == new_email
    notice = wait_for_mail(relay, already + 2)[already + 1]
    assert notice["To"] == person.email and new_email in notice.get_content()

    # --- Personal data: the CRM's print, and what the portal logged.
    with page.expect_download() as info:
        page.get_by_role("link", name="Download what we hold about you (PDF)").click()
    assert info.value.path().read_bytes().startswith(b"%PDF")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download your activity in this portal (JSON)").click()
    activity = json.loads(info.value.path().read_text(encoding="utf-8"))
    assert activity["contact_id"] == person.contact_id
    kinds = {event["kind"] for event in activity["activity"]}
    assert {"profile_updated", "email_changed", "personal_data_pdf"} <= kinds

    # --- Erasure: a confirmation step, then the request (a case for staff by default).
    page.get_by_role("button", name="Ask us to erase your personal data…").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Erase your personal data?").is_visible()
    visit.check_page("erasure, confirm")
    visit.screenshot("profile-erasure")
    page.get_by_role("button", name="Yes, send the request").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="We received your request").is_visible()
    visit.check_page("erasure, received")
    assert contact_record(api, person.contact_id)["email1"] == new_email  # nothing erased


@pytest.mark.parametrize(("viewport", "label"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_a_contacts_profile(
    chromium, profile_portal, emulator, relay, person, restored, viewport, label
):
    visit = Visit(chromium, profile_portal.url, viewport, label)
    try:
        run_profile_visit(visit, emulator.api_url, person, relay)
    finally:
        visit.close()
    assert len(visit.scanned) == 7
    token = staff_token(emulator.api_url)
    params = [("fields[]", "name"), ("filters[cust_contact_id]", person.contact_id)]
    cases = staff_get(emulator.api_url, token, "/data/aCase", params)["records"]
    assert any("erase personal data" in case["name"] for case in cases)
