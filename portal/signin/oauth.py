"""Sign in with the CRM: OAuth 2.0 authorization code with PKCE (S256) and state.

authlib builds the authorization request and the token request; the HTTP call goes
through the process's pooled CRM client. The implicit flow (`response_type=token`) is
not offered: it puts the access token in the browser's address bar and history, where
any script or referrer can read it, and the OAuth 2.0 Security BCP (RFC 9700) says not
to use it.
"""

import hmac
import time
from dataclasses import asdict, dataclass

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from portal.public_url import absolute_url

PENDING_KEY = "portal_oauth_pending"
PENDING_LIFETIME = 10 * 60


@dataclass
class PendingAuthorization:
    state: str
    code_verifier: str
    next: str
    created_at: float


def redirect_uri() -> str:
    return absolute_url(reverse("login-oauth-callback"))


async def begin(request: HttpRequest, next_url: str) -> str:
    """Remember state and verifier in the session; return the CRM's authorize URL."""
    pending = PendingAuthorization(
        state=generate_token(43),
        code_verifier=generate_token(64),
        next=next_url,
        created_at=time.time(),
    )
    await request.session.aset(PENDING_KEY, asdict(pending))
    return prepare_grant_uri(
        f"{settings.ONECRM_API_URL}/auth/contact/authorize",
        client_id=settings.ONECRM_CLIENT_ID,
        response_type="code",
        redirect_uri=redirect_uri(),
        scope="profile",
        state=pending.state,
        code_challenge=create_s256_code_challenge(pending.code_verifier),
        code_challenge_method="S256",
    )


async def take_pending(request: HttpRequest, returned_state: str) -> PendingAuthorization | None:
    """The pending authorization if `state` matches it; it is used up either way."""
    data = await request.session.apop(PENDING_KEY, None)
    if not data:
        return None
    pending = PendingAuthorization(**data)
    if time.time() - pending.created_at > PENDING_LIFETIME:
        return None
    if not states_match(pending.state, returned_state):
        return None
    return pending


def states_match(expected: str, returned: str) -> bool:
    """Constant-time comparison of an OAuth `state`, for the contact and the staff flows.

    Bytes, not text: `hmac.compare_digest` raises TypeError on text that is not ASCII, and
    `state` comes from the query string, so `?state=é` was a 500. An empty state never
    matches.
    """
    if not expected or not returned:
        return False
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), returned.encode("utf-8", "surrogatepass")
    )
