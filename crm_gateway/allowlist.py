"""The one declaration of what the portal may reach on a contact's behalf.

Models, their fields, their links and the endpoints (tally, files, PDF) per model.
Anything not declared here is refused with `NotAllowed` before any network call.
Staff settings may narrow it (`DEFAULT_ALLOWLIST.narrowed(...)`), never widen it:
`narrowed` intersects, so a name that is not already allowed is simply not there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from crm_gateway.errors import NotAllowed

# Endpoint kinds beyond /data.
TALLY = "tally"
FILES = "files"  # /files/info and /files/download
PDF = "pdf"  # /printer/pdf
ENDPOINTS = frozenset({TALLY, FILES, PDF})


@dataclass(frozen=True)
class ModelRule:
    fields: frozenset[str]
    links: Mapping[str, str] = field(default_factory=dict)  # link name -> target model
    endpoints: frozenset[str] = frozenset()
    listable: bool = True  # False: only the contact's own record (Account, Contact)
    filters: frozenset[str] = frozenset()  # filter names beyond the fields themselves


def _rule(
    fields: str,
    links: Mapping[str, str] | None = None,
    endpoints: Iterable[str] = (),
    *,
    listable: bool = True,
    filters: str = "",
) -> ModelRule:
    return ModelRule(
        fields=frozenset(["id", *fields.split()]),
        links=MappingProxyType(dict(links or {})),
        endpoints=frozenset(endpoints),
        listable=listable,
        filters=frozenset(filters.split()),
    )


_COMMON = "name date_entered date_modified"


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

    def narrowed(
        self,
        *,
        models: Iterable[str] | None = None,
        fields: Mapping[str, Iterable[str]] | None = None,
        links: Mapping[str, Iterable[str]] | None = None,
        endpoints: Mapping[str, Iterable[str]] | None = None,
    ) -> Allowlist:
        """A subset: keep only these models / fields / links / endpoints (per model).

        Everything is intersected with what is already allowed, so nothing can be added;
        `id` always stays (a record cannot be addressed without it).
        """
        keep = set(self.models) if models is None else set(self.models) & set(models)
        result: dict[str, ModelRule] = {}
        for name in keep:
            rule = self.models[name]
            if fields is not None and name in fields:
                rule = replace(rule, fields=rule.fields & ({"id"} | set(fields[name])))
            if links is not None and name in links:
                wanted = set(links[name])
                rule = replace(
                    rule,
                    links=MappingProxyType(
                        {key: value for key, value in rule.links.items() if key in wanted}
                    ),
                )
            if endpoints is not None and name in endpoints:
                rule = replace(rule, endpoints=rule.endpoints & set(endpoints[name]))
            result[name] = rule
        return Allowlist(MappingProxyType(result))


# The billing and shipping addresses printed on an invoice or quote.
_ADDRESSES = " ".join(
    f"{kind}_address_{part}"
    for kind in ("billing", "shipping")
    for part in ("street", "city", "state", "postalcode", "country")
)

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
            ),
            "Document": _rule(
                f"{_COMMON} document_name document_revision_id filename file_mime_type"
                " category_id status_id description account_id contact_id",
                {"revisions": "DocumentRevision"},
                (FILES,),
            ),
            "DocumentRevision": _rule(
                f"{_COMMON} document_id revision filename file_mime_type",
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
                f"{_COMMON} account_type email1 phone_office website billing_address_city"
                " billing_address_country currency_id",
                listable=False,
            ),
            "Contact": _rule(
                f"{_COMMON} salutation first_name last_name title email1 email2 phone_work"
                " primary_account_id portal_active portal_name",
                listable=False,
            ),
        }
    )
)
