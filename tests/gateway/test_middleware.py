"""The per-page CRM call counter."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from crm_gateway.middleware import CallLogMiddleware
from crm_gateway.rest import call_json
from tests.gateway.conftest import reply


async def test_counts_the_crm_calls_of_one_request(scripted, settings):
    scripted.on("GET", "/version", reply(200, {"version": "8"}))

    async def view(request: HttpRequest) -> JsonResponse:
        await call_json("GET", "/version")
        await call_json("GET", "/version")
        return JsonResponse({"calls": len(request.crm_calls)})

    middleware = CallLogMiddleware(view)
    settings.DEBUG = True
    response = await middleware(HttpRequest())
    assert response.content == b'{"calls": 2}'
    assert response["Server-Timing"].startswith('crm;desc="2 calls";dur=')
    settings.DEBUG = False
    response = await middleware(HttpRequest())
    assert "Server-Timing" not in response
    await call_json("GET", "/version")  # outside a request: counted nowhere, no error
