"""Who the portal is when it calls the CRM.

- `ContactCredential`: a contact's OAuth tokens; refreshed before (or on) expiry,
  single-flight per refresh token, the rotated tokens handed to a save callback.
- `StaffCredential`: the portal's own `client_credentials` token, cached per process and
  in Django's cache (shared by every process) until shortly before it expires.
- `PortalTokenCredential`: a token minted by `POST /portal/auth` for one contact.
- `BasicCredential`: HTTP basic authentication, for installations that still use it.

Tokens never appear in a repr, a log line or an error (see `secrets()` and rest.scrub).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from django.conf import settings
from django.core.cache import cache

from crm_gateway import errors

logger = logging.getLogger("crm_gateway")

# Renew a token this many seconds before the CRM would refuse it.
EXPIRY_MARGIN = 30.0
# A refresh token just rotated is remembered this long, so a request of the same session
# that still holds the old one gets the new tokens instead of a refused grant.
ROTATION_MEMORY = 120.0
# How long another process's refresh of the same token is waited for.
REFRESH_LOCK_SECONDS = 10.0


class Credential(Protocol):
    kind: str

    async def authorization(self) -> str | None:
        """The Authorization header value, renewed first if it is about to expire."""
        ...

    async def renew(self, stale_authorization: str) -> bool:
        """The CRM refused `stale_authorization` (401): renew; True if worth retrying."""
        ...

    def secrets(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float = 0.0  # epoch seconds
    # Renew from here on: EXPIRY_MARGIN before expiry, less for short-lived tokens.
    renew_at: float = 0.0
    token_type: str = "Bearer"  # noqa: S105 (a token type, not a secret)

    @classmethod
    def from_reply(cls, reply: dict[str, Any], *, path: str = "") -> TokenSet:
        access = reply.get("access_token")
        if not isinstance(access, str) or not access:
            raise errors.BadReply("the token reply has no access_token", path=path, status=200)
        try:
            expires_in = float(reply.get("expires_in") or 3600)
        except (TypeError, ValueError):
            expires_in = 3600.0
        refresh = reply.get("refresh_token")
        now = time.time()
        return cls(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            expires_at=now + expires_in,
            renew_at=now + expires_in - min(EXPIRY_MARGIN, expires_in / 10),
            token_type=str(reply.get("token_type") or "Bearer"),
        )

    def expires_soon(self) -> bool:
        return time.time() >= (self.renew_at or self.expires_at - EXPIRY_MARGIN)

    def as_dict(self) -> dict[str, Any]:
        """For the session store (server-side), never for a page."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "renew_at": self.renew_at,
            "token_type": self.token_type,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenSet:
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=data.get("refresh_token"),
            expires_at=float(data.get("expires_at") or 0),
            renew_at=float(data.get("renew_at") or 0),
            token_type=str(data.get("token_type") or "Bearer"),
        )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class _LoopLocks:
    """One asyncio.Lock per (event loop, key): locks cannot cross loops."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()

    def get(self, key: str) -> asyncio.Lock:
        per_loop = self._locks.setdefault(asyncio.get_running_loop(), {})
        if len(per_loop) > 1000:
            # Keys come and go (one per refresh token): forget the idle ones. Safe, as the
            # caller acquires the returned lock before it next awaits.
            for idle in [k for k, lock in per_loop.items() if not lock.locked() and k != key]:
                del per_loop[idle]
        return per_loop.setdefault(key, asyncio.Lock())


_locks = _LoopLocks()


# --- Contact tokens -------------------------------------------------------------------

# digest(old refresh token) -> (new tokens, remembered until)
_rotated: dict[str, tuple[TokenSet, float]] = {}


async def refresh_contact_tokens(refresh_token: str) -> TokenSet:
    """Single-flight refresh: callers with one refresh token share one grant.

    Within a process an asyncio lock serialises them; across processes (several workers)
    a short lock in Django's cache does, and the rotated tokens are shared through the
    cache under the old token's digest for ROTATION_MEMORY seconds: a refresh token is
    used once even when parallel requests of one session land on different workers.
    """
    key = _digest(refresh_token)
    shared_key = f"crm_gateway:rotated:{key}"
    async with _locks.get("refresh:" + key):
        now = time.time()
        for old, (_, until) in list(_rotated.items()):
            if until < now:
                del _rotated[old]
        if key in _rotated:
            return _rotated[key][0]
        tokens = await _shared_rotation(shared_key)
        if tokens is None:
            lock_key = f"crm_gateway:refreshing:{key}"
            if not await cache.aadd(lock_key, 1, timeout=REFRESH_LOCK_SECONDS):
                tokens = await _wait_for_rotation(shared_key)
            if tokens is None:
                try:
                    tokens = await _refresh_grant(refresh_token)
                    await cache.aset(shared_key, tokens.as_dict(), timeout=int(ROTATION_MEMORY))
                finally:
                    await cache.adelete(lock_key)
        _rotated[key] = (tokens, now + ROTATION_MEMORY)
        return tokens


async def _shared_rotation(shared_key: str) -> TokenSet | None:
    shared = await cache.aget(shared_key)
    if isinstance(shared, dict):
        try:
            return TokenSet.from_dict(shared)
        except (KeyError, TypeError, ValueError):
            return None
    return None


async def _wait_for_rotation(shared_key: str) -> TokenSet | None:
    """Another process is refreshing this token: wait (bounded) for its result."""
    deadline = time.monotonic() + REFRESH_LOCK_SECONDS
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        tokens = await _shared_rotation(shared_key)
        if tokens is not None:
            return tokens
    return None


async def _refresh_grant(refresh_token: str) -> TokenSet:
    from crm_gateway.rest import call_json

    path = "/auth/contact/access_token"
    try:
        reply = await call_json(
            "POST",
            path,
            json={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": settings.ONECRM_CLIENT_ID,
                "client_secret": settings.ONECRM_CLIENT_SECRET,
            },
        )
    except (errors.BadRequest, errors.Unauthorized) as exc:
        # invalid_grant: revoked, expired or already used. Only a new sign-in helps.
        raise errors.ReauthenticationRequired(
            "the contact's session at the CRM has ended",
            method="POST",
            path=path,
            error=exc.error,
            crm_message=exc.message,
            hint=exc.hint,
            status=exc.status,
        ) from None
    tokens = TokenSet.from_reply(reply, path=path)
    if tokens.refresh_token is None:
        tokens = dataclasses.replace(tokens, refresh_token=refresh_token)
    return tokens


# --- Signing in: the authorization code -------------------------------------------------

# What a refused code is called, by realm: a contact signing in, or staff with their CRM user.
_SIGN_IN = {"contact": "the sign-in code was refused", "user": "the staff sign-in code was refused"}


async def exchange_code(
    realm: Literal["contact", "user"],
    code: str,
    redirect_uri: str,
    code_verifier: str | None = None,
) -> TokenSet:
    """An OAuth flow's last step, for a contact or a CRM user: `authorization_code` on
    /auth/{realm}/access_token as the portal's OAuth client, with the PKCE verifier when
    the authorization request sent a challenge. A refused code (expired, used, the wrong
    verifier or redirect URI) is `ReauthenticationRequired`: only a new sign-in helps."""
    from crm_gateway.rest import call_json

    path = f"/auth/{realm}/access_token"
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": settings.ONECRM_CLIENT_ID,
        "client_secret": settings.ONECRM_CLIENT_SECRET,
    }
    if code_verifier:
        body["code_verifier"] = code_verifier
    try:
        reply = await call_json("POST", path, json=body)
    except (errors.BadRequest, errors.Unauthorized) as exc:
        raise errors.ReauthenticationRequired(
            _SIGN_IN[realm],
            method="POST",
            path=path,
            error=exc.error,
            crm_message=exc.message,
            status=exc.status,
        ) from None
    return TokenSet.from_reply(reply, path=path)


class ContactCredential:
    """A signed-in contact's OAuth tokens, kept fresh for the length of a request."""

    kind = "contact"

    def __init__(
        self,
        tokens: TokenSet,
        *,
        on_rotate: Callable[[TokenSet], Awaitable[None]] | None = None,
        kind: str = "contact",
    ) -> None:
        self.tokens = tokens
        self._on_rotate = on_rotate
        self.kind = kind

    def __repr__(self) -> str:
        return f"<ContactCredential expires_at={self.tokens.expires_at:.0f}>"

    def secrets(self) -> tuple[str, ...]:
        return tuple(t for t in (self.tokens.access_token, self.tokens.refresh_token) if t)

    async def authorization(self) -> str:
        if self.tokens.expires_soon():
            await self._refresh(self.tokens.access_token)
        return f"Bearer {self.tokens.access_token}"

    async def renew(self, stale_authorization: str) -> bool:
        await self._refresh(stale_authorization.removeprefix("Bearer "))
        return True

    async def _refresh(self, stale_access_token: str) -> None:
        if self.tokens.access_token != stale_access_token:
            return  # another request of this credential refreshed it already
        if not self.tokens.refresh_token:
            raise errors.ReauthenticationRequired("the contact's access token expired")
        tokens = await refresh_contact_tokens(self.tokens.refresh_token)
        if tokens.access_token != self.tokens.access_token:
            self.tokens = tokens
            if self._on_rotate is not None:
                await self._on_rotate(tokens)


