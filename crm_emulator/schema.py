"""What the emulated CRM knows about each model: fields, filters, links, portal visibility.

Field and filter names follow the vendor's public clients (see NOTES.md). `/meta/fields`
is generated from this, and the list endpoint accepts exactly the filters declared here.
Fields found in seeded records but not declared are added at run time as `varchar`, so
the demo data can grow without breaking the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# label per language; a missing German label falls back to English.
DE = {
    "Name": "Name",
    "ID": "ID",
    "Date Created": "Erstellt am",
    "Date Modified": "Geändert am",
    "Assigned User": "Zugewiesener Benutzer",
    "Description": "Beschreibung",
    "Account": "Firma",
    "Type": "Typ",
    "Email": "E-Mail",
    "Other Email": "Weitere E-Mail",
    "Any Email": "Beliebige E-Mail",
    "Phone": "Telefon",
    "Website": "Webseite",
    "Industry": "Branche",
    "City": "Ort",
    "Country": "Land",
    "First Name": "Vorname",
    "Last Name": "Nachname",
    "Salutation": "Anrede",
    "Title": "Titel",
    "Primary Account": "Hauptfirma",
    "Portal Active": "Portal aktiv",
    "Portal Name": "Portal-Name",
    "Prefix": "Präfix",
    "Invoice Number": "Rechnungsnummer",
    "Number": "Nummer",
    "Subject": "Betreff",
    "Invoice Date": "Rechnungsdatum",
    "Due Date": "Fälligkeitsdatum",
    "Amount": "Betrag",
    "Amount Due": "Offener Betrag",
    "Currency": "Währung",
    "Exchange Rate": "Wechselkurs",
    "Shipping Stage": "Versandstatus",
    "Cancelled": "Storniert",
    "Terms": "Zahlungsbedingungen",
    "Purchase Order Number": "Bestellnummer",
    "Billing Account": "Rechnungsempfänger",
    "Billing Contact": "Rechnungskontakt",
    "From Quote": "Aus Angebot",
    "Quote Number": "Angebotsnummer",
    "Quote Stage": "Angebotsstatus",
    "Valid Until": "Gültig bis",
    "Shipping Provider": "Versanddienst",
    "Case Number": "Ticketnummer",
    "Status": "Status",
    "Priority": "Priorität",
    "Category": "Kategorie",
    "Date Closed": "Geschlossen am",
    "Contact": "Kontakt",
    "File": "Datei",
    "MIME Type": "MIME-Typ",
    "Parent Type": "Übergeordneter Typ",
    "Parent": "Übergeordnet",
    "Show in Portal": "Im Portal anzeigen",
    "Document Name": "Dokumentname",
    "Revision": "Revision",
    "Document": "Dokument",
    "Payment Type": "Zahlungsart",
    "Payment Date": "Zahlungsdatum",
    "User Name": "Benutzername",
    "Role": "Rolle",
    "Is Admin": "Administrator",
    "Quantity": "Menge",
    "Unit Price": "Stückpreis",
    "Extended Price": "Gesamtpreis",
    "Group": "Gruppe",
    "Rate": "Satz",
    "Position": "Position",
    "Invoice": "Rechnung",
    "Quote": "Angebot",
    "Part Number": "Artikelnummer",
    "Serial Number": "Seriennummer",
    "Is Comment": "Kommentar",
    "Sum of Components": "Summe der Komponenten",
    "Symbol": "Symbol",
}


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str  # id, name, varchar, text, enum, bool, int, float, currency, date, datetime, ref,
    # email, file_ref
    label: str
    ref_model: str = ""
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class FilterDef:
    """A list filter. `kind` decides how it matches:

    contains  case-insensitive substring of any of `fields`
    exact     case-insensitive equality with `fields[0]`; `^,^` joins alternatives
    bool      true/false/yes/no/1/0 against `fields[0]`
    number    equality of numbers
    date      the date operators (`-operator`, `-end`, `-period`)
    ref_name  the referenced record's name contains the value (`fields[0]` is the id field)
    ref_id    equality with the id field `fields[0]`
    """

    name: str
    kind: str
    fields: tuple[str, ...]
    label: str
    ref_model: str = ""
    id_name: str = ""


@dataclass(frozen=True)
class LinkDef:
    """`/data/{model}/{id}/{name}`: related records through a field of theirs (`via`) or a join."""

    name: str
    model: str
    via: str = ""  # related model's field holding our id; empty means a join table


@dataclass
class ModelDef:
    name: str
    module: str
    fields: dict[str, FieldDef]
    filters: dict[str, FilterDef]
    list_fields: tuple[str, ...]
    text_search: tuple[str, ...]
    default_order: str
    links: dict[str, LinkDef] = field(default_factory=dict)
    display: str = "name"  # field (or "first_name last_name") shown as _display


COMMON = [
    ("id", "id", "ID"),
    ("date_entered", "datetime", "Date Created"),
    ("date_modified", "datetime", "Date Modified"),
    ("assigned_user_id", "ref:User", "Assigned User"),
    ("description", "text", "Description"),
]


def _fields(*specs: tuple) -> dict[str, FieldDef]:
    result: dict[str, FieldDef] = {}
    for spec in [*COMMON, *specs]:
        name, type_, label, *rest = spec
        ref_model = ""
        if type_.startswith("ref:"):
            type_, ref_model = "ref", type_[4:]
        options = tuple(rest[0]) if rest else ()
        result[name] = FieldDef(name, type_, label, ref_model, options)
    return result


def _filters(fields: dict[str, FieldDef], *specs: str | tuple) -> dict[str, FilterDef]:
    """Filters from field names (kind derived from the type) or explicit tuples."""
    result: dict[str, FilterDef] = {}
    for spec in specs:
        if isinstance(spec, tuple):
            name, kind, names, label = spec
            result[name] = FilterDef(name, kind, tuple(names), label)
            continue
        f = fields[spec]
        if f.type == "ref":
            base = spec.removesuffix("_id")
            result[base] = FilterDef(
                base, "ref_name", (spec,), f.label, ref_model=f.ref_model, id_name=spec
            )
            result[spec] = FilterDef(spec, "ref_id", (spec,), f.label, ref_model=f.ref_model)
        elif f.type in {"date", "datetime"}:
            result[spec] = FilterDef(spec, "date", (spec,), f.label)
        elif f.type == "bool":
            result[spec] = FilterDef(spec, "bool", (spec,), f.label)
        elif f.type in {"enum", "id"}:
            result[spec] = FilterDef(spec, "exact", (spec,), f.label)
        elif f.type in {"int", "float", "currency"}:
            result[spec] = FilterDef(spec, "number", (spec,), f.label)
        else:
            result[spec] = FilterDef(spec, "contains", (spec,), f.label)
    return result


ACCOUNT_TYPES = ("Customer", "Supplier", "Partner", "Reseller", "Competitor", "Prospect", "Other")
# Billing and shipping addresses, as 1CRM's tally objects carry them.
ADDRESS_FIELDS = tuple(
    (f"{kind}_address_{part}", "text" if part == "street" else "varchar", label)
    for kind in ("billing", "shipping")
    for part, label in (
        ("street", f"{kind.title()} Street"),
        ("city", f"{kind.title()} City"),
        ("state", f"{kind.title()} State"),
        ("postalcode", f"{kind.title()} Postal Code"),
        ("country", f"{kind.title()} Country"),
    )
)
SHIPPING_STAGES = ("Pending", "In Preparation", "Partially Shipped", "Shipped", "Delivered")
QUOTE_STAGES = (
    "Draft",
    "Negotiation",
    "Delivered",
    "On Hold",
    "Confirmed",
    "Closed Accepted",
    "Closed Lost",
    "Closed Dead",
)
CASE_STATUSES = (
    "Active - New",
    "Active - Assigned",
    "Pending",
    "Closed - Complete",
    "Closed - No Fault",
    "Closed - Rejected",
    "Closed - Duplicate",
)
PRIORITIES = ("P1", "P2", "P3")


def _build() -> dict[str, ModelDef]:
    models: dict[str, ModelDef] = {}

    f = _fields(
        ("name", "name", "Name"),
        ("account_type", "enum", "Type", ACCOUNT_TYPES),
        ("email1", "email", "Email"),
        ("email2", "email", "Other Email"),
        ("phone_office", "phone", "Phone"),
        ("website", "url", "Website"),
        ("industry", "varchar", "Industry"),
        ("billing_address_city", "varchar", "City"),
        ("billing_address_country", "varchar", "Country"),
        ("currency_id", "varchar", "Currency"),
    )
    models["Account"] = ModelDef(
        "Account",
        "Accounts",
        f,
        _filters(
            f,
            "name",
            "account_type",
            ("any_email", "contains", ("email1", "email2"), "Any Email"),
            "industry",
            "billing_address_city",
            "billing_address_country",
            "assigned_user_id",
            "date_entered",
            "date_modified",
        ),
        ("name", "account_type", "email1", "billing_address_city"),
        ("name",),
        "name",
        links={
            "contacts": LinkDef("contacts", "Contact", "primary_account_id"),
            "invoices": LinkDef("invoices", "Invoice", "billing_account_id"),
            "quotes": LinkDef("quotes", "Quote", "billing_account_id"),
            "cases": LinkDef("cases", "aCase", "account_id"),
            "notes": LinkDef("notes", "Note", "account_id"),
            "payments": LinkDef("payments", "Payment", "account_id"),
            "documents": LinkDef("documents", "Document"),
        },
    )

    f = _fields(
        ("name", "name", "Name"),
        ("salutation", "enum", "Salutation", ("", "Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
        ("first_name", "varchar", "First Name"),
        ("last_name", "varchar", "Last Name"),
        ("title", "varchar", "Title"),
        ("email1", "email", "Email"),
        ("email2", "email", "Other Email"),
        ("phone_work", "phone", "Phone"),
        ("primary_account_id", "ref:Account", "Primary Account"),
        ("portal_active", "bool", "Portal Active"),
        ("portal_name", "varchar", "Portal Name"),
        # --- Contact profile and personal data (issue 16)
        ("department", "varchar", "Department"),
        ("phone_mobile", "phone", "Mobile Phone"),
        ("phone_home", "phone", "Home Phone"),
        ("birthdate", "date", "Birthdate"),
        ("email_opt_out", "bool", "Email Opt Out"),
    )
    models["Contact"] = ModelDef(
        "Contact",
        "Contacts",
        f,
        _filters(
            f,
            ("name", "contains", ("first_name", "last_name", "name"), "Name"),
            "first_name",
            "last_name",
            ("any_email", "contains", ("email1", "email2"), "Any Email"),
            "primary_account_id",
            "portal_active",
            "portal_name",
            "assigned_user_id",
            "date_entered",
            "date_modified",
        ),
        ("name", "first_name", "last_name", "email1", "primary_account_id"),
        ("first_name", "last_name", "name", "email1"),
        "last_name",
        links={
            "cases": LinkDef("cases", "aCase", "cust_contact_id"),
            "notes": LinkDef("notes", "Note", "contact_id"),
            "invoices": LinkDef("invoices", "Invoice", "billing_contact_id"),
            "quotes": LinkDef("quotes", "Quote", "billing_contact_id"),
            "documents": LinkDef("documents", "Document"),
        },
        display="first_name last_name",
    )

    f = _fields(
        ("prefix", "varchar", "Prefix"),
        ("invoice_number", "int", "Invoice Number"),
        ("full_number", "varchar", "Number"),
        ("name", "name", "Subject"),
        ("invoice_date", "date", "Invoice Date"),
        ("due_date", "date", "Due Date"),
        ("amount", "currency", "Amount"),
        ("amount_due", "currency", "Amount Due"),
        ("currency_id", "varchar", "Currency"),
        ("exchange_rate", "float", "Exchange Rate"),
        ("shipping_stage", "enum", "Shipping Stage", SHIPPING_STAGES),
        ("cancelled", "bool", "Cancelled"),
        ("terms", "varchar", "Terms"),
        ("purchase_order_num", "varchar", "Purchase Order Number"),
        ("billing_account_id", "ref:Account", "Billing Account"),
        ("billing_contact_id", "ref:Contact", "Billing Contact"),
        ("from_quote_id", "ref:Quote", "From Quote"),
        *ADDRESS_FIELDS,
    )
    models["Invoice"] = ModelDef(
        "Invoice",
        "Invoices",
        f,
        _filters(
            f,
            "name",
            "full_number",
            "invoice_number",
            "invoice_date",
            "due_date",
            "shipping_stage",
            "cancelled",
            "billing_account_id",
            "billing_contact_id",
            "from_quote_id",
            "purchase_order_num",
            "amount",
            "amount_due",
            "assigned_user_id",
            "date_entered",
            "date_modified",
        ),
        (
            "name",
            "full_number",
            "invoice_date",
            "due_date",
            "amount",
            "amount_due",
            "currency_id",
            "shipping_stage",
            "billing_account_id",
        ),
        ("name", "full_number", "invoice_number", "purchase_order_num"),
        "invoice_date DESC",
        links={
            "payments": LinkDef("payments", "Payment"),
            "line_groups": LinkDef("line_groups", "InvoiceLineGroup", "invoice_id"),
            "lines": LinkDef("lines", "InvoiceLine", "invoice_id"),
            "adjustments": LinkDef("adjustments", "InvoiceAdjustment", "invoice_id"),
            "notes": LinkDef("notes", "Note", "parent_id"),
        },
    )

    f = _fields(
        ("prefix", "varchar", "Prefix"),
        ("quote_number", "int", "Quote Number"),
        ("full_number", "varchar", "Number"),
        ("name", "name", "Subject"),
        ("quote_stage", "enum", "Quote Stage", QUOTE_STAGES),
        ("amount", "currency", "Amount"),
        ("valid_until", "date", "Valid Until"),
        ("currency_id", "varchar", "Currency"),
        ("exchange_rate", "float", "Exchange Rate"),
        ("terms", "varchar", "Terms"),
        ("shipping_provider", "varchar", "Shipping Provider"),
        ("billing_account_id", "ref:Account", "Billing Account"),
        ("billing_contact_id", "ref:Contact", "Billing Contact"),
        *ADDRESS_FIELDS,
    )
    models["Quote"] = ModelDef(
        "Quote",
        "Quotes",
        f,
        _filters(
            f,
            "name",
            "full_number",
            "quote_number",
            "quote_stage",
            "valid_until",
            "billing_account_id",
            "billing_contact_id",
            "amount",
            "assigned_user_id",
            "date_entered",
            "date_modified",
        ),
        (
            "name",
            "full_number",
            "quote_stage",
            "valid_until",
            "amount",
            "currency_id",
            "billing_account_id",
        ),
        ("name", "full_number", "quote_number"),
        "date_entered DESC",
        links={
            "line_groups": LinkDef("line_groups", "QuoteLineGroup", "quote_id"),
            "lines": LinkDef("lines", "QuoteLine", "quote_id"),
            "adjustments": LinkDef("adjustments", "QuoteAdjustment", "quote_id"),
            "invoices": LinkDef("invoices", "Invoice", "from_quote_id"),
        },
    )

    f = _fields(
        ("case_number", "int", "Case Number"),
        ("name", "name", "Subject"),
        ("status", "enum", "Status", CASE_STATUSES),
        ("priority", "enum", "Priority", PRIORITIES),
        ("category", "varchar", "Category"),
        ("date_closed", "date", "Date Closed"),
        ("account_id", "ref:Account", "Account"),
        ("cust_contact_id", "ref:Contact", "Contact"),
    )
    models["aCase"] = ModelDef(
        "aCase",
        "Cases",
        f,
        _filters(
            f,
            "name",
            "case_number",
            "status",
            "priority",
            "category",
            "date_closed",
            "account_id",
            "cust_contact_id",
            "assigned_user_id",
            "date_entered",
            "date_modified",
        ),
        ("name", "case_number", "status", "priority", "date_entered", "account_id"),
        ("name", "case_number"),
        "date_entered DESC",
        links={"notes": LinkDef("notes", "Note", "parent_id")},
    )

    f = _fields(
        ("name", "name", "Subject"),
        ("filename", "file_ref", "File"),
        ("file_mime_type", "varchar", "MIME Type"),
        ("parent_type", "varchar", "Parent Type"),
        ("parent_id", "id", "Parent"),
        ("portal_flag", "bool", "Show in Portal"),
        ("contact_id", "ref:Contact", "Contact"),
        ("account_id", "ref:Account", "Account"),
    )
    models["Note"] = ModelDef(
        "Note",
        "Notes",
        f,
        _filters(
            f,
            "name",
            "parent_type",
            "parent_id",
            "portal_flag",
            "contact_id",
            "account_id",
            "assigned_user_id",
            "date_entered",
            "date_modified",
        ),
        ("name", "filename", "parent_type", "parent_id", "portal_flag", "date_entered"),
        ("name",),
        "date_entered DESC",
    )

    f = _fields(
        ("document_name", "name", "Document Name"),
        ("name", "name", "Name"),
        ("document_revision_id", "ref:DocumentRevision", "Revision"),
        ("filename", "file_ref", "File"),
        ("file_mime_type", "varchar", "MIME Type"),
        ("category_id", "varchar", "Category"),
        ("status_id", "varchar", "Status"),
        ("account_id", "ref:Account", "Account"),
        ("contact_id", "ref:Contact", "Contact"),
    )
    models["Document"] = ModelDef(
        "Document",
        "Documents",
        f,
        _filters(
            f,
            "document_name",
            "name",
            "category_id",
            "status_id",
            "account_id",
            "contact_id",
            "assigned_user_id",
            "date_entered",
            "date_modified",
        ),
        ("document_name", "name", "filename", "category_id", "status_id", "date_entered"),
        ("document_name", "name"),
        "date_entered DESC",
        links={
            "revisions": LinkDef("revisions", "DocumentRevision", "document_id"),
            "accounts": LinkDef("accounts", "Account"),
            "contacts": LinkDef("contacts", "Contact"),
        },
        display="document_name",
    )

    f = _fields(
        ("name", "name", "Name"),
        ("document_id", "ref:Document", "Document"),
        ("revision", "varchar", "Revision"),
        ("filename", "file_ref", "File"),
        ("file_mime_type", "varchar", "MIME Type"),
    )
    models["DocumentRevision"] = ModelDef(
        "DocumentRevision",
        "Documents",
        f,
        _filters(f, "document_id", "revision", "date_entered"),
        ("name", "document_id", "revision", "filename", "date_entered"),
        ("name", "filename"),
        "date_entered DESC",
        display="filename",
    )

    f = _fields(
        ("name", "name", "Name"),
        ("full_number", "varchar", "Number"),
        ("payment_type", "varchar", "Payment Type"),
        ("amount", "currency", "Amount"),
        ("applied_amount", "currency", "Amount"),
        ("payment_date", "date", "Payment Date"),
        ("currency_id", "varchar", "Currency"),
        ("account_id", "ref:Account", "Account"),
    )
    models["Payment"] = ModelDef(
        "Payment",
        "Payments",
        f,
        _filters(f, "full_number", "payment_type", "payment_date", "account_id", "date_entered"),
        ("full_number", "payment_type", "amount", "payment_date", "account_id"),
        ("full_number", "name"),
        "payment_date DESC",
        links={"invoices": LinkDef("invoices", "Invoice")},
        display="full_number",
    )

    for parent, module in (("Invoice", "Invoices"), ("Quote", "Quotes")):
        parent_field = f"{parent.lower()}_id"
        f = _fields(
            ("name", "name", "Name"),
            (parent_field, f"ref:{parent}", parent),
            ("position", "int", "Position"),
        )
        models[f"{parent}LineGroup"] = ModelDef(
            f"{parent}LineGroup",
            module,
            f,
            _filters(f, parent_field),
            ("name", parent_field, "position"),
            ("name",),
            "position",
        )
        f = _fields(
            ("name", "name", "Name"),
            (parent_field, f"ref:{parent}", parent),
            ("line_group_id", f"ref:{parent}LineGroup", "Group"),
            ("parent_id", "id", "Parent"),
            ("quantity", "float", "Quantity"),
            ("unit_price", "currency", "Unit Price"),
            ("ext_price", "currency", "Extended Price"),
            ("is_comment", "bool", "Is Comment"),
            ("sum_of_components", "bool", "Sum of Components"),
            ("mfr_part_no", "varchar", "Part Number"),
            ("serial_no", "varchar", "Serial Number"),
            ("position", "int", "Position"),
        )
        models[f"{parent}Line"] = ModelDef(
            f"{parent}Line",
            module,
            f,
            _filters(f, parent_field, "line_group_id"),
            ("name", parent_field, "line_group_id", "quantity", "unit_price", "ext_price"),
            ("name", "mfr_part_no"),
            "position",
        )
        f = _fields(
            ("name", "name", "Name"),
            (parent_field, f"ref:{parent}", parent),
            ("line_group_id", f"ref:{parent}LineGroup", "Group"),
            ("type", "varchar", "Type"),
            ("rate", "float", "Rate"),
            ("amount", "currency", "Amount"),
            ("position", "int", "Position"),
        )
        models[f"{parent}Adjustment"] = ModelDef(
            f"{parent}Adjustment",
            module,
            f,
            _filters(f, parent_field, "line_group_id"),
            ("name", parent_field, "line_group_id", "type", "rate", "amount"),
            ("name",),
            "position",
        )

    f = _fields(
        ("name", "name", "Name"),
        ("iso4217", "varchar", "Currency"),
        ("symbol", "varchar", "Symbol"),
        ("conversion_rate", "float", "Rate"),
        ("status", "enum", "Status", ("Active", "Inactive")),
    )
    models["Currency"] = ModelDef(
        "Currency",
        "Currencies",
        f,
        _filters(f, "name", "iso4217", "status"),
        ("name", "iso4217", "symbol", "conversion_rate"),
        ("name", "iso4217"),
        "name",
    )

    f = _fields(
        ("name", "name", "Name"),
        ("manufacturers_part_no", "varchar", "Part Number"),
        ("list_price", "currency", "Unit Price"),
        ("currency_id", "ref:Currency", "Currency"),
        ("product_type", "varchar", "Type"),
        ("is_available", "bool", "Status"),
    )
    models["ProductCatalog"] = ModelDef(
        "ProductCatalog",
        "ProductCatalog",
        f,
        _filters(f, "name", "manufacturers_part_no", "product_type", "is_available"),
        ("name", "manufacturers_part_no", "list_price", "currency_id"),
        ("name", "manufacturers_part_no"),
        "name",
    )

    f = _fields(
        ("user_name", "varchar", "User Name"),
        ("first_name", "varchar", "First Name"),
        ("last_name", "varchar", "Last Name"),
        ("name", "name", "Name"),
        ("email1", "email", "Email"),
        ("is_admin", "bool", "Is Admin"),
        ("role", "varchar", "Role"),
        ("status", "enum", "Status", ("Active", "Inactive")),
    )
    models["User"] = ModelDef(
        "User",
        "Users",
        f,
        _filters(
            f,
            "user_name",
            "first_name",
            "last_name",
            "is_admin",
            "status",
            ("any_email", "contains", ("email1",), "Any Email"),
        ),
        ("user_name", "name", "email1", "status"),
        ("user_name", "first_name", "last_name"),
        "user_name",
        display="first_name last_name",
    )
    return models


MODELS: dict[str, ModelDef] = _build()

# Models a contact-scoped token may read at all (others answer 403).
CONTACT_MODELS = frozenset(
    {
        "Account",
        "Contact",
        "Invoice",
        "Quote",
        "aCase",
        "Note",
        "Document",
        "DocumentRevision",
        "Payment",
        "InvoiceLineGroup",
        "InvoiceLine",
        "InvoiceAdjustment",
        "QuoteLineGroup",
        "QuoteLine",
        "QuoteAdjustment",
        "Currency",
    }
)
# Join links stored in both directions: (model, link) <-> (related model, reverse link).
JOIN_REVERSE = {
    ("Account", "documents"): ("Document", "accounts"),
    ("Contact", "documents"): ("Document", "contacts"),
    ("Invoice", "payments"): ("Payment", "invoices"),
}
JOIN_REVERSE.update({v: k for k, v in list(JOIN_REVERSE.items())})
# Other names the same link is known by (the demo data's relationship names).
LINK_ALIASES = {
    ("Invoice", "invoices_payments"): "payments",
    ("Payment", "invoices_payments"): "invoices",
}
# ... and may create or update (within the contact's scope).
CONTACT_WRITABLE = frozenset({"aCase", "Note"})

FILE_MODELS = ("Document", "Note", "DocumentRevision")
TALLY_MODELS = ("Invoice", "Quote")


def label(text: str, language: str) -> str:
    if language == "fr":
        return FR.get(text, text)
    return DE.get(text, text) if language == "de" else text


# --- Contact profile and personal data (issue 16) ---------------------------------------
# Fields 1CRM marks as personal data in /meta/fields (`"personal": true`): what
# /printer/pdf/personal prints and /data/erase_personal may erase. Our assumption: the
# reference names the endpoints, not the marker's spelling.
PERSONAL_FIELDS: dict[str, frozenset[str]] = {
    "Contact": frozenset(
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
    ),
}
DE.update(
    {
        "Department": "Abteilung",
        "Mobile Phone": "Mobiltelefon",
        "Home Phone": "Telefon privat",
        "Birthdate": "Geburtsdatum",
        "Email Opt Out": "Keine E-Mails",
    }
)
# French labels beside English and German (a missing one falls back to English).
FR = {
    "Name": "Nom",
    "ID": "ID",
    "Date Created": "Créé le",
    "Date Modified": "Modifié le",
    "Assigned User": "Utilisateur assigné",
    "Description": "Description",
    "Account": "Société",
    "Type": "Type",
    "Email": "E-mail",
    "Other Email": "Autre e-mail",
    "Any Email": "N'importe quel e-mail",
    "Phone": "Téléphone",
    "Website": "Site web",
    "Industry": "Secteur",
    "City": "Ville",
    "Country": "Pays",
    "First Name": "Prénom",
    "Last Name": "Nom de famille",
    "Salutation": "Civilité",
    "Title": "Fonction",
    "Primary Account": "Société principale",
    "Portal Active": "Portail actif",
    "Portal Name": "Nom du portail",
    "Department": "Service",
    "Mobile Phone": "Téléphone mobile",
    "Home Phone": "Téléphone personnel",
    "Birthdate": "Date de naissance",
    "Email Opt Out": "Pas d'e-mails",
    "Prefix": "Préfixe",
    "Invoice Number": "Numéro de facture",
    "Number": "Numéro",
    "Subject": "Objet",
    "Invoice Date": "Date de facture",
    "Due Date": "Date d'échéance",
    "Amount": "Montant",
    "Amount Due": "Montant dû",
    "Currency": "Devise",
    "Exchange Rate": "Taux de change",
    "Shipping Stage": "Statut d'expédition",
    "Cancelled": "Annulée",
    "Terms": "Conditions de paiement",
    "Purchase Order Number": "Numéro de commande",
    "Billing Account": "Société facturée",
    "Billing Contact": "Contact de facturation",
    "From Quote": "Depuis le devis",
    "Quote Number": "Numéro de devis",
    "Quote Stage": "Statut du devis",
    "Valid Until": "Valable jusqu'au",
    "Shipping Provider": "Transporteur",
    "Case Number": "Numéro de ticket",
    "Status": "Statut",
    "Priority": "Priorité",
    "Category": "Catégorie",
    "Date Closed": "Fermé le",
    "Contact": "Contact",
    "File": "Fichier",
    "MIME Type": "Type MIME",
    "Parent Type": "Type parent",
    "Parent": "Parent",
    "Show in Portal": "Afficher dans le portail",
    "Document Name": "Nom du document",
    "Revision": "Révision",
    "Document": "Document",
    "Payment Type": "Mode de paiement",
    "Payment Date": "Date de paiement",
    "User Name": "Nom d'utilisateur",
    "Role": "Rôle",
    "Is Admin": "Administrateur",
    "Quantity": "Quantité",
    "Unit Price": "Prix unitaire",
    "Extended Price": "Prix total",
    "Group": "Groupe",
    "Rate": "Taux",
    "Position": "Position",
    "Invoice": "Facture",
    "Quote": "Devis",
    "Part Number": "Référence",
    "Serial Number": "Numéro de série",
    "Is Comment": "Commentaire",
    "Sum of Components": "Somme des composants",
    "Symbol": "Symbole",
}


def add_field(model: str, name: str) -> None:
    """Declare a field seen in stored data but not in the schema (as varchar)."""
    definition = MODELS[model]
    if name not in definition.fields and not name.startswith("_"):
        # A new dict, not an update in place: other threads may be iterating the old one.
        field_def = FieldDef(name, "varchar", name.replace("_", " ").title())
        definition.fields = {**definition.fields, name: field_def}


# --- Support cases and the knowledge base (issue 14) --------------------------------------
# Cases: their categories are an enum (the vendor's case_type_dom-like list), and every
# case option has an English and a German label. The knowledge base: KBCategory (a tree
# by parent_id) and KBArticle, both with portal_active; articles' attachments are notes.

CASE_CATEGORIES = (
    "PC Hardware",
    "Office Supplies",
    "Documentation",
    "User Training",
    "Website",
    "Other",
)
OPTION_LABELS: dict[tuple[str, str], dict[str, tuple[str, str]]] = {
    ("aCase", "status"): {
        "Active - New": ("New", "Neu"),
        "Active - Assigned": ("Assigned", "Zugewiesen"),
        "Pending": ("Waiting for you", "Wartet auf Sie"),
        "Closed - Complete": ("Closed", "Geschlossen"),
        "Closed - No Fault": ("Closed: no fault found", "Geschlossen: kein Fehler"),
        "Closed - Rejected": ("Closed: rejected", "Geschlossen: abgelehnt"),
        "Closed - Duplicate": ("Closed: duplicate", "Geschlossen: Duplikat"),
    },
    ("aCase", "priority"): {
        "P1": ("High", "Hoch"),
        "P2": ("Medium", "Mittel"),
        "P3": ("Low", "Niedrig"),
    },
    ("aCase", "category"): {
        "PC Hardware": ("Tools and hardware", "Werkzeuge und Geräte"),
        "Office Supplies": ("Deliveries", "Lieferungen"),
        "Documentation": ("Documents and invoices", "Dokumente und Rechnungen"),
        "User Training": ("Training", "Schulung"),
        "Website": ("Website and portal", "Webseite und Portal"),
        "Other": ("Something else", "Sonstiges"),
    },
}
DE.update(
    {
        "Summary": "Zusammenfassung",
        "Slug": "Kurzname",
        "Display Order": "Reihenfolge",
        "Parent Category": "Übergeordnete Kategorie",
        "Article": "Artikel",
        "Body": "Inhalt",
    }
)


# The case options in French too (issue 16: French labels beside English and German), by
# their English label, so the demo's French portal shows the CRM's French words.
OPTION_LABELS_FR = {
    "New": "Nouveau",
    "Assigned": "Attribué",
    "Waiting for you": "En attente de votre réponse",
    "Closed": "Fermé",
    "Closed: no fault found": "Fermé : aucun défaut constaté",
    "Closed: rejected": "Fermé : refusé",
    "Closed: duplicate": "Fermé : doublon",
    "High": "Haute",
    "Medium": "Moyenne",
    "Low": "Basse",
    "Tools and hardware": "Outils et matériel",
    "Deliveries": "Livraisons",
    "Documents and invoices": "Documents et factures",
    "Training": "Formation",
    "Website and portal": "Site web et portail",
    "Something else": "Autre chose",
}


def option_label(model: str, field_name: str, option: str, language: str) -> str:
    labels = OPTION_LABELS.get((model, field_name), {}).get(option)
    if labels is None:
        return label(option, language)
    if language == "fr":
        return OPTION_LABELS_FR.get(labels[0], labels[0])
    return labels[1] if language == "de" else labels[0]


def _case_categories_as_enum() -> None:
    case = MODELS["aCase"]
    case.fields = {
        **case.fields,
        "category": FieldDef("category", "enum", "Category", options=CASE_CATEGORIES),
    }
    case.filters = {
        **case.filters,
        "category": FilterDef("category", "exact", ("category",), "Category"),
    }


def _knowledge_models() -> dict[str, ModelDef]:
    models: dict[str, ModelDef] = {}
    f = _fields(
        ("name", "name", "Name"),
        ("parent_id", "ref:KBCategory", "Parent Category"),
        ("display_order", "int", "Display Order"),
        ("portal_active", "bool", "Portal Active"),
    )
    models["KBCategory"] = ModelDef(
        "KBCategory",
        "KBCategories",
        f,
        _filters(f, "name", "parent_id", "portal_active", "display_order", "date_modified"),
        ("name", "parent_id", "display_order", "portal_active"),
        ("name", "description"),
        "display_order",
        links={
            "subcategories": LinkDef("subcategories", "KBCategory", "parent_id"),
            "articles": LinkDef("articles", "KBArticle", "category_id"),
        },
    )
    f = _fields(
        ("name", "name", "Title"),
        ("summary", "text", "Summary"),
        ("slug", "varchar", "Slug"),
        ("category_id", "ref:KBCategory", "Category"),
        ("portal_active", "bool", "Portal Active"),
    )
    models["KBArticle"] = ModelDef(
        "KBArticle",
        "KBArticles",
        f,
        _filters(
            f, "name", "slug", "category_id", "portal_active", "date_entered", "date_modified"
        ),
        ("name", "summary", "slug", "category_id", "portal_active", "date_modified"),
        ("name", "summary", "description"),
        "name",
        links={"notes": LinkDef("notes", "Note", "parent_id")},
    )
    return models


_case_categories_as_enum()
MODELS.update(_knowledge_models())
