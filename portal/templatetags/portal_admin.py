"""`{% portal_overview as overview %}`: the numbers on the staff's admin start page."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.db.models import Count
from django.utils import timezone

from portal.models import ActivityEvent, ContactAccess, SettingsChange, SignInLink
from portal.site_settings import get_portal_settings

register = template.Library()


@register.simple_tag
def portal_overview() -> dict:
    now = timezone.now()
    week_ago = now - timedelta(days=7)
    by_kind = dict(
        ActivityEvent.objects.filter(at__gte=week_ago)
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    site = get_portal_settings()
    last_change = SettingsChange.objects.order_by("-changed_at", "-id").first()
    return {
        "site": site,
        "sections": [name for name, on in site.sections.items() if on],
        "sign_ins": by_kind.get("sign_in", 0),
        "failed_sign_ins": by_kind.get("sign_in_failed", 0),
        "downloads": by_kind.get("document_download", 0) + by_kind.get("pdf_download", 0),
        "quote_decisions": by_kind.get("quote_accepted", 0) + by_kind.get("quote_declined", 0),
        "contacts": ContactAccess.objects.count(),
        "blocked": ContactAccess.objects.filter(blocked=True).count(),
        "active_week": ContactAccess.objects.filter(last_sign_in__gte=week_ago).count(),
        "open_links": SignInLink.objects.filter(used_at__isnull=True, expires_at__gt=now).count(),
        "last_change": last_change,
    }