# --- Tokens shared by the process and Django's cache -----------------------------------

_process_tokens: dict[str, TokenSet] = {}
# One portal token per contact: bound the process cache (Django's cache has them all).
MAX_PROCESS_TOKENS = 2000


def _remember(key: str, tokens: TokenSet) -> None:
    if len(_process_tokens) >= MAX_PROCESS_TOKENS:
        for old in [k for k, t in _process_tokens.items() if t.expires_soon()]:
            del _process_tokens[old]
        while len(_process_tokens) >= MAX_PROCESS_TOKENS:
            del _process_tokens[next(iter(_process_tokens))]  # the oldest entry
    _process_tokens[key] = tokens


class _SharedToken:
    """A bearer token cached per process and in Django's cache, fetched single-flight."""

    kind = "staff"

    def __init__(self, cache_key: str, fetch: Callable[[], Awaitable[TokenSet]]) -> None:
        self._cache_key = cache_key
        self._fetch = fetch

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind}>"

    def secrets(self) -> tuple[str, ...]:
        tokens = _process_tokens.get(self._cache_key)
        return (tokens.access_token,) if tokens else ()

    async def _current(self) -> TokenSet:
        tokens = _process_tokens.get(self._cache_key)
        if tokens is not None and not tokens.expires_soon():
            return tokens
        async with _locks.get(self._cache_key):
            tokens = _process_tokens.get(self._cache_key)
            if tokens is not None and not tokens.expires_soon():
                return tokens
            shared = await cache.aget(self._cache_key)
            if isinstance(shared, dict):
                try:
                    tokens = TokenSet.from_dict(shared)
                except (KeyError, TypeError, ValueError):
                    tokens = None
            if tokens is None or tokens.expires_soon():
                tokens = await self._fetch()
                ttl = max(1, int(tokens.renew_at - time.time()))
                await cache.aset(self._cache_key, tokens.as_dict(), timeout=ttl)
            _remember(self._cache_key, tokens)
            return tokens

    async def authorization(self) -> str:
        return f"Bearer {(await self._current()).access_token}"

    async def grant_now(self) -> TokenSet:
        """A new grant now, whatever is cached, shared like any other (Test connection:
        a token cached before the secret changed must not hide a broken secret)."""
        async with _locks.get(self._cache_key):
            tokens = await self._fetch()
            ttl = max(1, int(tokens.renew_at - time.time()))
            await cache.aset(self._cache_key, tokens.as_dict(), timeout=ttl)
            _remember(self._cache_key, tokens)
            return tokens

    async def renew(self, stale_authorization: str) -> bool:
        stale = stale_authorization.removeprefix("Bearer ")
        async with _locks.get(self._cache_key):
            tokens = _process_tokens.get(self._cache_key)
            if tokens is not None and tokens.access_token != stale:
                return True  # renewed by a concurrent request
            _process_tokens.pop(self._cache_key, None)
            shared = await cache.aget(self._cache_key)
            if isinstance(shared, dict) and shared.get("access_token") == stale:
                await cache.adelete(self._cache_key)
        return True


