"""Typed views of what the CRM returns: tolerant of unknown and missing optional fields.

Every model keeps the fields it does not know in `extra`; a missing or empty field is
None; money is `Decimal` (never float); a value of the wrong type is None, not a crash.
A reply missing what makes it meaningful (a record without an id) is a `BadReply`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Self

from crm_gateway.errors import BadReply

# Parsed values are immutable, and a page repeats many of them (dates, amounts): parse
# each distinct text once. Bounded, so a long-running process does not grow.
_cached = functools.lru_cache(maxsize=8192)


@_cached
def _decimal_text(value: str) -> Decimal | None:
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def to_decimal(value: Any) -> Decimal | None:
    if type(value) is str:  # the common case first: the CRM sends money as text
        return _decimal_text(value) if value else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)  # shortest round-trip text: 0.1 stays 0.1
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def to_str(value: Any) -> str | None:
    if type(value) is str:
        return value or None
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value)
    return text if text != "" else None


def to_int(value: Any) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        number = to_decimal(value)
        return int(number) if number is not None and number == number.to_integral() else None


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    return None


@_cached
def _date_text(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def to_date(value: Any) -> dt.date | None:
    text = to_str(value)
    return _date_text(text) if text else None


@_cached
def _datetime_text(text: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(text)  # accepts `Y-m-d H:i:s` since 3.11
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def to_datetime(value: Any) -> dt.datetime | None:
    """CRM datetimes are `Y-m-d H:i:s` in GMT."""
    text = to_str(value)
    return _datetime_text(text) if text else None


def to_str_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value if item is not None]
    return []


_CONVERTERS: dict[Any, Any] = {
    str: to_str,
    Decimal: to_decimal,
    int: to_int,
    bool: to_bool,
    dt.date: to_date,
    dt.datetime: to_datetime,
}


def _converter(annotation: Any) -> Any:
    """The converter for `X | None` (or `X`); None for fields set up by hand."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        annotation = inner[0] if len(inner) == 1 else None
    return _CONVERTERS.get(annotation)


class Parsed:
    """Mixin: `from_json` maps known keys through converters, the rest into `extra`."""

    extra: dict[str, Any]
    _MANUAL: ClassVar[frozenset[str]] = frozenset({"extra"})

    if typing.TYPE_CHECKING:  # every subclass is a dataclass, with its own __init__

        def __init__(self, **fields: Any) -> None: ...

    @classmethod
    def _table(cls) -> dict[str, tuple[str, Any]]:
        """Per class, built once: JSON key -> (attribute, converter)."""
        cached = cls.__dict__.get("_parse_table")
        if cached is None:
            hints = typing.get_type_hints(cls)
            cached = {}
            for f in dataclasses.fields(cls):  # type: ignore[arg-type]
                if f.name in cls._MANUAL:
                    continue  # left in `extra` for the subclass to take
                converter = _converter(hints[f.name])
                if converter is not None:
                    cached["_display" if f.name == "display" else f.name] = (f.name, converter)
            cls._parse_table = cached  # type: ignore[attr-defined]
        return cached

    @classmethod
    def _convert(
        cls, data: dict[str, Any], allowed: frozenset[str] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Known keys converted; unknown ones kept in `extra`. With `allowed`, a key not
        in it is dropped (`_display` is always kept): the allow-list's field filter."""
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        lookup = cls._table().get
        for key, value in data.items():
            if allowed is not None and key not in allowed and key != "_display":
                continue
            entry = lookup(key)
            if entry is None:
                extra[key] = value
            elif entry[1] is to_str and type(value) is str:
                known[entry[0]] = value or None  # most fields: no call needed
            else:
                known[entry[0]] = entry[1](value)
        return known, extra

    @classmethod
    def from_json(cls, data: Any, allowed: frozenset[str] | None = None) -> Self:
        if not isinstance(data, dict):
            raise BadReply(f"expected an object for {cls.__name__}", status=200)
        known, extra = cls._convert(data, allowed)
        return cls(**known, extra=extra)


# --- Records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Record(Parsed):
    """Any CRM record. `MODEL` names the CRM model the class reads."""

    MODEL: ClassVar[str] = ""
    id: str = ""
    name: str | None = None
    display: str | None = None
    date_entered: dt.datetime | None = None
    date_modified: dt.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, data: Any, allowed: frozenset[str] | None = None) -> Self:
        record = super().from_json(data, allowed)
        if not record.id:
            raise BadReply(f"a {cls.MODEL or 'record'} without an id", status=200)
        return record

    @property
    def label(self) -> str:
        return self.display or self.name or self.id


