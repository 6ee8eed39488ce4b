"""The CRM's own words for stages and statuses, learned from `/meta/fields/{model}`.

The dropdown keys of `Invoice.shipping_stage`, `Quote.quote_stage` and `aCase.status`
are an administrator's choice: an installation may keep 1CRM's standard keys
(`Closed Accepted`) or use its own (`Angenommen`). The portal speaks of stages by their
**standard name** (which stage means "accepted", which stages a contact sees by
default) and reads or writes the installation's **key**:

* `/meta/fields/{model}` in English lists each field's options, `{key: label}`. An
  option's standard name is its key when that is a standard name, else its English
  label when that is one (an installation that renamed the keys but kept the labels),
  else it has none (a stage of the installation's own).
* The same call in the page's language gives the labels shown to contacts and staff.
* A CRM that will not say (400/403/404, or no options for the field) gets the fallback:
  keys are taken to be the standard names, labels are the keys (noted as a fallback).

What was learned is kept like the other capabilities (per process and in the shared
cache, for `CAPABILITY_TTL`, per CRM URL, one entry per model and language:
`options:{model}:{language}`). `learn()` reads it (one call per model and language when
not known); `known()` answers without a call from what this process learned, for code
that cannot wait (a list row's badge): pages call `learn()` first. `english_options()`
gives one field's options as listed (key and English label) from the same entry, for a
reading of its own (which case statuses mean closed: `ContactGateway.case_statuses`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from crm_gateway import errors
from crm_gateway.capabilities import NOT_HERE, note_fallback, recall, recall_here, remember
from crm_gateway.credentials import staff_credential
from crm_gateway.models import FieldChoice, ModelFields, field_choices
from crm_gateway.query import check_name
from crm_gateway.rest import api_path, call_json

logger = logging.getLogger(__name__)

# 1CRM's standard option keys, in the CRM's own order.
STANDARD: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("Invoice", "shipping_stage"): (
        "Pending",
        "In Preparation",
        "Partially Shipped",
        "Shipped",
        "Delivered",
    ),
    ("Quote", "quote_stage"): (
        "Draft",
        "Negotiation",
        "Delivered",
        "On Hold",
        "Confirmed",
        "Closed Accepted",
        "Closed Lost",
        "Closed Dead",
    ),
    ("aCase", "status"): (
        "Active - New",
        "Active - Assigned",
        "Pending",
        "Closed - Complete",
        "Closed - No Fault",
        "Closed - Rejected",
        "Closed - Duplicate",
    ),
}
BASE_LANGUAGE = "en"


@dataclass(frozen=True)
class Vocabulary:
    """One field's options on this CRM: keys in the CRM's order, each key's standard
    name (if it has one) and its label in `language`."""

    model: str
    field_name: str
    answered: bool  # False: the CRM did not say; keys are taken as standard names
    keys: tuple[str, ...] = ()
    standard: Mapping[str, str] = field(default_factory=dict)  # key -> standard name
    labels: Mapping[str, str] = field(default_factory=dict)  # key -> label
    language: str = BASE_LANGUAGE

    def standard_of(self, key: str | None) -> str | None:
        """The standard name a CRM key stands for, or None."""
        if not key:
            return None
        if not self.answered:
            return key if key in STANDARD.get((self.model, self.field_name), ()) else None
        return self.standard.get(key)

    def key_for(self, standard: str) -> str | None:
        """The CRM's key for a standard name (None: this CRM has no such stage)."""
        if not self.answered:
            return standard
        for key in self.keys:
            if self.standard.get(key) == standard:
                return key
        return None

    def knows(self, value: str) -> bool:
        return not self.answered or value in self.keys

    def resolve(self, values: Iterable[str]) -> tuple[str, ...]:
        """Saved values as the CRM's keys: a key stays, a standard name becomes the key
        standing for it; anything else (`unknown` names those) stays as it is, so it
        still matches nothing rather than widening a list to every stage."""
        found: list[str] = []
        for value in values:
            key = value if self.knows(value) else self.key_for(value)
            key = value if key is None else key
            if key not in found:
                found.append(key)
        return tuple(found)

    def unknown(self, values: Iterable[str]) -> list[str]:
        """Saved values this CRM knows neither as a key nor as a standard name."""
        return [v for v in values if not self.knows(v) and self.key_for(v) is None]

    def label(self, key: str | None) -> str:
        if not key:
            return ""
        return self.labels.get(key) or key

    def choices(self) -> list[tuple[str, str]]:
        """(key, label) in the CRM's order, for a staff form."""
        return [(key, self.label(key)) for key in self.keys]


