"""Whose data a contact may see, decided by the portal whatever the credential.

`ContactScope` is what every contact-facing gateway call takes (never raw ids).
Each model has a `ScopeRule`: the filters added to every list call, and the check every
returned record must pass before the portal renders it or fetches its bytes. Records
that passed are wrapped in `CheckedRecord`, which only the gateway can construct.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crm_gateway.errors import BadReply, NotFound
from crm_gateway.models import Record
from crm_gateway.query import Filter

if TYPE_CHECKING:
    from crm_gateway.credentials import ContactCredential

RECORD_ID = re.compile(r"^[0-9a-f-]{1,64}$")


def check_record_id(value: object) -> str:
    """Ids are UUID-like; anything else is NotFound before any network call."""
    if not isinstance(value, str) or not RECORD_ID.fullmatch(value):
        raise NotFound("no such record")
    return value


@dataclass(frozen=True)
class ContactScope:
    """The signed-in contact on whose behalf the gateway calls the CRM."""

    contact_id: str
    account_id: str | None
    credential: ContactCredential | None = field(default=None, repr=False, compare=False)
    accept_language: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.contact_id, str) or not RECORD_ID.fullmatch(self.contact_id):
            raise ValueError("contact_id is not a record id")
        if self.account_id is not None and not RECORD_ID.fullmatch(self.account_id):
            raise ValueError("account_id is not a record id")

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.contact_id, self.account_id)


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in {"1", "true", "yes", "on"}


def _same(value: Any, expected: str | None) -> bool:
    return expected is not None and isinstance(value, str) and value == expected


@dataclass(frozen=True)
class ScopeRule:
    """fields: what the check reads (always requested); filters: added to list calls
    (None: nothing of this model is visible to the contact, so no call is made)."""

    fields: tuple[str, ...]
    filters: Callable[[ContactScope], list[Filter] | None]
    allows: Callable[[ContactScope, Mapping[str, Any]], bool]


def _billed(scope: ContactScope) -> list[Filter]:
    if scope.account_id:
        return [Filter("billing_account_id", scope.account_id)]
    return [Filter("billing_contact_id", scope.contact_id)]


def _billed_ok(scope: ContactScope, data: Mapping[str, Any]) -> bool:
    if scope.account_id:
        return _same(data.get("billing_account_id"), scope.account_id)
    return _same(data.get("billing_contact_id"), scope.contact_id)


def _linked(scope: ContactScope) -> list[Filter]:
    if scope.account_id:
        return [Filter("account_id", scope.account_id)]
    return [Filter("contact_id", scope.contact_id)]


def _linked_ok(scope: ContactScope, data: Mapping[str, Any]) -> bool:
    return _same(data.get("account_id"), scope.account_id) or _same(
        data.get("contact_id"), scope.contact_id
    )


def _note_filters(scope: ContactScope) -> list[Filter]:
    return [*_linked(scope), Filter("portal_flag", "1")]


def _note_ok(scope: ContactScope, data: Mapping[str, Any]) -> bool:
    # Only notes the CRM's users marked for customers, linked to the contact or account.
    return _truthy(data.get("portal_flag")) and _linked_ok(scope, data)


def _account_ok(scope: ContactScope, data: Mapping[str, Any]) -> bool:
    return _same(data.get("id"), scope.account_id)


def _contact_ok(scope: ContactScope, data: Mapping[str, Any]) -> bool:
    return _same(data.get("id"), scope.contact_id)


def _no_list(scope: ContactScope) -> list[Filter]:
    raise AssertionError("own-record models are never listed")  # guarded by the allow-list


# --- Support cases and the knowledge base (issue 14) ---------------------------------------


def _cases(scope: ContactScope) -> list[Filter]:
    if scope.account_id:
        return [Filter("account_id", scope.account_id)]
    return [Filter("cust_contact_id", scope.contact_id)]


def _case_ok(scope: ContactScope, data: Mapping[str, Any]) -> bool:
    if scope.account_id:
        return _same(data.get("account_id"), scope.account_id)
    return _same(data.get("cust_contact_id"), scope.contact_id)


def _published(scope: ContactScope | None = None) -> list[Filter]:
    return [Filter("portal_active", "1")]


def is_published(data: Mapping[str, Any]) -> bool:
    """A knowledge-base record staff published for the portal (checked on every record
    the CRM returns, not only filtered for)."""
    return _truthy(data.get("portal_active"))


CASE_NOTE_PARENT_TYPES = frozenset({"Cases", "aCase"})


def is_note_of_case(case_id: str, data: Mapping[str, Any]) -> bool:
    """A note a contact may read on their (checked) case: marked for the portal and
    hanging off this very case. Staff replies carry no account or contact id, so a
    case's notes are checked through the case rather than by the note rule."""
    return (
        _truthy(data.get("portal_flag"))
        and _same(data.get("parent_id"), case_id)
        and data.get("parent_type") in CASE_NOTE_PARENT_TYPES
    )


