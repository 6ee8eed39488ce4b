"""Fixtures for the gateway's tests: a scripted CRM on httpx2.MockTransport for the faults
the emulator cannot produce, and quick retry settings so the suite stays fast."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx2 as httpx
import pytest
from django.core.cache import cache

from crm_gateway import credentials, rest
from crm_gateway.client import use_transport
from tests.emulator_server import staff_token

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


@dataclass
class FakeClock:
    """The gateway's deadline clock, moved only by the gateway's own waits between
    attempts (which it records and does not sleep): a test of deadlines and retries
    counts attempts and waits, so a busy machine cannot change what it sees."""

    now: float = 1000.0
    waits: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.waits.append(delay)
        self.now += delay
        await asyncio.sleep(0)


@pytest.fixture
def fake_clock(monkeypatch) -> FakeClock:
    clock = FakeClock()
    monkeypatch.setattr(rest, "_clock", clock)
    monkeypatch.setattr(rest, "_sleep", clock.sleep)
    return clock


@dataclass(frozen=True)
class LongestBackoff(rest.RetryPolicy):
    """Full jitter at its top: every wait is the longest the policy allows, so a test
    knows the waits in advance (0.1, 0.2, 0.4, ... for a base of 0.1)."""

    def backoff(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1))


@pytest.fixture
def scripted(settings) -> Iterator[ScriptedCrm]:
    crm = ScriptedCrm()
    settings.ONECRM_API_URL = API
    with use_transport(httpx.MockTransport(crm)):
        yield crm


# --- The emulator as a real server ------------------------------------------------------

DEMO_PASSWORD = "demo-password"


@dataclass
class Party:
    """A demo contact and what the CRM holds for its account (read with a staff token)."""

    contact_id: str
    account_id: str
    email: str
    invoices: set[str]
    quotes: set[str]
    documents: set[str]
    portal_notes: set[str]


@dataclass
class Demo:
    mine: Party
    other: Party


def _staff_headers(api: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {staff_token(api)}"}


def _ids(api: str, headers: dict[str, str], path: str, **filters: str) -> set[str]:
    params = [("fields[]", "id"), ("limit", "200")]
    params += [(f"filters[{k}]", v) for k, v in filters.items()]
    records = httpx.get(api + path, params=params, headers=headers).json()["records"]
    return {record["id"] for record in records}


@pytest.fixture(scope="session")
def demo(emulator) -> Demo:
    api = emulator.api_url
    headers = _staff_headers(api)
    contacts = httpx.get(
        f"{api}/data/Contact",
        params=[("fields[]", "email1"), ("fields[]", "primary_account_id"), ("limit", "200")],
        headers=headers,
    ).json()["records"]
    parties = []
    seen_accounts: set[str] = set()
    for contact in contacts:
        account = contact.get("primary_account_id")
        if not account or account in seen_accounts:
            continue
        seen_accounts.add(account)
        party = Party(
            contact_id=contact["id"],
            account_id=account,
            email=contact["email1"],
            invoices=_ids(api, headers, "/data/Invoice", billing_account_id=account),
            quotes=_ids(api, headers, "/data/Quote", billing_account_id=account),
            documents=_ids(api, headers, f"/data/Account/{account}/documents"),
            portal_notes=_ids(api, headers, "/data/Note", account_id=account, portal_flag="1"),
        )
        if party.invoices and party.quotes and party.documents:
            parties.append(party)
    assert len(parties) >= 2, "the demo data needs two accounts with invoices, quotes, documents"
    return Demo(mine=parties[0], other=parties[1])


def contact_tokens(crm, email: str) -> credentials.TokenSet:
    """A contact's own OAuth tokens (password grant, as the sign-in would get them)."""
    reply = httpx.post(
        f"{crm.api_url}/auth/contact/access_token",
        json={
            "grant_type": "password",
            "username": email,
            "password": DEMO_PASSWORD,
            "client_id": "demo-portal",
            "client_secret": "demo-portal-secret",
            "scope": "profile read",
        },
    )
    reply.raise_for_status()
    return credentials.TokenSet.from_reply(reply.json())


def logged(crm, path_prefix: str = "", method: str | None = None) -> list[dict]:
    return [
        entry
        for entry in crm.control("GET", "requests").json()["requests"]
        if entry["path"].startswith(path_prefix) and (method is None or entry["method"] == method)
    ]


async def every_record(gateway, cls, query=None) -> list:
    """All of a contact's records of `cls`, page by page of 200 through `list_records`,
    paging by what the CRM said (a dropped record never hides the next page)."""
    from crm_gateway import PAGE_LIMIT, ListQuery

    query = query or ListQuery()
    found: list = []
    for page_number in range(100):  # bounded: a CRM's wrong total cannot loop a test
        page = await gateway.list_records(
            cls,
            ListQuery(
                fields=query.fields,
                filters=query.filters,
                order=query.order,
                offset=page_number * PAGE_LIMIT,
                limit=PAGE_LIMIT,
            ),
        )
        found.extend(page.records)
        if (page_number + 1) * PAGE_LIMIT >= page.crm_total or not page.crm_count:
            return found
    raise AssertionError("more than 100 pages")
