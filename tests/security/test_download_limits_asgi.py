"""Issue 17, item 7: a contact's downloads are capped, and each has an overall time
limit, so slow readers cannot hold the portal's CRM connections. Under the real ASGI
server (gunicorn -k asgi), read by httpx2 clients over real sockets.

* `capped`: DOWNLOADS_PER_CONTACT=4 with a pool of 8 CRM connections (the pool of 100
  in production, scaled down with the emulator's threads in mind). One contact opens 100
  downloads of the 200 MiB document and reads none of them past the first chunk: four
  are served, 96 get the friendly 429, and another contact's pages still open.
* `timed`: DOWNLOAD_MAX_SECONDS=2 with a pool of 2. Downloads whose reader stops
  reading, and one the CRM stalls, are cut at the limit: the CRM stream is closed (the
  pool is free again while the readers still hold their sockets), the client gets an
  incomplete body, and the server logs it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from crm_emulator.demo_data import LARGE_DOCUMENT
from tests.pages.conftest import staff_get, staff_token
from tests.security.conftest import World
from tests.security.portal_server import PortalServer, start_portal
from tests.signin.crm_signin import CALLBACK, authorize_at_crm

pytestmark = pytest.mark.slow

CAP = 4
DOWNLOADS = 100
TIME_LIMIT = 2
TIME_LIMIT_LOG = "download stopped at its time limit"
LARGE_URL = f"/documents/{LARGE_DOCUMENT.id}/download"


@pytest.fixture(scope="module")
def portals(emulator, tmp_path_factory) -> Iterator[dict[str, PortalServer]]:
    common = {"ONECRM_TIMEOUT": "10", "ONECRM_CONNECT_TIMEOUT": "1", "ONECRM_DEADLINE": "10"}
    capped = start_portal(
        tmp_path_factory.mktemp("portal-capped"),
        emulator,
        {**common, "ONECRM_MAX_CONNECTIONS": "8", "DOWNLOADS_PER_CONTACT": str(CAP)},
    )
    timed = start_portal(
        tmp_path_factory.mktemp("portal-timed"),
        emulator,
        {
            **common,
            "ONECRM_MAX_CONNECTIONS": "2",
            "DOWNLOADS_PER_CONTACT": "10",
            "DOWNLOAD_MAX_SECONDS": str(TIME_LIMIT),
        },
    )
    emulator.control(
        "POST",
        "clients",
        json={
            "client_id": "demo-portal",
            "client_secret": "demo-portal-secret",
            "redirect_uris": [CALLBACK, capped.callback, timed.callback],
        },
    )
    yield {"capped": capped, "timed": timed}
    capped.stop()
    timed.stop()


@pytest.fixture(scope="module")
def people(emulator, world: World) -> tuple[str, str]:
    """(e-mail of a contact who may download the 200 MiB document, e-mail of a contact
    of another account)."""
    api, token = emulator.api_url, staff_token(emulator.api_url)
    path = f"/data/Document/{LARGE_DOCUMENT.id}/accounts"
    account = staff_get(api, token, path, [("fields[]", "name")])["records"][0]["id"]
    contacts = staff_get(
        api,
        token,
        "/data/Contact",
        [
            ("fields[]", "email1"),
            ("fields[]", "portal_active"),
            ("filters[primary_account_id]", account),
            ("limit", "200"),
        ],
    )["records"]
    owner = next(c["email1"] for c in contacts if c.get("portal_active") in (True, 1, "1"))
    other = next(p.email for p in (world.b, world.a) if p.account_id != account)
    return owner, other


@pytest.fixture
def crm_clean(emulator):
    emulator.control("DELETE", "faults")
    yield emulator
    emulator.control("DELETE", "faults")


def session_cookies(portal: PortalServer, email: str) -> httpx.Cookies:
    """Sign in through the CRM, as a browser does; the portal's session cookies."""
    with httpx.Client(base_url=portal.base_url, timeout=10, follow_redirects=False) as browser:
        start = browser.get("/login/oauth/", params={"next": "/"})
        assert start.status_code == 302, start.text[:300]
        back = authorize_at_crm(start.headers["location"], email)
        done = browser.get(back.removeprefix(portal.base_url))
        assert done.status_code == 302 and done.headers["location"] == "/", done.text[:300]
        return httpx.Cookies(browser.cookies)


def client_for(portal: PortalServer, cookies: httpx.Cookies) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=portal.base_url,
        cookies=cookies,
        timeout=30,
        limits=httpx.Limits(max_connections=DOWNLOADS + 10),
    )


