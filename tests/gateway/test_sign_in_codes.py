"""The authorization-code exchange both sign-ins share (crm_gateway/credentials.py's
`exchange_code`): a contact's code on /auth/contact/access_token, a CRM user's (staff
signing in to the admin) on /auth/user/access_token, each with its PKCE verifier, and
every refusal the same typed error naming the call."""

from __future__ import annotations

import httpx2 as httpx
import pytest

from crm_gateway import ContactCredential, ReauthenticationRequired, me
from crm_gateway.credentials import exchange_code
from tests.emulator.conftest import CALLBACK, Api, pkce_pair
from tests.emulator.conftest import query_of as qs
from tests.emulator.test_oauth import authorize

WHO = {"contact": "emily.carter@example.com", "user": "admin"}
KIND = {"contact": "Contacts", "user": "Users"}


def a_code(crm, realm: str) -> tuple[str, str]:
    """An authorization code from the CRM's sign-in page, and its PKCE verifier."""
    verifier, challenge = pkce_pair()
    with httpx.Client(timeout=30) as http:
        redirect = authorize(
            Api(crm, http),
            realm,
            WHO[realm],
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    assert redirect.status_code == 302, redirect.text[:300]
    return qs(redirect.headers["Location"])["code"], verifier


@pytest.mark.parametrize("realm", ["contact", "user"])
async def test_a_code_is_exchanged_once_for_tokens_of_its_realm(crm, realm):
    code, verifier = a_code(crm, realm)
    tokens = await exchange_code(realm, code, CALLBACK, verifier)
    identity = await me(ContactCredential(tokens, kind=realm))
    assert identity.kind == KIND[realm]
    with pytest.raises(ReauthenticationRequired) as refused:
        await exchange_code(realm, code, CALLBACK, verifier)  # a code is used once
    assert refused.value.path == f"/auth/{realm}/access_token"
    assert refused.value.method == "POST"
    assert code not in str(refused.value) and verifier not in repr(refused.value)


@pytest.mark.parametrize("realm", ["contact", "user"])
async def test_the_wrong_verifier_or_redirect_uri_is_refused(crm, realm):
    code, _verifier = a_code(crm, realm)
    with pytest.raises(ReauthenticationRequired):
        await exchange_code(realm, code, CALLBACK, "not-the-verifier" * 3)
    code, verifier = a_code(crm, realm)
    with pytest.raises(ReauthenticationRequired):
        await exchange_code(realm, code, "http://127.0.0.1:8000/elsewhere/", verifier)
