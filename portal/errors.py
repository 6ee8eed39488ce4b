"""Friendly error pages, for full pages and for htmx requests alike.

Customer views use, in order of preference:

* nothing at all: `CrmErrorMiddleware` (in MIDDLEWARE) turns any uncaught
  `crm_gateway.errors.CrmError` into the right page:
  CRM unavailable (503, `Retry-After`) for connection trouble and timeouts, 502 for
  nonsense replies and 5xx, 404 for NotFound, 403 for Forbidden/NotAllowed, and a
  redirect to sign-in for ReauthenticationRequired;
* `render_crm_unavailable(request, status=503)` when a view catches the error itself
  (for example to show the rest of a dashboard with one box replaced);
* `render_error(request, 404)` etc. for the portal's own refusals.

An htmx request gets the small `error-box` fragment instead of a page, retargeted
(`HX-Retarget: #portal-alerts`, `HX-Reswap: innerHTML`) into the alert region every page
has, so a failing widget never replaces the page, and the retry link reloads the page.
No stack trace, no exception text, no CRM message ever reaches the customer.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.urls import reverse
from django.utils.deprecation import MiddlewareMixin
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from crm_gateway import errors as crm_errors

logger = logging.getLogger(__name__)

ALERTS_TARGET = "#portal-alerts"
RETRY_AFTER_SECONDS = 30
RATE_LIMIT_RETRY_SECONDS = 60
DOWNLOADS_RETRY_SECONDS = 10


def _texts(kind: str | int) -> tuple[str, str]:
    texts: dict[str | int, tuple[str, str]] = {
        400: (
            _("This request could not be understood"),
            _("Something in the request was not right. Please go back and try again."),
        ),
        403: (
            _("You may not open this page"),
            _("You do not have access to this page. If you think you should, contact support."),
        ),
        404: (
            _("Page not found"),
            _("We could not find this page. It may have moved, or the link may be mistyped."),
        ),
        429: (
            _("Please slow down"),
            _("You asked for many documents in a short time. Please wait a minute and try again."),
        ),
        500: (
            _("Something went wrong on our side"),
            _("This page could not be shown. Nothing you did caused it. Please try again."),
        ),
        "crm": (
            _("Our records are not reachable right now"),
            _(
                "We cannot reach our customer records at the moment. "
                "Nothing is lost: please try again in a minute."
            ),
        ),
    }
    return texts.get(kind, texts[500])


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _page_url(request: HttpRequest) -> str:
    """The page the customer is looking at: for htmx, the browser's URL (same host only)."""
    if is_htmx(request):
        current = request.headers.get("HX-Current-URL", "")
        if current and url_has_allowed_host_and_scheme(
            current, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            parts = urlsplit(current)
            return parts.path + (f"?{parts.query}" if parts.query else "")
        return "/"
    return request.get_full_path() if request.method in {"GET", "HEAD"} else "/"


def _render(
    request: HttpRequest,
    template: str,
    status: int,
    title: str,
    text: str,
    *,
    retry: bool,
    retry_after: int | None = None,
) -> HttpResponse:
    retry_url = _page_url(request) if retry else ""
    context: dict[str, Any] = {
        "error_title": title,
        "error_text": text,
        "status_code": status,
        "retry_url": retry_url,
        "retry_after": retry_after,
        # The language menu returns to the page worth retrying, else to the start: never
        # echoing the URL, so a 404 for another account's id reads exactly like one for
        # an id that does not exist.
        "language_next": retry_url or reverse("dashboard"),
    }
    if is_htmx(request):
        body = loader.render_to_string("errors/error_page.html#error-box", context, request)
        response = HttpResponse(body, status=status)
        response["HX-Retarget"] = ALERTS_TARGET
        response["HX-Reswap"] = "innerHTML"
    else:
        response = HttpResponse(loader.render_to_string(template, context, request), status=status)
    if retry_after and status in {429, 503}:
        response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response


def render_crm_unavailable(
    request: HttpRequest, *, status: int = 503, retry_after: int | None = RETRY_AFTER_SECONDS
) -> HttpResponse:
    """The CRM is down or answered nonsense: a page (or htmx fragment) with a retry link."""
    if status not in {502, 503, 504}:
        raise ValueError("the CRM-unavailable page answers 502, 503 or 504")
    title, text = _texts("crm")
    return _render(
        request, "crm_unavailable.html", status, title, text, retry=True, retry_after=retry_after
    )


def render_error(request: HttpRequest, status: int) -> HttpResponse:
    """A friendly 400/403/404/500 page, or the htmx fragment."""
    title, text = _texts(status)
    template = f"{status}.html" if status in {400, 403, 404} else "errors/error_page.html"
    retry_after = RATE_LIMIT_RETRY_SECONDS if status == 429 else None
    return _render(
        request, template, status, title, text, retry=status >= 500, retry_after=retry_after
    )


def render_too_many_downloads(request: HttpRequest) -> HttpResponse:
    """429: the contact already has DOWNLOADS_PER_CONTACT downloads running."""
    text = _(
        "You already have %(count)d downloads running. When one of them has finished, "
        "please try again."
    ) % {"count": settings.DOWNLOADS_PER_CONTACT}
    title = _("Please wait for your other downloads")
    response = _render(request, "errors/error_page.html", 429, title, text, retry=True)
    # No "within N seconds" promise on the page: that depends on the other downloads.
    response["Retry-After"] = str(DOWNLOADS_RETRY_SECONDS)
    return response


def response_for_crm_error(request: HttpRequest, error: Exception) -> HttpResponse | None:
    """The page for an error from the CRM gateway, or None if it is not one."""
    if isinstance(error, crm_errors.ReauthenticationRequired):
        return _sign_in_again(request)
    if isinstance(error, crm_errors.NotFound):
        return render_error(request, 404)
    if isinstance(error, crm_errors.NotAllowed | crm_errors.Forbidden):
        return render_error(request, 403)
    if isinstance(error, crm_errors.InvalidQuery | crm_errors.BadRequest):
        logger.warning("CRM refused a request: %s", type(error).__name__)
        return render_error(request, 400)
    if isinstance(error, crm_errors.RateLimited):
        wait = int(error.retry_after) if error.retry_after else RETRY_AFTER_SECONDS
        return render_crm_unavailable(request, status=503, retry_after=max(1, min(wait, 600)))
    if isinstance(error, crm_errors.CrmUnavailable):
        return render_crm_unavailable(request, status=503)
    if isinstance(error, crm_errors.ServerError) and error.status in {503, 504}:
        # The CRM says it is unavailable for now (503) or timed out behind its own proxy.
        return render_crm_unavailable(request, status=503)
    if isinstance(error, crm_errors.CrmError):
        # Bad replies, 5xx, 401 on the portal's own credential: the CRM side is broken.
        # Which call, and what was wrong with it: what an operator needs to act.
        logger.error(
            "CRM error shown as unavailable: %s %s %s: %s",
            type(error).__name__,
            error.method or "-",
            error.path or "-",
            error.detail or "-",
        )
        return render_crm_unavailable(request, status=502, retry_after=None)
    return None


def _sign_in_again(request: HttpRequest) -> HttpResponse:
    target = f"{settings.LOGIN_URL}?{urlencode({'next': _page_url(request)})}"
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    response = HttpResponse(status=302)
    response["Location"] = target
    return response


class CrmErrorMiddleware(MiddlewareMixin):
    """Turns uncaught CRM gateway errors into friendly pages (sync and async views)."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return response_for_crm_error(request, exception)


# --- Django's handler400/403/404/500 (wired in portal/urls.py).
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render_error(request, 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render_error(request, 403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the portal's own 403 page, not Django's (which explains the
    mechanism in detail when DEBUG is on)."""
    return render_error(request, 403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render_error(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    """Render 500.html with no context processors: the database or cache may be the problem."""
    if is_htmx(request):
        title, text = _texts(500)
        body = (
            '<section class="error-box" role="alert"><h1 class="error-box__title">'
            f'{escape(title)}</h1><p class="error-box__text">{escape(text)}</p>'
            '<p><a class="button" href="/">'
            f"{escape(_('Go to the start page'))}</a></p></section>"
        )
        response = HttpResponse(body, status=500)
        response["HX-Retarget"] = ALERTS_TARGET
        response["HX-Reswap"] = "innerHTML"
        return response
    return HttpResponse(loader.get_template("500.html").render(), status=500)