@dataclass(frozen=True)
class Invoice(Record):
    MODEL: ClassVar[str] = "Invoice"
    prefix: str | None = None
    invoice_number: str | None = None
    full_number: str | None = None
    invoice_date: dt.date | None = None
    due_date: dt.date | None = None
    amount: Decimal | None = None
    amount_due: Decimal | None = None
    currency_id: str | None = None
    exchange_rate: Decimal | None = None
    shipping_stage: str | None = None
    cancelled: bool | None = None
    terms: str | None = None
    purchase_order_num: str | None = None
    billing_account_id: str | None = None
    billing_contact_id: str | None = None
    from_quote_id: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Quote(Record):
    MODEL: ClassVar[str] = "Quote"
    prefix: str | None = None
    quote_number: str | None = None
    full_number: str | None = None
    quote_stage: str | None = None
    amount: Decimal | None = None
    valid_until: dt.date | None = None
    currency_id: str | None = None
    exchange_rate: Decimal | None = None
    terms: str | None = None
    shipping_provider: str | None = None
    billing_account_id: str | None = None
    billing_contact_id: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Document(Record):
    MODEL: ClassVar[str] = "Document"
    document_name: str | None = None
    document_revision_id: str | None = None
    filename: str | None = None
    file_mime_type: str | None = None
    category_id: str | None = None
    status_id: str | None = None
    description: str | None = None
    account_id: str | None = None
    contact_id: str | None = None


@dataclass(frozen=True)
class Note(Record):
    MODEL: ClassVar[str] = "Note"
    description: str | None = None
    filename: str | None = None
    file_mime_type: str | None = None
    parent_type: str | None = None
    parent_id: str | None = None
    portal_flag: bool | None = None
    contact_id: str | None = None
    account_id: str | None = None


@dataclass(frozen=True)
class Payment(Record):
    MODEL: ClassVar[str] = "Payment"
    full_number: str | None = None
    payment_type: str | None = None
    amount: Decimal | None = None
    applied_amount: Decimal | None = None
    payment_date: dt.date | None = None
    currency_id: str | None = None
    account_id: str | None = None


@dataclass(frozen=True)
class Account(Record):
    MODEL: ClassVar[str] = "Account"
    account_type: str | None = None
    email1: str | None = None
    phone_office: str | None = None
    website: str | None = None
    billing_address_street: str | None = None
    billing_address_city: str | None = None
    billing_address_state: str | None = None
    billing_address_postalcode: str | None = None
    billing_address_country: str | None = None
    currency_id: str | None = None


@dataclass(frozen=True)
class Contact(Record):
    MODEL: ClassVar[str] = "Contact"
    salutation: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    email1: str | None = None
    email2: str | None = None
    phone_work: str | None = None
    primary_account_id: str | None = None
    portal_active: bool | None = None
    portal_name: str | None = None
    # The profile page (issue 16)
    department: str | None = None
    phone_mobile: str | None = None
    phone_home: str | None = None
    birthdate: dt.date | None = None
    email_opt_out: bool | None = None


# --- Support cases and the knowledge base (issue 14) ---------------------------------------


@dataclass(frozen=True)
class Case(Record):
    """A support case (the CRM's `aCase`); `name` is its subject."""

    MODEL: ClassVar[str] = "aCase"
    case_number: str | None = None
    status: str | None = None
    priority: str | None = None
    category: str | None = None
    description: str | None = None
    date_closed: dt.date | None = None
    account_id: str | None = None
    cust_contact_id: str | None = None

    @property
    def is_closed(self) -> bool:
        """Closed by 1CRM's own keys alone (case_status_dom: "Closed - Complete", ...).
        An installation's own keys are read with `CaseStatuses.is_closed` (learned from
        the CRM's English labels); this property is its fallback."""
        return (self.status or "").strip().lower().startswith("closed")


