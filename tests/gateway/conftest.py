"""Fixtures for the gateway's tests: a scripted CRM on httpx2.MockTransport for the faults
the emulator cannot produce, and quick retry settings so the suite stays fast."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx2 as httpx
import pytest
from django.core.cache import cache

from crm_gateway import credentials, rest
from crm_gateway.client import use_transport

API = "http://crm.test/1crm/api.php"

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class ScriptedCrm:
    """Routes `(METHOD, path)` to handlers; records every request it saw."""

    routes: dict[tuple[str, str], list[Handler] | Handler] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, *handlers: Handler) -> None:
        """One handler answers every time; several answer in turn (the last one repeats)."""
        self.routes[(method, path)] = list(handlers) if len(handlers) > 1 else handlers[0]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/1crm/api.php")
        route = self.routes.get((request.method, path))
        if route is None:
            return httpx.Response(404, json={"error": "not_found", "message": f"no {path}"})
        if isinstance(route, list):
            handler = route.pop(0) if len(route) > 1 else route[0]
        else:
            handler = route
        return handler(request)

    def count(self, method: str, path: str) -> int:
        return sum(
            1
            for r in self.requests
            if r.method == method and r.url.path.removeprefix("/1crm/api.php") == path
        )


def reply(status: int = 200, body: object = None, **kwargs) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes | str):
            return httpx.Response(status, content=body, **kwargs)
        return httpx.Response(status, json=body if body is not None else {}, **kwargs)

    return handler


def token_reply(access: str, refresh: str | None = None, expires_in: int = 3600) -> Handler:
    body = {"token_type": "Bearer", "expires_in": expires_in, "access_token": access}
    if refresh:
        body["refresh_token"] = refresh
    return reply(200, body)


def body_json(request: httpx.Request) -> dict:
    return json.loads(request.content or b"{}")


@pytest.fixture(autouse=True)
def fast_gateway(settings, monkeypatch) -> Iterator[None]:
    settings.ONECRM_DEADLINE = 5.0
    settings.ONECRM_TIMEOUT = 2.0
    settings.ONECRM_CONNECT_TIMEOUT = 1.0
    settings.ONECRM_BASIC_USERNAME = ""
    monkeypatch.setattr(
        rest, "retry_policy", rest.RetryPolicy(base_delay=0.01, max_delay=0.05, max_retry_after=1)
    )
    credentials.forget_cached_tokens()
    cache.clear()
    yield
    credentials.forget_cached_tokens()
    cache.clear()


@pytest.fixture
def scripted(settings) -> Iterator[ScriptedCrm]:
    crm = ScriptedCrm()
    settings.ONECRM_API_URL = API
    with use_transport(httpx.MockTransport(crm)):
        yield crm
