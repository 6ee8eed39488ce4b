"""Fixed-window rate limits kept in Django's cache, so they hold across processes.

Keys carry a hash of what they count (an IP address, an e-mail address), so the cache
never holds a visitor's e-mail in clear.
"""

import hashlib
import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class Limit:
    name: str
    max_hits: int
    window_seconds: int


SIGN_IN_PER_IP = Limit("signin-ip", 30, 10 * 60)
LINK_PER_IP = Limit("link-ip", 10, 15 * 60)
LINK_PER_ADDRESS = Limit("link-address", 3, 15 * 60)
PDF_PER_CONTACT = Limit("pdf-contact", 60, 60)
EMAIL_CHANGE_PER_CONTACT = Limit("email-change-contact", 5, 15 * 60)  # profile (issue 16)


def _key(limit: Limit, subject: str | None) -> str:
    # No subject (a client whose address is unknown): they all share one budget.
    digest = hashlib.sha256((subject or "unknown").strip().lower().encode()).hexdigest()[:32]
    window = int(time.time()) // limit.window_seconds
    return f"ratelimit:{limit.name}:{window}:{digest}"


async def allow(limit: Limit, subject: str | None) -> bool:
    """Count one hit; False once the subject has used up its window."""
    key = _key(limit, subject)
    # add() then incr() is atomic on Redis and on the local-memory cache.
    if await cache.aadd(key, 1, timeout=limit.window_seconds + 1):
        return True
    try:
        hits = await cache.aincr(key)
    except ValueError:  # the key expired between add() and incr()
        await cache.aset(key, 1, timeout=limit.window_seconds + 1)
        return True
    return hits <= limit.max_hits


def used_up(limit: Limit, subject: str | None) -> bool:
    """Whether the subject has used up its window, without counting a hit (sync: for the
    admin's login form, which counts failures only)."""
    return int(cache.get(_key(limit, subject)) or 0) >= limit.max_hits


def count_hit(limit: Limit, subject: str | None) -> None:
    """Count one hit (sync), as `allow` does."""
    key = _key(limit, subject)
    if cache.add(key, 1, timeout=limit.window_seconds + 1):
        return
    try:
        cache.incr(key)
    except ValueError:  # the key expired between add() and incr()
        cache.set(key, 1, timeout=limit.window_seconds + 1)