@dataclass(frozen=True)
class CaseStatuses:
    """Which of this CRM's case statuses mean closed, and what close and reopen write.

    The reference names no closed statuses. 1CRM's own keys start with "Closed"; an
    installation with keys of its own ("Erledigt") is read by its English labels
    ("Closed - Complete"): a status is closed when its key or its English label starts
    with "Closed". Close writes 1CRM's "Closed - Complete" when the CRM offers it, else
    its first closed status; reopen "Active - New", else its first open status.
    """

    closed: frozenset[str] = frozenset()  # casefolded keys
    close_to: str = ""
    reopen_to: str = ""
    known: bool = False  # False: the CRM did not say; 1CRM's own keys are assumed

    def is_closed(self, status: str | None) -> bool:
        text = (status or "").strip()
        if text.casefold() in self.closed:
            return True
        return text.lower().startswith("closed")

    @classmethod
    def of(cls, choices: tuple[FieldChoice, ...], close: str, reopen: str) -> CaseStatuses:
        """From `/meta/fields/aCase`'s status options, labelled in English."""
        if not choices:
            return cls(close_to=close, reopen_to=reopen)

        def closed(choice: FieldChoice) -> bool:
            return any(
                text.strip().casefold().startswith("closed")
                for text in (choice.value, choice.label)
            )

        keys = [c.value for c in choices]
        shut = [c.value for c in choices if closed(c)]
        still_open = [key for key in keys if key not in shut]
        return cls(
            closed=frozenset(key.strip().casefold() for key in shut),
            close_to=close if close in shut else (shut[0] if shut else ""),
            reopen_to=reopen if reopen in still_open else (still_open[0] if still_open else ""),
            known=True,
        )


@dataclass(frozen=True)
class KBCategory(Record):
    MODEL: ClassVar[str] = "KBCategory"
    description: str | None = None
    parent_id: str | None = None
    display_order: int | None = None
    portal_active: bool | None = None


@dataclass(frozen=True)
class KBArticle(Record):
    """A knowledge-base article; `description` is HTML from the CRM's editors (sanitise
    before showing it)."""

    MODEL: ClassVar[str] = "KBArticle"
    summary: str | None = None
    description: str | None = None
    slug: str | None = None
    category_id: str | None = None
    portal_active: bool | None = None


@dataclass(frozen=True)
class FieldChoice:
    """One option of an enum field, as /meta/fields gives it in the asked language."""

    value: str
    label: str


def field_choices(fields: ModelFields, name: str) -> tuple[FieldChoice, ...]:
    """The options of an enum field (a name-keyed map or a list of values), in order."""
    meta = fields.fields.get(name)
    options = meta.options if meta is not None else None
    if isinstance(options, dict):
        pairs = [(str(key), to_str(label) or str(key)) for key, label in options.items()]
    elif isinstance(options, list):
        pairs = [(str(item), str(item)) for item in options if isinstance(item, str | int)]
    else:
        pairs = []
    return tuple(FieldChoice(value, label) for value, label in pairs if value)


@dataclass(frozen=True)
class Page[T]:
    """One page of a list: `total` is the CRM's count, ignoring offset and limit."""

    records: list[T]
    total: int
    offset: int
    limit: int
    # What the CRM itself said (before the portal dropped records outside the scope):
    # paging follows these, so a dropped record never hides the next page.
    crm_total: int = 0
    crm_count: int = 0

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.total


# --- Tally -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LineItem(Parsed):
    _MANUAL: ClassVar[frozenset[str]] = frozenset({"extra", "components"})
    name: str | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    ext_price: Decimal | None = None
    is_comment: bool | None = None
    sum_of_components: bool | None = None
    mfr_part_no: str | None = None
    serial_no: str | None = None
    components: list[Any] = field(default_factory=list)  # list[LineItem]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, data: Any, allowed: frozenset[str] | None = None) -> Self:
        if not isinstance(data, dict):
            raise BadReply("expected an object for a line item", status=200)
        known, extra = cls._convert(data)
        components = [cls.from_json(item) for item in _list(extra.pop("components", []))]
        return cls(**known, components=components, extra=extra)


