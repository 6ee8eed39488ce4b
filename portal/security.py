"""Response headers Django does not set itself.

`Cross-Origin-Resource-Policy: same-origin` on every response: no other site may embed
the portal's pages, PDFs, downloads or images (Spectre-style cross-origin reads, hotlinked
invoices). Django's SecurityMiddleware covers HSTS, nosniff, the referrer policy and COOP;
this adds the one it lacks, and never overrides a value a view chose.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.deprecation import MiddlewareMixin


class CrossOriginResourcePolicyMiddleware(MiddlewareMixin):
    """Sync and async capable (MiddlewareMixin), so streamed downloads stay on the loop."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        policy = getattr(settings, "SECURE_CROSS_ORIGIN_RESOURCE_POLICY", "same-origin")
        if policy:
            response.headers.setdefault("Cross-Origin-Resource-Policy", policy)
        return response


async def pdf_printing_allowed(request: HttpRequest) -> bool:
    """One more PDF for the signed-in contact within PDF_PER_CONTACT? (Printing is the
    CRM's most expensive call: a contact, or a stolen session, must not loop on it.)"""
    from portal.signin import ratelimit

    contact_id = request.contact.contact_id  # type: ignore[attr-defined]
    return await ratelimit.allow(ratelimit.PDF_PER_CONTACT, contact_id)
