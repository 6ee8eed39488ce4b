"""The portal's look from its settings: a tiny stylesheet with the primary colour and
the uploaded logo. Both are served by views (never inline, for the CSP) with the
settings revision in their URL, so browsers may cache them for a long time."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound

from portal.models import PortalSettings
from portal.site_settings import SiteSettings, aget_portal_settings

LONG_CACHE = "public, max-age=31536000, immutable"
SHORT_CACHE = "public, max-age=60"


def _shade(hex_color: str, factor: float) -> str:
    """A darker shade of the colour, for hover and focus states."""
    channels = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{max(0, min(255, round(c * factor))):02x}" for c in channels)


def branding_stylesheet(site: SiteSettings) -> str:
    color = site.primary_color
    return (
        ":root {\n"
        f"  --portal-primary: {color};\n"
        f"  --portal-primary-dark: {_shade(color, 0.8)};\n"
        "}\n"
    )


def _cache_control(request: HttpRequest, site: SiteSettings) -> str:
    # Only a URL naming the current revision may be cached for good.
    return LONG_CACHE if request.GET.get("v") == str(site.revision) else SHORT_CACHE


async def branding_css(request: HttpRequest) -> HttpResponse:
    site = await aget_portal_settings()
    response = HttpResponse(branding_stylesheet(site), content_type="text/css; charset=utf-8")
    response["Cache-Control"] = _cache_control(request, site)
    return response


def load_logo() -> tuple[bytes, str]:
    row = PortalSettings.objects.only("logo_data", "logo_content_type").filter(pk=1).first()
    if row is None or not row.logo_content_type:
        return b"", ""
    return bytes(row.logo_data), row.logo_content_type


async def logo(request: HttpRequest) -> HttpResponse:
    site = await aget_portal_settings()
    if not site.has_logo:
        return HttpResponseNotFound("No logo", content_type="text/plain")
    data, content_type = await sync_to_async(load_logo)()
    if not data:
        return HttpResponseNotFound("No logo", content_type="text/plain")
    response = HttpResponse(data, content_type=content_type)
    extension = content_type.removeprefix("image/")
    response["Content-Disposition"] = f'inline; filename="logo.{extension}"'
    response["X-Content-Type-Options"] = "nosniff"
    # Even if a browser were tricked into rendering it as a document, it may run nothing.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = _cache_control(request, site)
    return response
