"""Count the CRM calls of every page: `request.crm_calls` is the page's `CallLog`.

Add "crm_gateway.middleware.CallLogMiddleware" to MIDDLEWARE. With DEBUG on, responses
carry `Server-Timing: crm;desc="N calls";dur=...` for the browser's network panel
(never in production: the number of CRM calls is nobody else's business).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from crm_gateway.calllog import CallLog


class CallLogMiddleware:
    async_capable = True
    sync_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]]):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with CallLog() as log:
            request.crm_calls = log  # type: ignore[attr-defined]
            response = await self.get_response(request)
        if settings.DEBUG:
            spent = sum(call.elapsed for call in log.calls) * 1000
            response["Server-Timing"] = f'crm;desc="{len(log)} calls";dur={spent:.1f}'
        return response
