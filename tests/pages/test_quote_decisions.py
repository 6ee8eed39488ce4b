"""Quote decisions (issue 17, item 5): the reason is bounded on both paths, and a quote
is decided exactly once, however many decisions arrive at the same moment.

Against the emulator: its request log counts the CRM writes, its faults slow a write down
(so two decisions overlap) or fail it (so the claim must be released)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import time

import httpx2 as httpx
import pytest
from asgiref.sync import ThreadSensitiveContext

from crm_gateway import Quote
from portal.models import ActivityEvent, PortalSettings, QuoteDecision
from portal.quote_decisions import REASON_MAX
from portal.site_settings import forget_portal_settings
from tests.pages.conftest import crm_requests, new_awaiting_quote, staff_get, staff_token

pytestmark = pytest.mark.django_db(transaction=True)

PATHS = {True: "accept", False: "decline"}


@pytest.fixture
def deciding(transactional_db):
    # update_or_create: a transactional test's flush may have removed the settings row.
    PortalSettings.objects.update_or_create(
        pk=PortalSettings.SINGLETON_ID, defaults={"quotes_can_decide": True}
    )
    forget_portal_settings()
    yield
    forget_portal_settings()


@pytest.fixture
def fresh_quote(crm_pages, demo) -> dict:
    return new_awaiting_quote(crm_pages, demo.main.account_id, demo.main.contact_id)


def crm_quote(crm, quote_id: str) -> dict:
    token = staff_token(crm.api_url)
    return staff_get(crm.api_url, token, f"/data/Quote/{quote_id}", [])["record"]


def decision_notes(crm, quote_id: str) -> list[str]:
    params = [("fields[]", "description"), ("filters[parent_id]", quote_id), ("limit", "200")]
    reply = staff_get(crm.api_url, staff_token(crm.api_url), "/data/Note", params)
    return [note.get("description") or "" for note in reply["records"]]


def quote_writes(crm, quote_id: str) -> list[tuple[str, int]]:
    """(credential, status) of every write of the quote record itself."""
    return [
        (entry["credential"], entry["status"])
        for entry in crm_requests(crm)
        if entry["method"] in {"PATCH", "PUT", "POST"}
        and entry["path"] == f"/data/Quote/{quote_id}"
    ]


def successful_writes(crm, quote_id: str) -> int:
    return sum(1 for _, status in quote_writes(crm, quote_id) if status == 200)


@pytest.mark.parametrize("accept", [True, False], ids=PATHS.values())
def test_an_over_long_reason_is_refused_on_the_quote_page_with_the_text_kept(
    contact_client, crm_pages, deciding, fresh_quote, accept
):
    quote = fresh_quote
    typed = "Line one & <b>two</b>\n" + "x" * REASON_MAX
    response = contact_client.post(f"/quotes/{quote['id']}/{PATHS[accept]}", {"reason": typed})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Please shorten your reason to at most 2000 characters." in page
    field = "accept-reason" if accept else "decline-reason"
    # The quote's own page, its form holding every character the contact typed (escaped).
    assert f'aria-invalid="true">{html.escape(typed)}</textarea>' in page
    assert f'id="{field}"' in page
    assert page.count(f'maxlength="{REASON_MAX}"') == 2  # one limit, both forms
    assert quote_writes(crm_pages, quote["id"]) == []
    assert crm_quote(crm_pages, quote["id"])["quote_stage"] == quote["quote_stage"]
    assert not QuoteDecision.objects.filter(quote_id=quote["id"]).exists()


@pytest.mark.parametrize("accept", [True, False], ids=PATHS.values())
def test_a_reason_of_exactly_the_limit_is_written(
    contact_client, crm_pages, deciding, fresh_quote, accept
):
    quote = fresh_quote
    reason = "y" * REASON_MAX
    response = contact_client.post(f"/quotes/{quote['id']}/{PATHS[accept]}", {"reason": reason})
    assert response.status_code == 302
    assert crm_quote(crm_pages, quote["id"])["quote_stage"] == crm_pages.key(
        "Quote", "quote_stage", "Closed Accepted" if accept else "Closed Lost"
    )
    assert any(f"Reason: {reason}" in note for note in decision_notes(crm_pages, quote["id"]))


def test_a_declined_quote_needs_a_reason_and_keeps_the_page(
    contact_client, crm_pages, deciding, fresh_quote
):
    response = contact_client.post(f"/quotes/{fresh_quote['id']}/decline", {"reason": "  \n "})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Please tell us why you decline" in page
    assert '<details class="decide__decline" open>' in page
    assert quote_writes(crm_pages, fresh_quote["id"]) == []


async def test_two_decisions_at_the_same_moment_write_the_crm_once(
    async_contact_client, crm_pages, deciding, fresh_quote
):
    """An accept and a decline in flight together: both read the quote while it still
    waits (each write is held 0.5 s by the emulator, so neither sees the other's), and
    exactly one reaches the CRM; the other is told the quote was already decided."""
    quote = fresh_quote
    crm_pages.control(
        "POST",
        "faults",
        json={
            "path": f"^/data/Quote/{quote['id']}$",
            "method": "PATCH",
            "kind": "latency",
            "ms": 500,
        },
    )

    async def post(path: str, data: dict[str, str]):
        # Each request in its own thread-sensitive context, as Django's ASGI handler runs
        # it in production (the test client does not): otherwise the sync middleware of
        # one request would hold the other's until it is done, and they would not overlap.
        async with ThreadSensitiveContext():
            return await async_contact_client.post(path, data)

    accepted, declined = await asyncio.gather(
        post(f"/quotes/{quote['id']}/accept", {}),
        post(f"/quotes/{quote['id']}/decline", {"reason": "Too expensive"}),
    )
    crm_pages.control("DELETE", "faults")
    statuses = sorted([accepted.status_code, declined.status_code])
    assert statuses == [302, 409], statuses
    loser = accepted if accepted.status_code == 409 else declined
    assert "This quote has already been decided" in loser.content.decode()
    assert b'action="/quotes/' not in loser.content  # no buttons offered again
    assert successful_writes(crm_pages, quote["id"]) == 1
    notes = [
        note for note in decision_notes(crm_pages, quote["id"]) if "in the customer portal" in note
    ]
    assert len(notes) == 1
    winner_accepted = accepted.status_code == 302
    stage = crm_quote(crm_pages, quote["id"])["quote_stage"]
    assert stage == crm_pages.key(
        "Quote", "quote_stage", "Closed Accepted" if winner_accepted else "Closed Lost"
    )
    kinds = [e.kind async for e in ActivityEvent.objects.filter(record_id=quote["id"])]
    assert kinds == ["quote_accepted" if winner_accepted else "quote_declined"]


def test_a_failed_crm_write_leaves_the_quote_decidable(
    contact_client, crm_pages, deciding, fresh_quote
):
    quote = fresh_quote
    crm_pages.control(
        "POST",
        "faults",
        json={
            "path": f"^/data/Quote/{quote['id']}$",
            "method": "PATCH",
            "kind": "status",
            "status": 500,
        },
    )
    failed = contact_client.post(f"/quotes/{quote['id']}/accept")
    assert failed.status_code in {502, 503}
    assert b"Traceback" not in failed.content
    crm_pages.control("DELETE", "faults")
    assert not QuoteDecision.objects.filter(quote_id=quote["id"]).exists()
    page = contact_client.get(f"/quotes/{quote['id']}/")
    assert f'action="/quotes/{quote["id"]}/accept"'.encode() in page.content
    retried = contact_client.post(f"/quotes/{quote['id']}/accept")
    assert retried.status_code == 302
    assert crm_quote(crm_pages, quote["id"])["quote_stage"] == crm_pages.key(
        "Quote", "quote_stage", "Closed Accepted"
    )


def test_a_claimed_decision_hides_the_buttons_until_the_crm_shows_it(
    contact_client, crm_pages, deciding, fresh_quote
):
    """Between the claim and the CRM write the quote still reads as waiting: the page
    must not offer a second decision, and a second POST is answered "already decided"."""
    quote = fresh_quote
    record = crm_quote(crm_pages, quote["id"])
    page = contact_client.get(f"/quotes/{quote['id']}/")
    assert b"/accept" in page.content
    version = Quote.from_json(record).date_modified
    assert version is not None
    QuoteDecision.objects.create(
        quote_id=quote["id"], quote_modified=version.isoformat(), accepted=True, contact_id="x"
    )
    assert b"/accept" not in contact_client.get(f"/quotes/{quote['id']}/").content
    second = contact_client.post(f"/quotes/{quote['id']}/decline", {"reason": "No"})
    assert second.status_code == 409
    assert quote_writes(crm_pages, quote["id"]) == []


def test_a_quote_staff_reopen_can_be_decided_again(
    contact_client, crm_pages, deciding, fresh_quote
):
    """The claim is per version of the quote: staff moving a declined quote back to a
    waiting stage (a new `date_modified`) lets the contact answer the new offer."""
    quote = fresh_quote
    declined = contact_client.post(f"/quotes/{quote['id']}/decline", {"reason": "Too dear"})
    assert declined.status_code == 302
    # The CRM stamps date_modified to the second: reopen in a later second than the
    # version that was decided, as staff (who take longer than that) always do.
    decided_on = crm_quote(crm_pages, quote["id"])["date_modified"]
    while dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") <= decided_on:
        time.sleep(0.05)
    reopened = httpx.patch(
        f"{crm_pages.api_url}/data/Quote/{quote['id']}",
        json={"data": {"quote_stage": crm_pages.key("Quote", "quote_stage", "Negotiation")}},
        headers={"Authorization": f"Bearer {staff_token(crm_pages.api_url)}"},
        timeout=10,
    )
    reopened.raise_for_status()
    assert contact_client.post(f"/quotes/{quote['id']}/accept").status_code == 302
    assert crm_quote(crm_pages, quote["id"])["quote_stage"] == crm_pages.key(
        "Quote", "quote_stage", "Closed Accepted"
    )


async def test_a_visitor_who_goes_away_mid_write_leaves_the_decision_whole(
    async_contact_client, crm_pages, deciding, fresh_quote
):
    """The request is cancelled (the browser closed) while the CRM write is under way:
    the write still lands, and its claim stays, so no second decision can follow it."""
    quote = fresh_quote
    # The CRM holds the write until the test lets it go (clearing the faults ends the
    # stall): the request is cancelled mid-write however slow the machine is.
    crm_pages.control(
        "POST",
        "faults",
        json={
            "path": f"^/data/Quote/{quote['id']}$",
            "method": "PATCH",
            "kind": "latency",
            "ms": 30_000,
        },
    )
    request = asyncio.create_task(async_contact_client.post(f"/quotes/{quote['id']}/accept"))
    deadline = time.monotonic() + 30
    while not [e for e in crm_requests(crm_pages) if e["method"] == "PATCH"]:
        assert time.monotonic() < deadline, "the write never started"
        await asyncio.sleep(0.02)
    request.cancel()  # mid-write
    with contextlib.suppress(asyncio.CancelledError):
        await request
    assert successful_writes(crm_pages, quote["id"]) == 0  # still held by the CRM
    crm_pages.control("DELETE", "faults")  # the CRM goes on with the write
    deadline = time.monotonic() + 30
    while successful_writes(crm_pages, quote["id"]) < 1:
        assert time.monotonic() < deadline, "the write did not land"
        await asyncio.sleep(0.05)
    assert await QuoteDecision.objects.filter(quote_id=quote["id"]).aexists()
    assert crm_quote(crm_pages, quote["id"])["quote_stage"] == crm_pages.key(
        "Quote", "quote_stage", "Closed Accepted"
    )