class StaffCredential(_SharedToken):
    """The portal's own API client (`client_credentials` on /auth/user/access_token)."""

    kind = "staff"


class PortalTokenCredential(_SharedToken):
    """A contact-scoped token minted by `POST /portal/auth` with the staff credential."""

    kind = "portal"


class BasicCredential:
    kind = "basic"

    def __init__(self, username: str, password: str) -> None:
        raw = f"{username}:{password}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode("ascii")
        self._password = password

    def __repr__(self) -> str:
        return "<BasicCredential>"

    def secrets(self) -> tuple[str, ...]:
        return (self._header.removeprefix("Basic "), self._password)

    async def authorization(self) -> str:
        return self._header

    async def renew(self, stale_authorization: str) -> bool:
        return False  # a wrong password does not get better by retrying


def _namespace() -> str:
    return _digest(f"{settings.ONECRM_API_URL}|{settings.ONECRM_SERVICE_CLIENT_ID}")


async def _client_credentials() -> TokenSet:
    from crm_gateway.rest import call_json

    path = "/auth/user/access_token"
    reply = await call_json(
        "POST",
        path,
        json={
            "grant_type": "client_credentials",
            "client_id": settings.ONECRM_SERVICE_CLIENT_ID,
            "client_secret": settings.ONECRM_SERVICE_CLIENT_SECRET,
            "scope": "read write profile",
        },
    )
    return TokenSet.from_reply(reply, path=path)


def staff_credential() -> StaffCredential | BasicCredential:
    """The portal's own credential: basic authentication if configured, else OAuth."""
    if settings.ONECRM_BASIC_USERNAME:
        return BasicCredential(settings.ONECRM_BASIC_USERNAME, settings.ONECRM_BASIC_PASSWORD)
    return StaffCredential(f"crm_gateway:staff:{_namespace()}", _client_credentials)


def portal_token_credential(contact_id: str) -> PortalTokenCredential:
    """A token for one contact, minted with the staff credential and shared like it."""
    from crm_gateway.rest import call_json

    async def mint() -> TokenSet:
        path = "/portal/auth"
        reply = await call_json(
            "POST", path, credential=staff_credential(), json={"contact_id": contact_id}
        )
        return TokenSet.from_reply(reply, path=path)

    key = f"crm_gateway:portal:{_namespace()}:{_digest(contact_id)}"
    return PortalTokenCredential(key, mint)


def forget_cached_tokens() -> None:
    """Drop the process's token cache (tests; a rotated client secret)."""
    _process_tokens.clear()
    _rotated.clear()
