"""PDF printing is rate-limited per contact (the CRM's most expensive call): past the
limit a clear 429 page with Retry-After, no call to the CRM's printer, other contacts
unaffected. Another account's id still answers 404, limited or not."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.signin import ratelimit
from tests.conftest import close_response
from tests.pages.conftest import DemoContact, sign_in
from tests.security.conftest import World, crm_log

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture
def tight_limit(monkeypatch):
    # A day-long window: with a minute-long one the count started over whenever a minute
    # boundary fell inside the test, and a fourth PDF got through on a slow machine.
    day = 24 * 3600
    monkeypatch.setattr(ratelimit, "PDF_PER_CONTACT", ratelimit.Limit("pdf-contact", LIMIT, day))


def signed_in(crm, person, settings) -> Client:
    settings.ONECRM_DATA_ACCESS = "portal_auth"
    client = Client()
    sign_in(
        client,
        crm.api_url,
        DemoContact(person.contact_id, person.account_id, "X", person.email, "Y"),
    )
    return client


def printed(client: Client, url: str) -> int:
    response = client.get(url)
    if response.streaming:
        close_response(response)  # the upstream PDF stream is closed with it
    return response.status_code


def test_pdf_printing_is_limited_per_contact(crm, world: World, settings, tight_limit):
    a = signed_in(crm, world.a, settings)
    invoice = f"/invoices/{world.ids['Invoice']['own']}/pdf"
    quote = f"/quotes/{world.ids['Quote']['own']}/pdf?download=1"
    crm.control("DELETE", "requests")
    answers = [printed(a, url) for url in [invoice, quote, invoice]]
    assert answers == [200] * LIMIT
    refused = a.get(invoice)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Please slow down" in refused.content.decode()
    assert "Traceback" not in refused.content.decode()
    assert a.get(quote).status_code == 429  # one budget for invoices and quotes
    printer_calls = [e for e in crm_log(crm) if e["path"].startswith("/printer/")]
    assert len(printer_calls) == LIMIT
    # Another account's id is still the plain 404, not a 429 that would confirm it exists.
    foreign = a.get(f"/invoices/{world.ids['Invoice']['foreign']}/pdf")
    assert foreign.status_code == 404
    # Pages still work, and another contact still prints.
    assert a.get(f"/invoices/{world.ids['Invoice']['own']}/").status_code == 200
    colleague = signed_in(crm, world.colleague, settings)
    assert printed(colleague, f"/invoices/{world.ids['Invoice']['colleague']}/pdf") == 200


def test_the_default_limit_is_generous_but_finite():
    assert 10 <= ratelimit.PDF_PER_CONTACT.max_hits <= 120
    assert ratelimit.PDF_PER_CONTACT.window_seconds <= 300
