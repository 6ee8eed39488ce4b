"""The `next` parameter may only lead somewhere inside the portal."""

from django.utils.http import url_has_allowed_host_and_scheme

FORBIDDEN_TARGETS = ("/login", "/logout")


def safe_next(value: str | None, fallback: str = "/", *, signin_pages: bool = False) -> str:
    """A same-site path for `next`, or the fallback.

    Only absolute paths are accepted: no scheme, no host, no protocol-relative `//x`,
    no backslash tricks (`/\\evil.com`), no control characters, and never back to the
    sign-in or sign-out pages (a loop), unless `signin_pages` (the language menu on the
    sign-in page returns there).
    """
    if not value or len(value) > 2000:
        return fallback
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return fallback
    if any(ord(char) < 32 or char == "\\" for char in value):
        return fallback
    if not url_has_allowed_host_and_scheme(value, allowed_hosts=None, require_https=False):
        return fallback
    if value.startswith(FORBIDDEN_TARGETS) and not (signin_pages and value.startswith("/login")):
        return fallback
    return value
