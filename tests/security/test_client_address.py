"""The client's address, behind a load balancer and in front of none (issue 17, item 2).

The rule (portal/client_address.py): X-Forwarded-For is read only from the proxies the
operator trusts, right to left, and the client is the right-most address no trusted
proxy vouches for. Checked as a function, then end to end: the portal under
`gunicorn -k asgi`, clients on their own loopback addresses, either directly (forging
the header) or through a small forwarding proxy (tests/forwarding_proxy.py) that
appends what it saw, as a load balancer does.
"""

from __future__ import annotations

import re
import sqlite3
import time

import httpx2 as httpx
import pytest
from django.test import override_settings

from portal.client_address import client_address
from portal.signin import ratelimit
from tests.forwarding_proxy import forwarding_proxy
from tests.security.conftest import World
from tests.security.portal_server import PortalServer, start_portal

LOAD_BALANCER = "10.0.0.5"
CLIENT = "198.51.100.7"
FORGED = "203.0.113.66"


def address(peer: str, forwarded: str | None = None, **settings: object) -> str | None:
    meta = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    with override_settings(**{"TRUSTED_PROXIES": [], "TRUSTED_PROXY_HOPS": 1, **settings}):
        return client_address(meta)


def test_without_trusted_proxies_the_header_is_never_read():
    assert address(CLIENT, FORGED) == CLIENT
    assert address(LOAD_BALANCER, f"{FORGED}, {CLIENT}") == LOAD_BALANCER


def test_a_client_that_is_not_a_trusted_proxy_is_its_peer_address():
    trusted = {"TRUSTED_PROXIES": [LOAD_BALANCER]}
    assert address(CLIENT, FORGED, **trusted) == CLIENT
    assert address(CLIENT, LOAD_BALANCER, **trusted) == CLIENT


def test_behind_a_trusted_proxy_the_right_most_entry_is_the_client():
    trusted = {"TRUSTED_PROXIES": ["10.0.0.0/8"]}
    assert address(LOAD_BALANCER, CLIENT, **trusted) == CLIENT
    # What the client wrote stands to the left of what the proxy appended.
    assert address(LOAD_BALANCER, f"{FORGED}, {CLIENT}", **trusted) == CLIENT
    # Repeated headers arrive joined by commas; ports and brackets are allowed.
    assert address(LOAD_BALANCER, f"{FORGED},{CLIENT}:51234", **trusted) == CLIENT
    assert address(LOAD_BALANCER, "[2001:db8::7]:443", **trusted) == "2001:db8::7"
    # The proxy itself, without a header (its own health check): the proxy.
    assert address(LOAD_BALANCER, None, **trusted) == LOAD_BALANCER
    assert address(LOAD_BALANCER, " , ", **trusted) == LOAD_BALANCER


def test_hops_bound_how_far_left_the_header_is_read():
    two = {"TRUSTED_PROXIES": ["10.0.0.0/8"], "TRUSTED_PROXY_HOPS": 2}
    # CDN 10.1.1.1 saw the client; the load balancer 10.0.0.5 saw the CDN.
    assert address(LOAD_BALANCER, f"{FORGED}, {CLIENT}, 10.1.1.1", **two) == CLIENT
    # A client that forges a trusted-looking entry is still not read past the hops.
    assert address(LOAD_BALANCER, f"{FORGED}, 10.9.9.9, 10.1.1.1", **two) == "10.9.9.9"
    # One hop: only the entry the load balancer appended.
    one = {"TRUSTED_PROXIES": ["10.0.0.0/8"], "TRUSTED_PROXY_HOPS": 1}
    assert address(LOAD_BALANCER, f"{CLIENT}, 10.1.1.1", **one) == "10.1.1.1"
    # An untrusted entry stops the walk even when more hops are allowed.
    assert address(LOAD_BALANCER, f"{FORGED}, {CLIENT}", **two) == CLIENT


def test_what_is_not_an_address_is_not_the_client():
    trusted = {"TRUSTED_PROXIES": [LOAD_BALANCER]}
    assert address(LOAD_BALANCER, f"{CLIENT}, unknown", **trusted) == LOAD_BALANCER
    assert address(LOAD_BALANCER, "<script>", **trusted) == LOAD_BALANCER
    assert address("", FORGED, **trusted) is None
    assert address("::ffff:198.51.100.7") == CLIENT  # IPv4-mapped reads as IPv4
    assert address("::1", "::2", TRUSTED_PROXIES=["::1"]) == "::2"


# --- end to end, under gunicorn -k asgi ---------------------------------------------------

PROXY = "127.0.0.1"  # the forwarding proxy connects to the portal from here
FORGER, ATTACKER, NEIGHBOUR = "127.0.0.2", "127.0.0.3", "127.0.0.4"
LINK_LIMIT = ratelimit.LINK_PER_IP.max_hits


