"""One-time sign-in links: random tokens, stored only as a SHA-256 hash, valid 15 minutes."""

import hashlib
import secrets
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.utils import timezone

from portal.models import SignInLink

LINK_LIFETIME = timedelta(minutes=15)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_link(contact_id: str, email: str) -> str:
    """Store a new link for the contact and return its token (the only clear copy)."""
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    SignInLink.objects.create(
        token_hash=hash_token(token),
        contact_id=contact_id,
        email=email,
        created_at=now,
        expires_at=now + LINK_LIFETIME,
    )
    return token


async def create_link(contact_id: str, email: str) -> str:
    return await sync_to_async(new_link)(contact_id, email)


async def find_usable_link(token: str) -> SignInLink | None:
    if not 20 <= len(token) <= 100:
        return None
    return await SignInLink.objects.filter(
        token_hash=hash_token(token), used_at__isnull=True, expires_at__gt=timezone.now()
    ).afirst()


async def consume_link(token: str) -> SignInLink | None:
    """Mark the link used, exactly once even under concurrent clicks; None if not usable."""
    link = await find_usable_link(token)
    if link is None:
        return None
    claimed = await SignInLink.objects.filter(pk=link.pk, used_at__isnull=True).aupdate(
        used_at=timezone.now()
    )
    return link if claimed == 1 else None
