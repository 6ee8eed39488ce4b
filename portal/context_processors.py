"""What every portal template gets: the settings snapshot, the enabled sections and the
navigation built from them."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from portal import languages
from portal.sections import SECTIONS
from portal.signin.safe_next import safe_next
from portal.site_settings import settings_for_request

HTMX_VERSION = "2.0.11"  # static/vendor/htmx/<version>/

# Read by htmx from <meta name="htmx-config">, before any request is made.
HTMX_CONFIG = json.dumps(
    {
        "allowEval": False,  # no hx-on / js: / eval; the CSP forbids it anyway
        "allowScriptTags": False,  # swapped-in HTML never runs scripts
        "includeIndicatorStyles": False,  # htmx would inject a <style> the CSP blocks
        "selfRequestsOnly": True,
        "historyCacheSize": 0,  # keep customers' invoices out of localStorage
        "refreshOnHistoryMiss": True,
        # Swap the portal's error fragments (4xx/5xx with HX-Retarget) instead of dropping them.
        "responseHandling": [
            {"code": "204", "swap": False},
            {"code": "[23]..", "swap": True},
            {"code": "(400|403|404|422|429|500|502|503|504)", "swap": True, "error": False},
            {"code": "[45]..", "swap": False, "error": True},
        ],
    },
    separators=(",", ":"),
)


def _nav_items(request: HttpRequest, sections: dict[str, bool]) -> list[dict]:
    path = getattr(request, "path", "")
    home = reverse("dashboard")
    items = [{"key": "dashboard", "label": _("Dashboard"), "url": home, "current": path == home}]
    for section in SECTIONS:
        if sections.get(section.key):
            url = section.list_url()
            label = section.texts.title
            items.append(
                {"key": section.key, "label": label, "url": url, "current": path.startswith(url)}
            )
            if section.key == "invoices" and sections.get("statement"):
                # The statement of account, beside the invoices it is made of (issue 15).
                url = reverse("statement")
                items.append(
                    {
                        "key": "statement",
                        "label": _("Statement"),
                        "url": url,
                        "current": path.startswith(url),
                    }
                )
    if sections.get("help"):  # the knowledge base: not a contact's records, not a Section
        url = reverse("help")
        items.append(
            {"key": "help", "label": _("Help"), "url": url, "current": path.startswith(url)}
        )
    profile = reverse("profile")
    items.append(
        {
            "key": "profile",
            "label": _("Profile"),
            "url": profile,
            "current": path.startswith(profile),
        }
    )
    return items


def _back_after_language_change(request: HttpRequest) -> str:
    """Where the language menu returns: this page, if it can be asked for again."""
    path = getattr(request, "path", "/")
    if path.startswith(reverse("login")) and (
        request.method not in {"GET", "HEAD"} or path.startswith(reverse("login-oauth"))
    ):
        return reverse("login")
    if request.method not in {"GET", "HEAD"}:
        return reverse("dashboard")
    if path.startswith(reverse("login")):
        # The sign-in page again, carrying on only a `next` it would itself accept: the
        # raw query string could hand a visitor's `?next=https://evil.example/` around.
        target = safe_next(request.GET.get("next"), "")
        return f"{reverse('login')}?{urlencode({'next': target})}" if target else path
    return request.get_full_path()


def portal(request: HttpRequest) -> dict:
    site = settings_for_request(request)
    sections = site.sections
    return {
        "portal_settings": site,
        "site_name": site.display_name,
        # The signed-in contact (set on the request by the sign-in code); a view may override.
        "contact": getattr(request, "contact", None),
        "sections": sections,
        "nav_items": _nav_items(request, sections),
        "language_menu": languages.menu(site, translation.get_language() or ""),
        "language_next": _back_after_language_change(request),
        "htmx_version": HTMX_VERSION,
        "htmx_config": HTMX_CONFIG,
    }
