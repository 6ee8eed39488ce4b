"""The case forms (new case, comment): fields, one-time submission tokens, rate limits.

A form carries a `submission` token made when it was shown. The first POST with a token
claims it (an atomic cache add, shared by every process); a second POST with the same
token (a double click, a reload) writes nothing and is sent to what the first one made.
A token is released again when the first POST wrote nothing (a validation error, a CRM
that failed before anything was saved), so the contact can send the form again.
"""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

from portal.sections.cases import MESSAGE_MAX, SUBJECT_MAX, CaseChoices
from portal.signin import ratelimit
from portal.site_settings import SiteSettings
from portal.uploads import allowed_types_hint

TOKEN_BYTES = 18
TOKEN_LENGTH = 24  # token_urlsafe(18)
SUBMISSION_SECONDS = 24 * 3600
PENDING = "pending"


class NewCaseForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=SUBJECT_MAX, strip=True)
    category = forms.ChoiceField(label=_("Category"), required=False)
    priority = forms.ChoiceField(label=_("Priority"), required=False)
    description = forms.CharField(
        label=_("Describe your question or problem"), max_length=MESSAGE_MAX, strip=True
    )

    def __init__(self, *args: Any, choices: CaseChoices, site: SiteSettings, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for name in ("category", "priority"):
            options = getattr(choices, name)
            field = self.fields[name]
            if (
                name in site.case_contact_fields
                and options
                and isinstance(field, forms.ChoiceField)
            ):
                field.choices = [
                    ("", _("Choose…")),
                    *((c.value, c.label) for c in options),
                ]
            else:
                del self.fields[name]  # staff do not let contacts set it, or the CRM has none

    def crm_fields(self) -> dict[str, str]:
        return {
            name: self.cleaned_data[name]
            for name in ("category", "priority")
            if name in self.fields and self.cleaned_data.get(name)
        }


class CommentForm(forms.Form):
    body = forms.CharField(label=_("Your message"), max_length=MESSAGE_MAX, strip=True)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def _key(contact_id: str, purpose: str, token: str) -> str | None:
    if len(token) != TOKEN_LENGTH or not token.replace("-", "").replace("_", "").isalnum():
        return None
    return f"portal:submission:v1:{purpose}:{contact_id}:{token}"


async def claim(contact_id: str, purpose: str, token: str) -> tuple[bool, str | None]:
    """(claimed, what the first POST made): claimed False means a duplicate (or a form
    without a valid token, then with None)."""
    key = _key(contact_id, purpose, token)
    if key is None:
        return False, None
    if await cache.aadd(key, PENDING, SUBMISSION_SECONDS):
        return True, None
    done = await cache.aget(key)
    return False, done if isinstance(done, str) and done != PENDING else ""


async def settle(contact_id: str, purpose: str, token: str, result_url: str) -> None:
    key = _key(contact_id, purpose, token)
    if key is not None:
        await cache.aset(key, result_url, SUBMISSION_SECONDS)


async def release(contact_id: str, purpose: str, token: str) -> None:
    key = _key(contact_id, purpose, token)
    if key is not None:
        await cache.adelete(key)


async def within_rate(site: SiteSettings, contact_id: str, purpose: str) -> bool:
    per_hour = site.cases_per_hour if purpose == "case" else site.comments_per_hour
    return await ratelimit.allow(ratelimit.Limit(f"{purpose}-contact", per_hour, 3600), contact_id)


def upload_context(site: SiteSettings) -> dict[str, Any]:
    return {
        "upload_max_mib": site.upload_max_mib,
        "upload_max_files": site.upload_max_files,
        "upload_accept": allowed_types_hint(site),
    }


def comment_form_context(site: SiteSettings) -> dict[str, Any]:
    """What the case page's comment form needs (a fresh token, the upload limits)."""
    return {
        "comment_form": CommentForm(),
        "comment_token": new_token(),
        "message_max": MESSAGE_MAX,
        **upload_context(site),
    }
