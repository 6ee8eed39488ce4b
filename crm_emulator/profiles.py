"""Profiles: readings of the reference where it is silent, so the emulator can disagree.

The `default` profile is the emulator as the portal was written against it. `strict`
reads every silence of the reference the plainest way a real installation might (see
docs/emulator.md, "Profiles"): list filters take values literally, a contact's token
reaches less, `/me` says less, bytes need the staff credential, numbers come as strings,
empty fields are left out, documents are filtered by their account through the
relationship, the stage and status vocabularies are the installation's own,
tokens live one minute, the CRM's base locale is German and a case list ignores
`view_closed` (closed cases come with the open ones). Each behaviour is one switch
(`/__emulator__/switches`), so a test can turn on exactly one of them.

The stored data is the same in every profile: the vocabulary and the wire shapes are
translated at the edge (`present` on the way out, `stored_value` on the way in).
"""

from __future__ import annotations

from typing import Any

# Switch name -> the values it may take (a type, or a tuple of allowed strings).
PROFILE_SWITCHES: dict[str, type | tuple[str, ...]] = {
    "literal_filters": bool,
    "contact_account_refused": bool,
    "contact_links_refused": bool,
    "document_filters_by_link": bool,
    "me_fields": ("all", "no_portal_active", "documented"),
    "bytes_staff_only": bool,
    "numbers_as_strings": bool,
    "sparse_records": bool,
    "vocabulary": ("demo", "installation"),
    "base_language": ("en", "de"),
    "view_closed_ignored": bool,
}

DEFAULT = {
    "literal_filters": False,
    "contact_account_refused": False,
    "contact_links_refused": False,
    "document_filters_by_link": False,
    "me_fields": "all",
    "bytes_staff_only": False,
    "numbers_as_strings": False,
    "sparse_records": False,
    "vocabulary": "demo",
    "base_language": "en",
    "view_closed_ignored": False,
    "access_token_ttl": 3600,
}

PROFILES: dict[str, dict[str, Any]] = {
    "default": DEFAULT,
    "strict": {
        "literal_filters": True,
        "contact_account_refused": True,
        "contact_links_refused": True,
        "document_filters_by_link": True,
        "me_fields": "no_portal_active",
        "bytes_staff_only": True,
        "numbers_as_strings": True,
        "sparse_records": True,
        "vocabulary": "installation",
        "base_language": "de",
        "view_closed_ignored": True,
        "access_token_ttl": 60,
    },
}

# The `installation` vocabulary: dropdown keys an administrator of a German installation
# chose, with English labels that read like the demo's keys. Stored demo value -> key.
INSTALLATION_VOCABULARY: dict[tuple[str, str], dict[str, str]] = {
    ("Quote", "quote_stage"): {
        "Draft": "Entwurf",
        "Negotiation": "In Verhandlung",
        "Delivered": "Zugestellt",
        "On Hold": "Zurückgestellt",
        "Confirmed": "Bestätigt",
        "Closed Accepted": "Angenommen",
        "Closed Lost": "Verloren",
        "Closed Dead": "Abgebrochen",
    },
    ("Invoice", "shipping_stage"): {
        "Pending": "Offen",
        "In Preparation": "In Vorbereitung",
        "Partially Shipped": "Teilweise versandt",
        "Shipped": "Versandt",
        "Delivered": "Zugestellt",
    },
    ("aCase", "status"): {
        "Active - New": "Neu",
        "Active - Assigned": "Zugewiesen",
        "Pending": "Wartet auf Rückmeldung",
        "Closed - Complete": "Erledigt",
        "Closed - No Fault": "Kein Fehler",
        "Closed - Rejected": "Abgelehnt",
        "Closed - Duplicate": "Duplikat",
    },
}
_STORED_OF = {
    key: {wire: stored for stored, wire in mapping.items()}
    for key, mapping in INSTALLATION_VOCABULARY.items()
}
# A value this installation does not know: it matches no stored record.
UNKNOWN = "\x00unknown\x00"


def profile(name: str) -> dict[str, Any]:
    """The switches of a named profile (ValueError for an unknown name)."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; one of {', '.join(sorted(PROFILES))}")
    return {**DEFAULT, **PROFILES[name]}


def check_switch(name: str, value: Any) -> None:
    allowed = PROFILE_SWITCHES[name]
    if allowed is bool:
        if not isinstance(value, bool):
            raise ValueError(f"switch {name!r} must be true or false")
    elif isinstance(allowed, tuple) and value not in allowed:
        raise ValueError(f"switch {name!r} must be one of {', '.join(allowed)}")


def _switch(name: str) -> Any:
    from crm_emulator import control

    return control.switch(name)


def vocabulary_of(model: str, field: str) -> dict[str, str] | None:
    """Stored value -> this installation's key, when the field has its own vocabulary."""
    if _switch("vocabulary") != "installation":
        return None
    return INSTALLATION_VOCABULARY.get((model, field))


def option_keys(model: str, field: str, options: tuple[str, ...]) -> tuple[str, ...]:
    mapping = vocabulary_of(model, field)
    if mapping is None:
        return options
    return tuple(mapping.get(option, option) for option in options)


def option_label(model: str, field: str, key: str, language: str) -> str:
    """An installation key's label: the demo's name in English, the key in German."""
    from crm_emulator import schema

    if _switch("vocabulary") != "installation" or (model, field) not in _STORED_OF:
        return schema.option_label(model, field, key, language)  # case options: own labels
    stored = _STORED_OF[(model, field)].get(key, key)
    return key if language == "de" else stored


def stored_value(model: str, field: str, value: str) -> str:
    """A value from a filter or a write, in the stored vocabulary (UNKNOWN if foreign)."""
    if vocabulary_of(model, field) is None:
        return value
    lowered = {wire.lower(): stored for wire, stored in _STORED_OF[(model, field)].items()}
    return lowered.get(value.strip().lower(), UNKNOWN)


def _number_text(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return str(value)


def wire_numbers(value: Any) -> Any:
    """Numbers as strings, all the way down (PHP's json_encode of database strings)."""
    if not _switch("numbers_as_strings"):
        return value
    return _strings(value)


def _strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strings(item) for item in value]
    return _number_text(value)


def present(model: str, record: dict[str, Any]) -> dict[str, Any]:
    """A rendered record as this profile sends it (vocabulary, numbers, empty fields)."""
    vocabulary = _switch("vocabulary") == "installation"
    numbers = _switch("numbers_as_strings")
    sparse = _switch("sparse_records")
    if not (vocabulary or numbers or sparse):
        return record
    out: dict[str, Any] = {}
    for key, value in record.items():
        if sparse and key != "id" and value in (None, ""):
            continue
        if vocabulary and isinstance(value, str):
            mapping = INSTALLATION_VOCABULARY.get((model, key))
            if mapping is not None:
                value = mapping.get(value, value)
        out[key] = _number_text(value) if numbers else value
    return out


def base_language() -> str:
    return str(_switch("base_language"))