async def wait_for(predicate, what: str, seconds: float = 30) -> None:
    """Poll until predicate() holds (bounded, so a regression fails instead of hanging)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.1)


async def test_one_contacts_100_slow_downloads_are_capped_and_others_pages_open(
    portals, people, crm_clean
):
    portal = portals["capped"]
    owner, other = people
    downloader = client_for(portal, session_cookies(portal, owner))
    neighbour = client_for(portal, session_cookies(portal, other))
    release = asyncio.Event()
    holding: list[object] = []
    refused: list[httpx.Response] = []
    answered: list[int] = []

    async def slow_download() -> int:
        async with downloader.stream("GET", LARGE_URL) as response:
            if response.status_code == 200:
                # The first chunk, then no more reading (the iterator is kept: dropping
                # it would close the response).
                chunks = response.aiter_raw()
                await anext(chunks)
                holding.append(chunks)
                answered.append(200)
                await release.wait()
            else:
                await response.aread()
                refused.append(response)
                answered.append(response.status_code)
            return response.status_code

    tasks = [asyncio.create_task(slow_download()) for _ in range(DOWNLOADS)]
    try:
        await wait_for(lambda: len(answered) == DOWNLOADS, "an answer to every download", 60)
        assert sorted(answered) == [200] * CAP + [429] * (DOWNLOADS - CAP), sorted(answered)
        page = refused[0]
        assert "Please wait for your other downloads" in page.text
        assert f"You already have {CAP} downloads running" in page.text
        assert page.headers["retry-after"].isdigit()
        assert "Traceback" not in page.text
        # While the four are held by a reader that takes nothing more, another
        # contact's pages open (today's code: the pool is held, they answer 503).
        for path in ["/invoices/", "/quotes/", "/documents/", "/"]:
            response = await neighbour.get(path)
            assert response.status_code == 200, (path, response.status_code)
    finally:
        release.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    # The slots are released with the relays: the contact may download again.
    again: list[int] = []

    async def one_more() -> None:
        async with downloader.stream("GET", LARGE_URL) as response:
            again.append(response.status_code)
        if again[-1] == 429:
            await asyncio.sleep(0.1)

    deadline = time.monotonic() + 30
    while not again or again[-1] == 429:
        assert time.monotonic() < deadline, "the slots were not released"
        await one_more()
    assert again[-1] == 200
    await downloader.aclose()
    await neighbour.aclose()


async def test_a_download_past_its_time_limit_is_cut_and_frees_its_crm_connection(
    portals, people, crm_clean
):
    """Two readers that stop reading hold both connections of the pool (2): at the limit
    the relay closes their CRM streams although the readers still hold their sockets,
    so a page opens again; each reader then gets an incomplete body."""
    portal = portals["timed"]
    owner, _ = people
    before = portal.log_text().count(TIME_LIMIT_LOG)
    reader = client_for(portal, session_cookies(portal, owner))
    streams = []
    for _ in range(2):
        request = reader.build_request("GET", LARGE_URL)
        response = await reader.send(request, stream=True)
        assert response.status_code == 200
        chunks = response.aiter_raw()
        first = await anext(chunks)
        streams.append((response, chunks, len(first)))
    await wait_for(
        lambda: portal.log_text().count(TIME_LIMIT_LOG) >= before + 2,
        "the server to stop both downloads at their time limit",
    )
    page = await reader.get("/documents/")
    assert page.status_code == 200  # both CRM connections were given back
    for response, chunks, received in streams:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            async for chunk in chunks:
                received += len(chunk)
        assert received < LARGE_DOCUMENT.size
        await response.aclose()
    await reader.aclose()


async def test_a_download_the_crm_stalls_is_cut_at_the_time_limit(
    portals, people, crm_clean, world: World
):
    """The relay waits for the CRM, not the reader: the limit ends that wait too
    (the read timeout, 10 s here, would come much later)."""
    portal = portals["timed"]
    owner, _ = people
    before = portal.log_text().count(TIME_LIMIT_LOG)
    reader = client_for(portal, session_cookies(portal, owner))
    crm_clean.control(
        "POST", "faults", json={"path": "^/files/download/", "kind": "stall_body", "ms": 8000}
    )
    async with reader.stream("GET", LARGE_URL) as response:
        assert response.status_code == 200
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            async for _ in response.aiter_raw():
                pass
    assert portal.log_text().count(TIME_LIMIT_LOG) == before + 1
    line = next(line for line in reversed(portal.log_text().splitlines()) if TIME_LIMIT_LOG in line)
    assert "DOWNLOAD_MAX_SECONDS=2" in line and "/files/download/Document/" in line
    assert not re.search(r"Bearer|eyJ[A-Za-z0-9_-]{10,}\.", line)
    await reader.aclose()