CASE_AND_KNOWLEDGE_SCOPE_RULES: dict[str, ScopeRule] = {
    "aCase": ScopeRule(("account_id", "cust_contact_id"), _cases, _case_ok),
    "KBCategory": ScopeRule(("portal_active",), _published, lambda s, d: is_published(d)),
    "KBArticle": ScopeRule(("portal_active",), _published, lambda s, d: is_published(d)),
}


SCOPE_RULES: dict[str, ScopeRule] = {
    "Invoice": ScopeRule(("billing_account_id", "billing_contact_id"), _billed, _billed_ok),
    "Quote": ScopeRule(("billing_account_id", "billing_contact_id"), _billed, _billed_ok),
    # Documents belong to accounts and contacts through join links: they are listed
    # through the contact's own account (or contact) and, when their fields do not name
    # the account or contact, checked by the link lists (see the gateway).
    "Document": ScopeRule(("account_id", "contact_id"), lambda scope: [], _linked_ok),
    "Note": ScopeRule(("account_id", "contact_id", "portal_flag"), _note_filters, _note_ok),
    "Payment": ScopeRule(
        ("account_id",),
        lambda scope: [Filter("account_id", scope.account_id)] if scope.account_id else None,
        lambda scope, data: _same(data.get("account_id"), scope.account_id),
    ),
    "Account": ScopeRule((), _no_list, _account_ok),
    "Contact": ScopeRule((), _no_list, _contact_ok),
    **CASE_AND_KNOWLEDGE_SCOPE_RULES,
}


_SEAL = object()


class CheckedRecord[T: Record]:
    """A record that passed the scope check for one contact. Only the gateway makes these.

    The bytes of a file or a PDF can only be fetched with the staff credential from one
    of these, and only for the same contact it was checked for.

    The typed view (`record`) is built on first access from the checked reply, limited to
    the allow-listed fields: a list page pays for the records it actually shows.
    """

    __slots__ = ("_allowed", "_cls", "_data", "_record", "_scope_key", "id", "model")

    def __init__(
        self,
        cls: type[T],
        data: dict[str, Any],
        allowed: frozenset[str] | None,
        scope: ContactScope,
        seal: object,
    ) -> None:
        if seal is not _SEAL:
            raise TypeError("CheckedRecord is made by the gateway, after the scope check")
        record_id = data.get("id")
        if not isinstance(record_id, str) or not record_id:
            raise BadReply(f"a {cls.MODEL} without an id", status=200)
        self.id: str = record_id
        self.model: str = cls.MODEL
        self._cls = cls
        self._data: dict[str, Any] | None = data
        self._allowed = allowed
        self._record: T | None = None
        self._scope_key = scope.key

    @property
    def record(self) -> T:
        if self._record is None:
            assert self._data is not None
            self._record = self._cls.from_json(self._data, self._allowed)
            self._data = None  # only the allow-listed view remains
        return self._record

    def belongs_to(self, scope: ContactScope) -> bool:
        return self._scope_key == scope.key

    def __repr__(self) -> str:
        return f"<CheckedRecord {self.model} {self.id}>"


def seal[T: Record](
    cls: type[T], data: dict[str, Any], scope: ContactScope, allowed: frozenset[str] | None = None
) -> CheckedRecord[T]:
    """For crm_gateway.gateway only: wrap a reply that has just passed the scope check."""
    return CheckedRecord(cls, data, allowed, scope, _SEAL)
