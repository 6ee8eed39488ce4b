"""Quote decisions (when staff allow them): accept, or decline with a reason.

The quote's list, page and PDF are the generic section views (portal/views/sections.py).
A decision is a POST (CSRF-protected) to `/quotes/<id>/accept` or `/quotes/<id>/decline`.
The quote is first read through the gateway, which checks that it is this contact's;
only then is it written, once (portal.quote_decisions: the reason bounded, the decision
claimed in the portal's database first), and the decision recorded in the portal's
activity log and as a note on the quote in the CRM.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.activity import arecord_activity
from portal.crm_data import contact_gateway
from portal.errors import render_error
from portal.models import ActivityKind
from portal.quote_decisions import decide_once, read_reason
from portal.sections.access import checked_record
from portal.sections.quotes import QUOTES, STAGE_ACCEPTED, STAGE_DECLINED, can_decide
from portal.sections.rows import today
from portal.signin.session import contact_required
from portal.views.sections import render_record


async def _decide(request: HttpRequest, quote_id: str, accept: bool) -> HttpResponse:
    checked, site = await checked_record(request, QUOTES, quote_id)
    if not can_decide(site, checked, today()):
        return render_error(request, 403)
    reason, problem = read_reason(request.POST, required=not accept)
    if problem:  # the quote's page again, with what the contact typed kept in its form
        return await render_record(
            request,
            QUOTES,
            checked,
            site,
            status=400,
            decision_error=problem,
            decision_accept=accept,
            reason_typed=request.POST.get("reason", ""),
        )
    contact = request.contact  # type: ignore[attr-defined]
    stage = STAGE_ACCEPTED if accept else STAGE_DECLINED
    gateway = contact_gateway(request)
    decided = await decide_once(
        gateway, checked, accept=accept, stage=stage, contact=contact, reason=reason
    )
    if not decided:
        return await render_record(request, QUOTES, checked, site, status=409, decision_taken=True)
    await arecord_activity(
        request,
        ActivityKind.QUOTE_ACCEPTED if accept else ActivityKind.QUOTE_DECLINED,
        contact_id=contact.contact_id,
        record_model="Quote",
        record_id=checked.id,
    )
    messages.success(
        request,
        _("Thank you: you accepted this quote.")
        if accept
        else _("You declined this quote. Thank you for telling us why."),
    )
    return HttpResponseRedirect(QUOTES.record_url(checked.id))


@require_POST
@contact_required
async def quote_accept(request: HttpRequest, quote_id: str) -> HttpResponse:
    return await _decide(request, quote_id, accept=True)


@require_POST
@contact_required
async def quote_decline(request: HttpRequest, quote_id: str) -> HttpResponse:
    return await _decide(request, quote_id, accept=False)