@pytest.fixture(scope="module")
def portal(emulator, tmp_path_factory) -> PortalServer:
    server = start_portal(
        tmp_path_factory.mktemp("portal-behind-proxy"),
        emulator,
        {"TRUSTED_PROXIES": PROXY, "SIGNIN_LINK_MIN_SECONDS": "0"},
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(portal: PortalServer):
    with forwarding_proxy(portal.url) as url:
        yield url


@pytest.fixture(autouse=True)
def _one_rate_limit_window():
    """The limits count in fixed windows: start in a window that will not end mid-test."""
    window = min(ratelimit.LINK_PER_IP.window_seconds, ratelimit.LINK_PER_ADDRESS.window_seconds)
    left = window - time.time() % window
    if left < 30:
        time.sleep(left + 0.1)


def visitor(base_url: str, source: str) -> httpx.Client:
    """A browser on its own loopback address."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=base_url, transport=transport, timeout=15, trust_env=False)


def ask_for_link(browser: httpx.Client, email: str, headers: dict[str, str] | None = None) -> int:
    page = browser.get("/login/", headers=headers)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert csrf, page.text[:500]
    answer = browser.post(
        "/login/email/",
        data={"email": email, "csrfmiddlewaretoken": csrf.group(1)},
        headers=headers,
    )
    return answer.status_code


def access_log_addresses(portal: PortalServer, path: str, expected: set[str]) -> set[str]:
    """The addresses the access log gives for POSTs to `path`, once it names `expected`
    (gunicorn writes a request's line just after its answer)."""
    pattern = re.compile(rf'^(\S+) - - \[[^]]+\] "POST {re.escape(path)} ')
    deadline = time.monotonic() + 30
    while True:
        lines = portal.log_text().splitlines()
        found = {m.group(1) for line in lines if (m := pattern.match(line))}
        if expected <= found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.mark.slow
def test_a_client_forging_the_header_directly_keeps_its_own_limit(portal: PortalServer):
    """From an untrusted peer, X-Forwarded-For changes nothing: a new forged address on
    every request still spends the one budget of the real peer."""
    forger = visitor(portal.url, FORGER)
    answers = [
        ask_for_link(forger, f"nobody{n}@example.invalid", {"X-Forwarded-For": f"203.0.113.{n}"})
        for n in range(LINK_LIMIT + 1)
    ]
    forger.close()
    assert answers == [200] * LINK_LIMIT + [429]
    logged = access_log_addresses(portal, "/login/email/", {FORGER})
    assert FORGER in logged
    assert not any(ip.startswith("203.0.113.") for ip in logged), logged


@pytest.mark.slow
def links_sent_to(portal: PortalServer, contact_id: str) -> list[tuple[str]]:
    """The addresses the activity log has for the contact's sign-in links. The portal
    mails (and records) a link in a background thread after answering, so the row may
    come a moment after the answer: wait for one, or give up after a while."""
    deadline = time.monotonic() + 20
    while True:
        database = sqlite3.connect(portal.data_dir / "portal.sqlite3")
        try:
            sent = database.execute(
                "SELECT ip FROM portal_activityevent WHERE kind = 'sign_in_link_sent'"
                " AND contact_id = ?",
                (contact_id,),
            ).fetchall()
        finally:
            database.close()
        if sent or time.monotonic() > deadline:
            return sent
        time.sleep(0.1)


def test_behind_the_proxy_one_client_cannot_block_sign_in_for_another(
    portal: PortalServer, proxy: str, world: World
):
    """Two visitors behind one load balancer have separate limits. The attacker also
    claims to be the neighbour (the proxy appends its real address), and goes on asking
    for the neighbour's address past its own limit: the neighbour still gets a link."""
    attacker, neighbour = visitor(proxy, ATTACKER), visitor(proxy, NEIGHBOUR)
    claim = {"X-Forwarded-For": NEIGHBOUR}
    answers = [
        ask_for_link(attacker, f"spam{n}@example.invalid", claim) for n in range(LINK_LIMIT + 1)
    ]
    assert answers == [200] * LINK_LIMIT + [429]
    refused = [
        ask_for_link(attacker, world.colleague.email, claim)
        for _ in range(ratelimit.LINK_PER_ADDRESS.max_hits)
    ]
    assert refused == [429] * ratelimit.LINK_PER_ADDRESS.max_hits
    assert ask_for_link(neighbour, world.colleague.email) == 200
    attacker.close()
    neighbour.close()
    # The activity log and the access log name each visitor, not the proxy.
    assert links_sent_to(portal, world.colleague.contact_id) == [(NEIGHBOUR,)]
    logged = access_log_addresses(portal, "/login/email/", {ATTACKER, NEIGHBOUR})
    assert {ATTACKER, NEIGHBOUR} <= logged
    assert PROXY not in logged, logged
