"""A CRM that answers badly cannot crash a page.

The emulator answers every other call; only the invoice list call gets a bad body, from
a transport in front of it (httpx2's transport API: the emulator has no switch for a
reply like these). Each is the friendly 502 on the invoice list, the invoice box's own
error on the dashboard, never a trace, and the log line names the call.
"""

from __future__ import annotations

import json
import logging

import httpx2 as httpx
import pytest

from crm_gateway.client import use_transport
from tests.pages.conftest import demo, sign_in

__all__ = ["demo"]  # the demo people, a session fixture of the page tests

pytestmark = pytest.mark.django_db

CAP = 64 * 1024
DEEP = 10_000
BODIES = {
    "over the cap": json.dumps({"records": [{"id": "x" * 100}] * 1000}).encode(),
    "nested 10,000 deep": b'{"records": [' + b"[" * DEEP + b"]" * DEEP + b"]}",
    "total of a superscript two": b'{"records": [], "total_results": "\xc2\xb2"}',
    "total of 5,000 digits": b'{"records": [], "total_results": "' + b"9" * 5000 + b'"}',
    "total of 5,000 digits as a number": b'{"records": [], "total_results": ' + b"9" * 5000 + b"}",
    "records as an object": b'{"records": {"a": {"id": "a"}}, "total_results": 1}',
}


class BadInvoiceList(httpx.AsyncBaseTransport):
    """`body` for every `/data/Invoice` list call; everything else from the emulator."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/data/Invoice"):
            headers = {"Content-Type": "application/json"}
            return httpx.Response(200, content=self.body, headers=headers)
        # A transport per call: the test client runs each request on its own event loop.
        async with httpx.AsyncHTTPTransport() as real:
            response = await real.handle_async_request(request)
            content = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=content)


@pytest.fixture
def bad_client(crm, demo, client, settings):
    settings.ONECRM_DATA_ACCESS = "portal_auth"
    settings.ONECRM_MAX_JSON_BYTES = CAP
    sign_in(client, crm.api_url, demo.main)
    return client


def test_the_bodies_are_what_they_say():
    assert len(BODIES["over the cap"]) > CAP
    assert all(len(body) < CAP for name, body in BODIES.items() if name != "over the cap")


@pytest.mark.parametrize("name", BODIES)
def test_a_bad_list_reply_is_a_friendly_502_naming_the_call(bad_client, name, caplog):
    caplog.set_level(logging.WARNING)
    with use_transport(BadInvoiceList(BODIES[name])):
        response = bad_client.get("/invoices/")
    assert response.status_code == 502
    body = response.content.decode()
    assert "Our records are not reachable right now" in body and "Try again" in body
    assert "Traceback" not in body
    lines = [record.getMessage() for record in caplog.records]
    assert any("/data/Invoice" in line and "BadReply" in line for line in lines), lines


@pytest.mark.parametrize("name", BODIES)
def test_a_bad_list_reply_on_the_dashboard_is_its_box(bad_client, name, caplog):
    caplog.set_level(logging.WARNING)
    with use_transport(BadInvoiceList(BODIES[name])):
        response = bad_client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="box-invoices" class="card card--failed"' in html
    assert 'id="box-documents" class="card"' in html  # the rest renders
    assert "Traceback" not in html
    lines = [record.getMessage() for record in caplog.records]
    assert any("/data/Invoice" in line for line in lines), lines
