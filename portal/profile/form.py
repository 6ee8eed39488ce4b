"""The profile form: which fields a contact may change, and what they may type.

Only the fields staff allow (`profile_editable_fields`) are read from the POST; any other
field in it is ignored. Values are bounded (the gateway's PROFILE_EDITABLE_FIELDS) and
phone numbers take only phone characters; on an error the page shows what was typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

from crm_gateway import PHONE_CHARACTERS, PHONE_FIELDS, PROFILE_EDITABLE_FIELDS

# The profile's fields in page order, with the portal's own (translated) labels.
LABELS = {
    "first_name": _("First name"),
    "last_name": _("Last name"),
    "title": _("Job title"),
    "department": _("Department"),
    "phone_work": _("Work phone"),
    "phone_mobile": _("Mobile phone"),
    "phone_home": _("Home phone"),
}
AUTOCOMPLETE = {
    "first_name": "given-name",
    "last_name": "family-name",
    "title": "organization-title",
    "department": "off",
    "phone_work": "tel",
    "phone_mobile": "tel",
    "phone_home": "tel",
}
REQUIRED = frozenset({"last_name"})  # the CRM names a contact by it


@dataclass(frozen=True)
class ProfileField:
    name: str
    label: Any
    value: str
    editable: bool
    max_length: int
    autocomplete: str
    error: str = ""

    @property
    def is_phone(self) -> bool:
        return self.name in PHONE_FIELDS


@dataclass
class ProfileForm:
    """The profile's fields for the page, with what the contact typed and any errors."""

    fields: list[ProfileField]
    changes: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[ProfileField]:
        return [item for item in self.fields if item.error]

    @property
    def is_valid(self) -> bool:
        return not self.errors

    @property
    def editable(self) -> bool:
        return any(item.editable for item in self.fields)


def _current(record: Any, name: str) -> str:
    return str(getattr(record, name, None) or "")


def profile_form(
    record: Any, editable: tuple[str, ...], submitted: Mapping[str, str] | None = None
) -> ProfileForm:
    """The form for `record` (the contact's own), read from `submitted` (a POST) if given:
    only editable fields are taken from it, and only those that changed are saved."""
    fields: list[ProfileField] = []
    changes: dict[str, str] = {}
    for name, label in LABELS.items():
        can_edit = name in editable
        current = _current(record, name)
        value, error = current, ""
        if can_edit and submitted is not None and name in submitted:
            value = " ".join(str(submitted[name]).split())  # one line, no stray spaces
            error = _problem(name, value)
            if not error and value != current:
                changes[name] = value
        fields.append(
            ProfileField(
                name=name,
                label=label,
                value=value,
                editable=can_edit,
                max_length=PROFILE_EDITABLE_FIELDS[name],
                autocomplete=AUTOCOMPLETE[name],
                error=error,
            )
        )
    return ProfileForm(fields, changes)


def _problem(name: str, value: str) -> str:
    bound = PROFILE_EDITABLE_FIELDS[name]
    if name in REQUIRED and not value:
        return str(_("Please enter your last name."))
    if len(value) > bound:
        return str(_("At most %(max)d characters, please.") % {"max": bound})
    if not value.isprintable():
        return str(_("Please use letters, digits and punctuation only."))
    if name in PHONE_FIELDS and not set(value) <= PHONE_CHARACTERS:
        return str(_("A phone number takes digits, spaces and + - ( ) . / only."))
    return ""
