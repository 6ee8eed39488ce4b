"""The one declaration of what the portal may reach on a contact's behalf.

Models, their fields, their links, the endpoints (tally, files, PDF) per model, and the
few writes a contact may make: the fields (with the values) they may set, and the
records they may leave a note on. Anything not declared here is refused with
`NotAllowed` before any network call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from crm_gateway.errors import NotAllowed

# Endpoint kinds beyond /data.
TALLY = "tally"
FILES = "files"  # /files/info and /files/download
PDF = "pdf"  # /printer/pdf
PERSONAL_PDF = "personal_pdf"  # /printer/pdf/personal (the contact's own record)
ENDPOINTS = frozenset({TALLY, FILES, PDF, PERSONAL_PDF})


@dataclass(frozen=True)
class ModelRule:
    fields: frozenset[str]
    links: Mapping[str, str] = field(default_factory=dict)  # link name -> target model
    endpoints: frozenset[str] = frozenset()
    listable: bool = True  # False: only the contact's own record (Account, Contact)
    filters: frozenset[str] = frozenset()  # filter names beyond the fields themselves
    # Writes: field -> the values a contact may set it to.
    writable: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # The CRM's parent_type for a note on a record of this model; None: no notes.
    note_parent_type: str | None = None


def _rule(
    fields: str,
    links: Mapping[str, str] | None = None,
    endpoints: Iterable[str] = (),
    *,
    listable: bool = True,
    filters: str = "",
    writable: Mapping[str, Iterable[str]] | None = None,
    note_parent_type: str | None = None,
) -> ModelRule:
    return ModelRule(
        fields=frozenset(["id", *fields.split()]),
        links=MappingProxyType(dict(links or {})),
        endpoints=frozenset(endpoints),
        listable=listable,
        filters=frozenset(filters.split()),
        writable=MappingProxyType(
            {name: frozenset(values) for name, values in (writable or {}).items()}
        ),
        note_parent_type=note_parent_type,
    )


_COMMON = "name date_entered date_modified"
# The stages a contact's decision sets on a quote: accepted, declined.
QUOTE_DECISION_STAGES = ("Closed Accepted", "Closed Lost")


@dataclass(frozen=True)
class Allowlist:
    models: Mapping[str, ModelRule]

    def rule(self, model: str) -> ModelRule:
        rule = self.models.get(model)
        if rule is None:
            raise NotAllowed(f"the portal does not show {model[:40]!r} records")
        return rule

    def check_fields(self, model: str, names: Iterable[str]) -> None:
        rule = self.rule(model)
        refused = sorted(set(names) - rule.fields)
        if refused:
            raise NotAllowed(f"fields not shown for {model}: {', '.join(refused)[:200]}")

    def check_filter(self, model: str, name: str) -> None:
        rule = self.rule(model)
        if name not in rule.fields and name not in rule.filters:
            raise NotAllowed(f"filter not allowed for {model}: {name[:40]}")

    def link_target(self, model: str, link: str) -> str:
        target = self.rule(model).links.get(link)
        if target is None or target not in self.models:
            raise NotAllowed(f"the portal does not follow {model}.{link[:40]}")
        return target

    def check_endpoint(self, model: str, endpoint: str) -> None:
        if endpoint not in self.rule(model).endpoints:
            raise NotAllowed(f"the portal does not offer {endpoint} for {model}")

    def check_write(self, model: str, values: Mapping[str, str]) -> None:
        """Only declared fields, and only to declared values."""
        writable = self.rule(model).writable
        for name, value in values.items():
            allowed = writable.get(name)
            if allowed is None or value not in allowed:
                raise NotAllowed(f"the portal does not set {model}.{name[:40]} to that value")

    def note_parent_type(self, model: str) -> str:
        parent_type = self.rule(model).note_parent_type
        if parent_type is None:
            raise NotAllowed(f"the portal does not add notes to {model} records")
        return parent_type


# --- The contact's own profile and personal data (issue 16) -----------------------------
# Beyond the sign-in's fields: what the profile page shows of the contact's own record.
PROFILE_READ_FIELDS = "department phone_mobile phone_home birthdate email_opt_out"
# What a contact may type into their own record (the staff settings narrow it further),
# each bounded to this many characters; phone numbers only in these characters.
PROFILE_EDITABLE_FIELDS: Mapping[str, int] = MappingProxyType(
    {
        "first_name": 100,
        "last_name": 100,
        "title": 100,
        "department": 100,
        "phone_work": 50,
        "phone_mobile": 50,
        "phone_home": 50,
    }
)
PHONE_FIELDS = frozenset({"phone_work", "phone_mobile", "phone_home"})
PHONE_CHARACTERS = frozenset("0123456789+-()./ ")
# E-mail preferences a contact may switch on their own record (booleans), where the
# CRM's /meta/fields/Contact lists them.
PROFILE_PREFERENCE_FIELDS = frozenset({"email_opt_out"})
EMAIL_MAX = 254
# The personal fields direct erasure may ever empty (staff list a subset of them; the
# CRM's /meta/fields marks which it holds as personal).
ERASABLE_CONTACT_FIELDS = frozenset(
    {
        "salutation",
        "first_name",
        "last_name",
        "title",
        "department",
        "email1",
        "email2",
        "phone_work",
        "phone_mobile",
        "phone_home",
        "birthdate",
        "description",
    }
)


# The billing and shipping addresses printed on an invoice or quote.
_ADDRESSES = " ".join(
    f"{kind}_address_{part}"
    for kind in ("billing", "shipping")
    for part in ("street", "city", "state", "postalcode", "country")
)

# --- Support cases and the knowledge base (issue 14) ---------------------------------------
# Reads: a contact's cases (and their portal notes, through the case), and the knowledge
# base's published categories and articles. Writes: only these fields, only these values.

CASE_FIELDS = (
    f"{_COMMON} case_number status priority category description date_closed"
    " account_id cust_contact_id"
)
# What a contact's form may set on a new case (the staff settings narrow it further);
# account_id and cust_contact_id are always the session's, never the form's.
CASE_CREATE_FIELDS = frozenset({"name", "description", "category", "priority"})
# The CRM's parent_type for a note on a case (NOTES.md: "parent_type": "Cases").
CASE_NOTE_PARENT_TYPE = "Cases"
# The statuses a contact's close and reopen set (1CRM's case_status_dom).
CASE_CLOSE_STATUS = "Closed - Complete"
CASE_REOPEN_STATUS = "Active - New"
CASE_STATUS_WRITES = frozenset({CASE_CLOSE_STATUS, CASE_REOPEN_STATUS})

CASE_AND_KNOWLEDGE_RULES: dict[str, ModelRule] = {
    "aCase": _rule(
        CASE_FIELDS,
        {"notes": "Note"},
        writable={"status": CASE_STATUS_WRITES},
        note_parent_type=CASE_NOTE_PARENT_TYPE,
    ),
    "KBCategory": _rule(
        f"{_COMMON} description parent_id display_order portal_active",
        {"subcategories": "KBCategory", "articles": "KBArticle"},
    ),
    "KBArticle": _rule(
        f"{_COMMON} summary description slug category_id portal_active",
        {"notes": "Note"},
    ),
}


DEFAULT_ALLOWLIST = Allowlist(
    MappingProxyType(
        {
            "Invoice": _rule(
                f"{_COMMON} prefix invoice_number full_number invoice_date due_date amount"
                " amount_due currency_id exchange_rate shipping_stage cancelled terms"
                " purchase_order_num billing_account_id billing_contact_id from_quote_id"
                f" description {_ADDRESSES}",
                {"payments": "Payment", "notes": "Note"},
                (TALLY, PDF),
            ),
            "Quote": _rule(
                f"{_COMMON} prefix quote_number full_number quote_stage amount valid_until"
                " currency_id exchange_rate terms shipping_provider billing_account_id"
                f" billing_contact_id description {_ADDRESSES}",
                {"invoices": "Invoice"},
                (TALLY, PDF),
                # A contact accepts or declines a quote, and the decision is noted on it.
                writable={"quote_stage": QUOTE_DECISION_STAGES},
                note_parent_type="Quotes",
            ),
            "Document": _rule(
                f"{_COMMON} document_name document_revision_id filename file_mime_type"
                " category_id status_id description account_id contact_id",
                endpoints=(FILES,),
            ),
            "Note": _rule(
                f"{_COMMON} description filename file_mime_type parent_type parent_id"
                " portal_flag contact_id account_id",
                endpoints=(FILES,),
            ),
            "Payment": _rule(
                f"{_COMMON} full_number payment_type amount applied_amount payment_date"
                " currency_id account_id",
                {"invoices": "Invoice"},
            ),
            "Account": _rule(
                f"{_COMMON} account_type email1 phone_office website billing_address_street"
                " billing_address_city billing_address_state billing_address_postalcode"
                " billing_address_country currency_id",
                listable=False,
            ),
            "Contact": _rule(
                f"{_COMMON} salutation first_name last_name title email1 email2 phone_work"
                " primary_account_id portal_active portal_name description"
                f" {PROFILE_READ_FIELDS}",
                endpoints=(PERSONAL_PDF,),
                note_parent_type="Contacts",  # an erasure request, where cases are off
                listable=False,
            ),
            **CASE_AND_KNOWLEDGE_RULES,
        }
    )
)