@dataclass(frozen=True)
class Adjustment(Parsed):
    type: str | None = None
    name: str | None = None
    rate: Decimal | None = None
    value: Decimal | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class TallyGroup(Parsed):
    _MANUAL: ClassVar[frozenset[str]] = frozenset({"extra", "line_items", "adjusts"})
    name: str | None = None
    subtotal: Decimal | None = None
    total: Decimal | None = None
    line_items: list[LineItem] = field(default_factory=list)
    adjusts: list[Adjustment] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, data: Any, allowed: frozenset[str] | None = None) -> Self:
        if not isinstance(data, dict):
            raise BadReply("expected an object for a line group", status=200)
        known, extra = cls._convert(data)
        items = [LineItem.from_json(item) for item in _list(extra.pop("line_items", []))]
        adjusts = [Adjustment.from_json(item) for item in _list(extra.pop("adjusts", []))]
        return cls(**known, line_items=items, adjusts=adjusts, extra=extra)


@dataclass(frozen=True)
class Tax(Parsed):
    name: str | None = None
    rate: Decimal | None = None
    amount: Decimal | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class TallyTotals(Parsed):
    _MANUAL: ClassVar[frozenset[str]] = frozenset({"extra", "taxes"})
    subtotal: Decimal | None = None
    discount: Decimal | None = None
    shipping: Decimal | None = None
    shipping_taxed: Decimal | None = None
    total: Decimal | None = None
    taxes: list[Tax] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, data: Any, allowed: frozenset[str] | None = None) -> Self:
        if not isinstance(data, dict):
            data = {}
        known, extra = cls._convert(data)
        taxes = [Tax.from_json(item) for item in _list(extra.pop("taxes", []))]
        return cls(**known, taxes=taxes, extra=extra)


@dataclass(frozen=True)
class Tally:
    """`/tally/{model}/{id}`: the parent record (as a dict), its line groups and totals."""

    record: dict[str, Any]
    groups: list[TallyGroup]
    totals: TallyTotals

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        record = data.get("record")
        if not isinstance(record, dict):
            raise BadReply("a tally without its record", status=200)
        groups = [TallyGroup.from_json(group) for group in _list(data.get("groups"))]
        return cls(record=record, groups=groups, totals=TallyTotals.from_json(data.get("totals")))


def _separator_text(value: Any) -> str | None:
    return value if type(value) is str else to_str(value)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadReply("expected a list", status=200)
    return value


# --- Files, identity, metadata ---------------------------------------------------------


@dataclass(frozen=True)
class FileInfo(Parsed):
    """`/files/info`. `temp_url` is dropped on purpose: bytes only flow through the portal."""

    _MANUAL: ClassVar[frozenset[str]] = frozenset({"extra", "mimetype"})
    name: str | None = None
    size: int | None = None
    mimetype: str | None = None
    modified: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, data: Any, allowed: frozenset[str] | None = None) -> Self:
        if not isinstance(data, dict):
            raise BadReply("expected an object for file info", status=200)
        known, extra = cls._convert(data)
        mimetype = to_str(extra.pop("mimetype", None) or extra.pop("mime_type", None))
        extra.pop("temp_url", None)
        extra.pop("mime_type", None)
        return cls(**known, mimetype=mimetype, extra=extra)


