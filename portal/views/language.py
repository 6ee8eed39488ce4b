"""POST /language/: the language menu. A small form on every page (no JavaScript needed,
CSRF-protected like every other POST); the choice is kept for the signed-in contact in
the portal's database, and on this browser in the language cookie."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_POST

from portal import languages
from portal.signin.safe_next import safe_next
from portal.signin.session import load_contact
from portal.site_settings import aget_portal_settings


@require_POST
async def set_language(request: HttpRequest) -> HttpResponse:
    back = safe_next(request.POST.get("next"), signin_pages=True)
    response = HttpResponseRedirect(back)
    site = await aget_portal_settings()
    language = request.POST.get("language", "")
    if language not in languages.offered(site):
        return response  # a language staff do not offer (or none): nothing changes
    contact = await load_contact(request)
    if contact is not None:
        await languages.remember_choice(contact.contact_id, language)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path="/",
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite="Lax",  # as LANGUAGE_COOKIE_SAMESITE
    )
    return response
