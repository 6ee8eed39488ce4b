"""Contact tokens against the emulator's rotating refresh tokens: refreshed once for
concurrent requests (a second use would revoke the chain), revoked tokens end the session."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

import httpx2 as httpx
import pytest

from crm_gateway import (
    ContactCredential,
    CrmError,
    Invoice,
    ListQuery,
    ReauthenticationRequired,
    TokenSet,
    me,
)
from crm_gateway.credentials import forget_cached_tokens
from tests.gateway.conftest import contact_tokens, logged
from tests.gateway.test_emulator_calls import gateway_for


def expired(tokens: TokenSet) -> TokenSet:
    return dataclasses.replace(tokens, expires_at=time.time() - 1, renew_at=time.time() - 1)


async def test_expired_token_refreshed_once_for_concurrent_requests(crm, demo):
    tokens = expired(contact_tokens(crm, demo.mine.email))
    saved: list[TokenSet] = []

    async def save(new: TokenSet) -> None:
        saved.append(new)

    # One session, several concurrent requests, each with its own credential object
    # loaded from the same session data (as parallel page requests would).
    credentials = [ContactCredential(tokens, on_rotate=save) for _ in range(4)]
    shared = ContactCredential(tokens, on_rotate=save)
    crm.control("DELETE", "requests")
    results = await asyncio.gather(*(me(c) for c in credentials), *(me(shared) for _ in range(4)))
    assert {r.record_id for r in results} == {demo.mine.contact_id}
    refreshes = logged(crm, "/auth/contact/access_token", "POST")
    assert len(refreshes) == 1 and refreshes[0]["status"] == 200
    assert saved and {s.refresh_token for s in saved} == {saved[0].refresh_token}
    assert saved[0].refresh_token != tokens.refresh_token
    assert shared.tokens.access_token != tokens.access_token


async def test_token_expired_at_the_crm_is_refreshed_on_401(crm, demo):
    crm.control("POST", "switches", json={"access_token_ttl": 1})
    tokens = contact_tokens(crm, demo.mine.email)
    crm.control("POST", "switches", json={"access_token_ttl": 3600})
    # The portal believes the token is fresh; the CRM says it is not.
    credential = ContactCredential(dataclasses.replace(tokens, renew_at=time.time() + 3600))
    await asyncio.sleep(1.1)
    crm.control("DELETE", "requests")
    assert (await me(credential)).record_id == demo.mine.contact_id
    assert [e["status"] for e in logged(crm, "/me")] == [401, 200]
    assert len(logged(crm, "/auth/contact/access_token")) == 1


async def test_revoked_refresh_token_requires_a_new_sign_in(crm, demo, caplog):
    tokens = contact_tokens(crm, demo.mine.email)
    # Another party uses the refresh token first: the emulator rotates it, and the reuse
    # below revokes the chain (RFC 6819 refresh token rotation).
    used = httpx.post(
        f"{crm.api_url}/auth/contact/access_token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
            "client_id": "demo-portal",
            "client_secret": "demo-portal-secret",
        },
    )
    assert used.status_code == 200
    forget_cached_tokens()
    credential = ContactCredential(expired(tokens))
    with caplog.at_level(logging.DEBUG), pytest.raises(ReauthenticationRequired) as caught:
        await me(credential)
    assert caught.value.error == "invalid_grant"
    for secret in (tokens.access_token, tokens.refresh_token, used.json()["access_token"]):
        assert secret not in str(caught.value) and secret not in repr(caught.value)
        assert secret not in caplog.text
    # ... and the new chain is dead too: the reuse revoked it.
    with pytest.raises(ReauthenticationRequired):
        await me(ContactCredential(expired(TokenSet.from_reply(used.json()))))


async def test_contact_token_mode_refreshes_transparently_during_a_list(crm, demo):
    gateway = gateway_for(crm, demo.mine, "contact_token")
    assert gateway.scope.credential is not None
    gateway.scope.credential.tokens = expired(gateway.scope.credential.tokens)
    page = await gateway.list_records(Invoice, ListQuery(limit=2))
    assert len(page.records) == 2


async def test_contact_profile_token_cannot_read_data_in_contact_token_mode(crm, demo):
    gateway = gateway_for(crm, demo.mine, "contact_token")
    crm.control("POST", "switches", json={"contact_token_reads_data": False})
    with pytest.raises(CrmError) as caught:
        await gateway.list_records(Invoice)
    assert caught.value.status == 403


async def test_portal_tokens_minted_once_per_contact_and_shared(crm, demo):
    gateway = gateway_for(crm, demo.mine, "portal_auth")
    crm.control("DELETE", "requests")
    await asyncio.gather(*(gateway.list_records(Invoice, ListQuery(limit=1)) for _ in range(5)))
    assert len(logged(crm, "/portal/auth")) == 1
    assert len(logged(crm, "/auth/user/access_token")) == 1
    forget_cached_tokens()  # another process: the Django cache still holds both tokens
    await gateway.list_records(Invoice, ListQuery(limit=1))
    assert len(logged(crm, "/portal/auth")) == 1
    data_calls = logged(crm, "/data/Invoice")
    assert {e["credential"] for e in data_calls} == {"portal"}
    assert {e["contact_id"] for e in data_calls} == {demo.mine.contact_id}


async def test_basic_authentication_as_staff_credential(crm, demo, settings):
    crm.control("POST", "switches", json={"basic_auth": True})
    settings.ONECRM_BASIC_USERNAME = "admin"
    settings.ONECRM_BASIC_PASSWORD = "demo-password"
    gateway = gateway_for(crm, demo.mine, "staff")
    page = await gateway.list_records(Invoice, ListQuery(limit=1))
    assert page.records
    assert {e["credential"] for e in logged(crm, "/data/Invoice")} == {"basic"}


async def test_no_token_or_secret_in_logs_of_a_whole_session(crm, demo, caplog, settings):
    settings.ONECRM_SERVICE_CLIENT_SECRET = "demo-portal-secret"
    settings.ONECRM_TIMEOUT = 10  # printing is slow work for the emulator
    tokens = contact_tokens(crm, demo.mine.email)
    seen: list[TokenSet] = [tokens]

    async def save(new: TokenSet) -> None:
        seen.append(new)

    with caplog.at_level(logging.DEBUG):
        for mode in ("contact_token", "portal_auth", "staff"):
            gateway = gateway_for(crm, demo.mine, mode)
            if mode == "contact_token":
                gateway.scope.credential.tokens = expired(tokens)
                gateway.scope.credential._on_rotate = save
            page = await gateway.list_records(Invoice, ListQuery(limit=1))
            async with gateway.pdf(page.records[0]) as stream:
                async for _ in stream:
                    break
        with pytest.raises(CrmError) as caught:
            await me(
                ContactCredential(TokenSet("not-a-valid-token-at-all", None, time.time() + 60))
            )
    assert len(seen) == 2  # the refresh happened, and its tokens were handed over
    from crm_gateway import credentials

    secrets = [s for t in seen for s in (t.access_token, t.refresh_token) if s]
    secrets += [t.access_token for t in credentials._process_tokens.values()]
    secrets += ["demo-portal-secret", "not-a-valid-token-at-all"]
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in str(caught.value) and secret not in repr(caught.value)


async def test_rotated_tokens_shared_with_other_processes(crm, demo):
    tokens = expired(contact_tokens(crm, demo.mine.email))
    crm.control("DELETE", "requests")
    first = ContactCredential(tokens)
    await me(first)
    from crm_gateway import credentials

    credentials._rotated.clear()  # another worker: only Django's cache is shared
    second = ContactCredential(tokens)
    await me(second)
    assert second.tokens.access_token == first.tokens.access_token
    assert len(logged(crm, "/auth/contact/access_token")) == 1
