"""A customer page, whole or as the htmx partial it was asked for."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers


def is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False)) and not getattr(request.htmx, "boosted", False)  # type: ignore[attr-defined]


def render_page(
    request: HttpRequest,
    template_name: str,
    context: dict[str, Any],
    *,
    partial: str | None = None,
    push_url: str | None = None,
) -> HttpResponse:
    """The whole page, or only `partial` (`template.html#partial`) for an htmx request.

    Both answers come from one URL, so `Vary: HX-Request` keeps caches from mixing them;
    `push_url` puts the canonical URL of what is shown in the address bar (htmx).
    """
    context.setdefault("contact", getattr(request, "contact", None))
    name = template_name
    if partial and is_htmx(request):
        name = f"{template_name}#{partial}"
    response = render(request, name, context)
    patch_vary_headers(response, ("HX-Request",))
    if push_url and is_htmx(request):
        response["HX-Push-Url"] = push_url
    return response
