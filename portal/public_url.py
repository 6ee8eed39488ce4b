"""Absolute links to the portal, from its configured public address.

    from portal.public_url import absolute_url
    absolute_url(reverse("login-oauth-callback"))  # "https://portal.example.com/login/oauth/callback/"

Links that leave the request (an e-mailed sign-in link, the OAuth redirect_uri sent to
the CRM) are built from PORTAL_BASE_URL, never from the request's Host header: with a
lenient ALLOWED_HOSTS, or a proxy that passes any Host on, that header is whatever the
client wrote, and a sign-in link mailed to a contact would point at the attacker's site.
"""

from django.conf import settings


def absolute_url(path: str) -> str:
    """`path` (absolute, as reverse() gives it) on the portal's public address."""
    if not path.startswith("/") or path.startswith("//"):
        raise ValueError(f"not a path on this site: {path!r}")
    return f"{settings.PORTAL_BASE_URL}{path}"