def _name(model: str, language: str) -> str:
    return f"options:{model}:{language}"


def _language(language: str | None) -> str:
    base = (language or BASE_LANGUAGE).split(",")[0].split(";")[0].strip().lower()
    return base[:2] if base[:2].isalpha() else BASE_LANGUAGE


async def _options(model: str, language: str, deadline: float | None = None) -> dict | None:
    """{field: [[key, label], ...]} for the model's fields with options, as learned;
    None when the CRM will not say."""
    name = _name(model, language)
    known = await recall(name)
    if known is None:
        try:
            reply = await call_json(
                "GET",
                api_path("meta", "fields", model),
                credential=staff_credential(),
                accept_language=language,
                deadline=deadline,
            )
        except NOT_HERE:
            known = {"answered": False}
        else:
            meta = ModelFields.from_json(reply)
            options = {
                name: [[choice.value, choice.label] for choice in field_choices(meta, name)]
                for name in meta.fields
            }
            known = {"answered": True, "options": {k: v for k, v in options.items() if v}}
        await remember(name, known)
    return known.get("options") if known.get("answered") else None


def _build(
    model: str, name: str, base: dict | None, shown: dict | None, language: str
) -> Vocabulary:
    pairs = (base or {}).get(name)
    if not pairs:
        return Vocabulary(model, name, answered=False, language=language)
    standard_names = set(STANDARD.get((model, name), ()))
    keys = tuple(str(key) for key, _label in pairs)
    standard: dict[str, str] = {}
    for key, english in pairs:
        if key in standard_names:
            standard[key] = key
        elif english in standard_names and english not in standard.values():
            standard[key] = english
    labels = {str(key): str(label) for key, label in (shown or {}).get(name) or pairs}
    return Vocabulary(model, name, True, keys, standard, labels, language)


async def learn(
    model: str, name: str, language: str | None = None, *, deadline: float | None = None
) -> Vocabulary:
    """The field's vocabulary, labels in `language` (asks the CRM when not known;
    `deadline` shortens the calls, as for the staff form).

    A CRM that cannot be reached now gives the fallback without remembering it.
    """
    check_name(model, "model name")
    check_name(name, "field name")
    language = _language(language)
    try:
        base = await _options(model, BASE_LANGUAGE, deadline)
        shown = base if language == BASE_LANGUAGE else await _options(model, language, deadline)
    except errors.CrmError as exc:
        logger.warning("the CRM's options for %s.%s unavailable: %s", model, name, exc)
        return Vocabulary(model, name, answered=False, language=language)
    found = _build(model, name, base, shown, language)
    if not found.answered and (model, name) in STANDARD:
        await note_fallback(
            f"vocabulary: {model}.{name}",
            "/meta/fields does not list its options: the portal takes its values to be "
            "1CRM's standard keys and shows them as they are",
        )
    return found


async def english_options(model: str, name: str) -> tuple[FieldChoice, ...]:
    """The field's options as the CRM lists them, key and English label, in its order;
    () when the CRM will not say (400/403/404, or no options for the field). Learned and
    kept like `learn()`'s (the same entry). A CRM that cannot be reached now raises
    (`CrmError`), nothing remembered: the caller decides what that means."""
    check_name(model, "model name")
    check_name(name, "field name")
    base = await _options(model, BASE_LANGUAGE)
    return tuple(FieldChoice(str(key), str(label)) for key, label in (base or {}).get(name, ()))


def known(model: str, name: str, language: str | None = None) -> Vocabulary:
    """What this process learned of the field (no call; the fallback if nothing yet)."""
    language = _language(language)
    base = recall_here(_name(model, BASE_LANGUAGE))
    shown = base if language == BASE_LANGUAGE else recall_here(_name(model, language))
    if base is None:
        return Vocabulary(model, name, answered=False, language=language)
    base_options = base.get("options") if base.get("answered") else None
    shown_options = shown.get("options") if shown and shown.get("answered") else None
    return _build(model, name, base_options, shown_options, language)