@dataclass(frozen=True)
class Me(Parsed):
    """`/me`: a user (`Users:1`) or, with a contact's token, the contact (`Contacts:<id>`)."""

    _MANUAL: ClassVar[frozenset[str]] = frozenset({"extra", "groups"})
    id: str | None = None
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    role: str | None = None
    email: str | None = None
    timezone: str | None = None
    primary_account_id: str | None = None
    groups: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, data: Any, allowed: frozenset[str] | None = None) -> Self:
        if not isinstance(data, dict):
            raise BadReply("expected an object for /me", status=200)
        known, extra = cls._convert(data)
        groups = to_str_list(extra.pop("groups", None))
        return cls(**known, groups=groups, extra=extra)

    @property
    def kind(self) -> str:
        """'Contacts' or 'Users' (the part of `id` before the colon)."""
        return (self.id or "").partition(":")[0]

    @property
    def record_id(self) -> str:
        return (self.id or "").partition(":")[2]


@dataclass(frozen=True)
class Version(Parsed):
    _MANUAL: ClassVar[frozenset[str]] = frozenset({"extra", "products"})
    version: str | None = None
    authenticated: bool | None = None
    products: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, data: Any, allowed: frozenset[str] | None = None) -> Self:
        if not isinstance(data, dict):
            raise BadReply("expected an object for /version", status=200)
        known, extra = cls._convert(data)
        return cls(**known, products=to_str_list(extra.pop("products", None)), extra=extra)


@dataclass(frozen=True)
class Currency(Parsed):
    name: str | None = None
    iso4217: str | None = None
    symbol: str | None = None
    significant_digits: int | None = None
    symbol_place_after: bool | None = None
    space_separate: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Locale(Parsed):
    _MANUAL: ClassVar[frozenset[str]] = frozenset(
        {"extra", "number_format", "base_currency", "address_format"}
    )
    date_format: str | None = None
    time_format: str | None = None
    timezone: str | None = None
    decimal_separator: str | None = None
    group_separator: str | None = None
    address_format: dict[str, Any] = field(default_factory=dict)
    base_currency: Currency | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, data: Any, allowed: frozenset[str] | None = None) -> Self:
        if not isinstance(data, dict):
            raise BadReply("expected an object for /meta/locale", status=200)
        known, extra = cls._convert(data)
        numbers = extra.pop("number_format", None)
        numbers = numbers if isinstance(numbers, dict) else {}
        currency = extra.pop("base_currency", None)
        address = extra.pop("address_format", None)
        return cls(
            **known,
            decimal_separator=to_str(numbers.get("dec_sep")),
            # "" is a real answer here (no grouping), not a missing one.
            group_separator=_separator_text(numbers.get("grp_sep")),
            address_format=address if isinstance(address, dict) else {},
            base_currency=Currency.from_json(currency) if isinstance(currency, dict) else None,
            extra=extra,
        )


@dataclass(frozen=True)
class FieldMeta:
    name: str
    type: str | None
    label: str | None
    options: Any
    raw: dict[str, Any]

    @property
    def personal(self) -> bool:
        """1CRM marks personal-data fields in /meta/fields (issue 16)."""
        return self.raw.get("personal") is True


@dataclass(frozen=True)
class FilterMeta:
    name: str
    type: str | None
    label: str | None
    id_name: str | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class ModelFields:
    """`/meta/fields/{model}`: field and filter definitions (lists or name-keyed maps)."""

    fields: dict[str, FieldMeta]
    filters: dict[str, FilterMeta]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelFields:
        def entries(value: Any) -> list[tuple[str, dict[str, Any]]]:
            if isinstance(value, dict):
                return [
                    (str(value_dict.get("name") or key), value_dict)
                    for key, value_dict in value.items()
                    if isinstance(value_dict, dict)
                ]
            if isinstance(value, list):
                return [(str(item.get("name")), item) for item in value if isinstance(item, dict)]
            return []

        fields = {
            name: FieldMeta(
                name,
                to_str(raw.get("type")),
                to_str(raw.get("label") or raw.get("vname")),
                raw.get("options"),
                raw,
            )
            for name, raw in entries(data.get("fields"))
            if name and name != "None"
        }
        filters = {
            name: FilterMeta(
                name,
                to_str(raw.get("type")),
                to_str(raw.get("label") or raw.get("vname")),
                to_str(raw.get("id_name")),
                raw,
            )
            for name, raw in entries(data.get("filters"))
            if name and name != "None"
        }
        return cls(fields=fields, filters=filters)
