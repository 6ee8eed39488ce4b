"""Deterministic demo content for the 1CRM emulator: a small tool dealer and its customers.

Contract (pure: no Django, no I/O; building everything takes well under 2 s)::

    build_demo_data(today: datetime.date) -> DemoData

* Same ``today`` -> identical output, byte for byte (records, ids, file contents). All
  randomness comes from ``random.Random(ONECRM_SEED)``, and the *sequence* of random draws
  does not depend on ``today``: another day only shifts the dates. So the guarantees below
  (every stage present, some overdue, ...) hold for every ``today``.
* ``DemoData.records``: ``DemoRecord(model, id, fields)``. ``fields`` is JSON-able and does
  not repeat ``id``. Conventions: dates ``"YYYY-MM-DD"``, datetimes ``"YYYY-MM-DD HH:MM:SS"``
  (UTC), money as decimal strings with 2 places, booleans as ``bool``, references as ids
  (``""`` when empty). Models and counts:

  - ``Currency`` (2: EUR is the base currency with ``conversion_rate`` "1.000000", USD);
    fields ``name, iso4217, symbol, conversion_rate, status``.
  - ``Account`` (5, 3 in EUR and 2 in USD; ``currency_id``, ``billing_address_*``,
    ``shipping_address_*``, ``email1``, ``phone_office``, ``account_type`` ...).
  - ``Contact`` (10): ``first_name, last_name, salutation, title, email1, email2,
    phone_work, primary_account_id, portal_active, portal_name, primary_address_*``.
    Some share an account; one has ``primary_account_id == ""``; exactly one has
    ``portal_active`` False; one is "Zoë Ångström-Müller". Their password (not a field) is
    ``DEMO_PASSWORD``.
  - ``ProductCatalog`` (the catalogue the lines refer to through ``related_id``).
  - ``Invoice`` (300 over the 3 years before ``today``) with ``InvoiceLineGroup``,
    ``InvoiceLine``, ``InvoiceAdjustment``; ``Quote`` (60) with ``QuoteLineGroup``,
    ``QuoteLine``, ``QuoteAdjustment``. Line-item records point back with ``invoice_id`` /
    ``quote_id`` and ``line_group_id``; components of an assembly have ``parent_id``.
    Stored ``ext_price``, group ``subtotal``/``total``, adjustment ``amount`` and the
    parent's ``amount`` are exactly what :func:`crm_emulator.tally.compute_tally` computes
    from those records, so ``/tally`` and ``/data`` always agree.
    ``shipping_stage`` in ("Pending", "Partially Shipped", "Shipped") (the real 1CRM
    ``shipping_stage_dom``), ``quote_stage`` in ``QUOTE_STAGES`` (the real
    ``quote_stage_dom``). Cancelled invoices have ``amount_due`` "0.00".
  - ``Payment``: ``full_number, prefix, payment_id, payment_type, payment_date, amount,
    currency_id, exchange_rate, account_id, direction``. A payment is tied to invoices by a
    ``DemoLink(model="Invoice", id=<invoice>, link="invoices_payments",
    related_model="Payment", related_id=<payment>, data={"applied_amount": "12.34"})``;
    an invoice's ``amount_due`` = ``amount`` - sum of its applied amounts.
  - ``Document`` (40 with a real file, plus the large one, see below) with one
    ``DocumentRevision`` each (``document_id``, ``revision``, ``filename``,
    ``file_mime_type``, ``file_ext``, ``file_size``); the Document's
    ``document_revision_id`` names it. Documents belong to accounts/contacts through
    ``DemoLink(model="Document", id, link="accounts"|"contacts", related_model="Account"|
    "Contact", related_id)``; a few company-wide documents have no link at all, and one
    document is linked only to the contact who has no account.
  - ``DemoLink(model="Account", id, link="contacts", related_model="Contact", ...)`` for
    every contact of an account (the same fact as the contact's ``primary_account_id``).
  - ``Note``: ``name, description, filename, file_mime_type, file_size, parent_type
    ("Accounts"|"Contacts"|"Invoice"|"Quotes"), parent_id, portal_flag, contact_id,
    account_id``. Some without attachment (``filename == ""``), some with ``portal_flag``
    False, some attached to invoices.
  - ``aCase`` (support cases): ``case_number, name, status, priority, category,
    description, date_entered, date_closed, account_id, cust_contact_id``.

* ``DemoData.files``: ``DemoFile(model, id, filename, mimetype, content)`` for every
  Document (``id`` = the Document's id; the same bytes are the revision's, whose id is the
  Document's ``document_revision_id``) and every Note with an attachment. Real formats:
  PDF (fpdf2), PNG, DOCX (Office Open XML), CSV, plain text (one named
  "Überblick Préférences.txt").
* ``DemoData.users``: ``admin`` (id "1", ``is_admin``) and ``sally`` (sales); password
  ``DEMO_PASSWORD`` for both.
* The large document: ``LARGE_DOCUMENT`` describes a 200 MiB file of the first account.
  Its ``Document`` and ``DocumentRevision`` records and its ``accounts`` link are in
  ``records``/``links`` but it has **no** DemoFile: serve its bytes from
  :func:`large_file_chunks` (Content-Length ``LARGE_DOCUMENT.size``) and compare with
  :func:`large_file_sha256`. Its Document carries ``"is_large_file": True``.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import random
import struct
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from crm_emulator.tally import compute_tally

ONECRM_SEED = 1_000_001
DEMO_PASSWORD = "demo-password"  # noqa: S105 (the demo's published password)
BASE_CURRENCY = "EUR"

SHIPPING_STAGES = ("Pending", "Partially Shipped", "Shipped")
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
TERMS_DAYS = {
    "Due on Receipt": 0,
    "Net 7 Days": 7,
    "Net 15 Days": 15,
    "Net 30 Days": 30,
    "Net 45 Days": 45,
    "Net 60 Days": 60,
}
PAYMENT_TYPES = ("Wire Transfer", "Credit Card", "Check", "PayPal", "Bank Draft")

N_INVOICES = 300
N_QUOTES = 60
N_DOCUMENTS = 40
COMPANY_WIDE_DOCUMENTS = ("Terms and Conditions", "Checkliste Wareneingang")  # no links at all
LONER_DOCUMENT = "Change Request"  # linked only to the contact without an account


@dataclass(frozen=True)
class DemoRecord:
    model: str
    id: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class DemoFile:
    model: str  # "Document" | "Note"
    id: str
    filename: str
    mimetype: str
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class DemoUser:
    id: str
    user_name: str
    password: str = field(repr=False)
    role: str
    is_admin: bool
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class DemoLink:
    model: str
    id: str
    link: str
    related_model: str
    related_id: str
    data: dict[str, Any] = field(default_factory=dict)  # e.g. {"applied_amount": "10.00"}


@dataclass
class DemoData:
    records: list[DemoRecord]
    files: list[DemoFile]
    users: list[DemoUser]
    links: list[DemoLink]

    def of(self, model: str) -> list[DemoRecord]:
        """All records of one model, in creation order."""
        return [record for record in self.records if record.model == model]


@dataclass(frozen=True)
class LargeDocument:
    id: str
    revision_id: str
    name: str
    filename: str
    mimetype: str
    size: int


LARGE_DOCUMENT = LargeDocument(
    id="0b5e1a7e-5173-4e5a-9c1d-2a0c0ffee200",
    revision_id="0b5e1a7e-5173-4e5a-9c1d-2a0c0ffee201",
    name="Site survey video (raw)",
    filename="site-survey-video.bin",
    mimetype="application/octet-stream",
    size=200 * 1024 * 1024,
)
PATTERN_SIZE = 1 << 20


@functools.cache
def _pattern() -> bytes:
    """1 MiB of fixed pseudo-random bytes (SHA-256 in counter mode), built once."""
    out = bytearray()
    for counter in range(PATTERN_SIZE // 32):
        out += hashlib.sha256(b"onecrm-large-file:%d" % counter).digest()
    return bytes(out)


def large_file_chunks(size: int = LARGE_DOCUMENT.size, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Deterministic bytes of a `size`-byte file, `chunk` bytes at a time (last one shorter).

    Byte ``i`` is ``pattern[i % 1 MiB]``, so any chunk size yields the same stream and
    nothing large is ever held in memory.
    """
    if chunk <= 0:
        raise ValueError("chunk must be positive")
    pattern = _pattern()
    doubled = memoryview(pattern + pattern)
    offset = 0
    while offset < size:
        want = min(chunk, size - offset)
        parts = []
        got = 0
        while got < want:
            start = (offset + got) % PATTERN_SIZE
            take = min(want - got, PATTERN_SIZE)
            parts.append(doubled[start : start + take])
            got += take
        yield parts[0].tobytes() if len(parts) == 1 else b"".join(parts)
        offset += want


def sha256_hex(chunks: Iterable[bytes]) -> str:
    """SHA-256 of a byte stream, e.g. a streamed download, without holding it."""
    digest = hashlib.sha256()
    for part in chunks:
        digest.update(part)
    return digest.hexdigest()


@functools.cache
def large_file_sha256(size: int = LARGE_DOCUMENT.size) -> str:
    return sha256_hex(large_file_chunks(size))


# --- catalogue ---------------------------------------------------------------------------

PRODUCTS = [  # name, manufacturer part number, list price in EUR
    ("Cordless Drill 18V", "CD-18V", "149.00"),
    ("Impact Driver 18V", "ID-18V", "129.00"),
    ("Battery Pack 5Ah", "BP-5AH", "79.90"),
    ("Fast Charger", "FC-220", "49.50"),
    ("Safety Goggles", "SG-100", "12.95"),
    ("Work Gloves (pair)", "WG-L", "8.40"),
    ("Laser Distance Meter", "LDM-50", "89.00"),
    ("Steel Tool Case", "TC-STL", "64.00"),
    ("Drill Bit Set 24pc", "DB-24", "34.75"),
    ("Shop Vacuum 30L", "SV-30", "219.00"),
    ("Angle Grinder 125mm", "AG-125", "99.00"),
    ("Cutting Discs (10 pack)", "CD-125-10", "17.60"),
]
ASSEMBLIES = [  # name, part number, components as (product index, quantity per assembly)
    ("Contractor Starter Kit", "KIT-CON", [(0, 1), (2, 2), (3, 1), (7, 1)]),
    ("Workshop Safety Bundle", "KIT-SAFE", [(4, 4), (5, 10)]),
    ("Metalwork Kit", "KIT-MET", [(10, 1), (11, 3), (4, 1)]),
]
SERVICES = [
    ("On-site Installation (hour)", "SVC-INST", "95.00"),
    ("Annual Maintenance Plan", "SVC-MAINT", "480.00"),
    ("Operator Training (day)", "SVC-TRAIN", "750.00"),
    ("Calibration Service", "SVC-CAL", "65.00"),
]
COMMENTS = [
    "Delivery to loading dock B, weekdays 8:00-16:00.",
    "Prices include the statutory recycling fee.",
    "Serial numbers are listed on the delivery note.",
    "Lieferung frei Haus - bitte Wareneingang prüfen.",
]
CONSUMABLES = (4, 5, 8, 11)  # goggles, gloves, drill bits, cutting discs
GROUP_LINE_WEIGHTS = {  # product, service, assembly, comment
    "Hardware": (6, 0, 2, 1),
    "Consumables": (1, 0, 0, 0),
    "Services": (0, 1, 0, 0),
}
TITLES = [
    "Workshop equipment",
    "Quarterly supply order",
    "Site fit-out",
    "Replacement tools",
    "Safety equipment refresh",
    "Service and maintenance",
    "New branch opening",
    "Spare parts",
]

ACCOUNTS = [  # name, currency, industry, street, city, state, postal code, country, phone, web
    (
        "Müller & Söhne Metallbau GmbH",
        "EUR",
        "Construction",
        "Industriestraße 12",
        "Berlin",
        "",
        "10115",
        "Germany",
        "+49 30 5550 1200",
        "mueller-soehne.example.com",
    ),
    (
        "Acme Widgets Inc.",
        "USD",
        "Manufacturing",
        "400 Market Street, Suite 210",
        "Portland",
        "OR",
        "97204",
        "USA",
        "+1 503 555 0142",
        "acme-widgets.example.com",
    ),
    (
        "Blue Harbor Logistics Ltd",
        "EUR",
        "Transportation",
        "7 Dock Road",
        "Dublin",
        "",
        "D01 K2X4",
        "Ireland",
        "+353 1 555 0190",
        "blueharbor.example.com",
    ),
    (
        "Fjordline Marine AS",
        "EUR",
        "Shipping",
        "Bryggen 3",
        "Bergen",
        "",
        "5003",
        "Norway",
        "+47 55 55 01 33",
        "fjordline.example.com",
    ),
    (
        "Cedar Street Bakery LLC",
        "USD",
        "Retail",
        "1120 Cedar Street",
        "Austin",
        "TX",
        "78701",
        "USA",
        "+1 512 555 0177",
        "cedarstreetbakery.example.com",
    ),
]
TAX = {"EUR": ("VAT", "19"), "USD": ("Sales Tax", "8.25")}
USD_RATE = Decimal("1.08")

CONTACTS = [  # salutation, first, last, title, account index or None, portal_active
    ("Ms.", "Zoë", "Ångström-Müller", "Head of Purchasing", 0, True),
    ("Mr.", "Jonas", "Becker", "Workshop Manager", 0, True),
    ("Ms.", "Emily", "Carter", "Operations Director", 1, True),
    ("Mr.", "Daniel", "Brooks", "Accounts Payable", 1, True),
    ("Mr.", "Liam", "O'Connor", "Fleet Manager", 2, True),
    ("Ms.", "Ingrid", "Solberg", "Technical Lead", 3, True),
    ("Mr.", "Henrik", "Dahl", "CFO", 3, False),
    ("Ms.", "Maria", "Gonzalez", "Owner", 4, True),
    ("Mr.", "Sam", "Whitaker", "Store Manager", 4, True),
    ("Mr.", "Alex", "Novak", "Independent Contractor", None, True),
]


def email_for(first: str, last: str) -> str:
    """'Zoë', 'Ångström-Müller' -> 'zoe.angstrom-muller@example.com'."""

    def ascii_part(text: str) -> str:
        folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        return "".join(ch for ch in folded.lower() if ch.isalnum() or ch == "-")

    return f"{ascii_part(first)}.{ascii_part(last)}@example.com"


def d(value: dt.date) -> str:
    return value.isoformat()


def ts(value: dt.date, rng: random.Random, hour_from: int = 8, hour_to: int = 17) -> str:
    moment = dt.datetime.combine(value, dt.time(rng.randint(hour_from, hour_to - 1)))
    moment += dt.timedelta(minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def m(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


# --- files ---------------------------------------------------------------------------


def make_png(width: int, height: int, seed: int) -> bytes:
    """A valid RGB PNG (a colour gradient with a band), written with zlib and struct."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            band = (y * 4 // max(height, 1)) % 2
            rows += bytes(
                (
                    (x * 255 // max(width - 1, 1) + seed * 40) % 256,
                    (y * 255 // max(height - 1, 1) + seed * 70) % 256,
                    200 if band else 90,
                )
            )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def make_docx(title: str, paragraphs: list[str], when: dt.date) -> bytes:
    """A minimal valid Office Open XML word-processing document."""
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
        "</Types>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="word/document.xml"/>'
        "</Relationships>"
    )
    body = [
        '<w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:rPr><w:b/></w:rPr>'
        f"<w:t>{_xml_escape(title)}</w:t></w:r></w:p>"
    ]
    body += [f"<w:p><w:r><w:t>{_xml_escape(text)}</w:t></w:r></w:p>" for text in paragraphs]
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{''.join(body)}</w:body></w:document>"
    )
    buffer = io.BytesIO()
    stamp = (max(when.year, 1980), when.month, when.day, 12, 0, 0)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (
            ("[Content_Types].xml", content_types),
            ("_rels/.rels", rels),
            ("word/document.xml", document),
        ):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()


def _latin1(text: str) -> str:
    """The PDF core fonts cover Latin-1 only; replace what they cannot show."""
    return text.replace("\u2013", "-").encode("latin-1", "replace").decode("latin-1")


def make_pdf(title: str, paragraphs: list[str], when: dt.date) -> bytes:
    """A small real PDF (fpdf2, core fonts: fast, no font files needed)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(dt.datetime.combine(when, dt.time(12), tzinfo=dt.UTC))
    pdf.set_title(_latin1(title))
    pdf.set_author("Northwind Tools GmbH")
    pdf.add_page()
    pdf.set_font("helvetica", "B", 18)
    pdf.cell(0, 12, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=9)
    pdf.set_text_color(110)
    pdf.cell(0, 6, f"Northwind Tools GmbH - {when.isoformat()}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.ln(4)
    pdf.set_font("helvetica", size=11)
    for text in paragraphs:
        pdf.multi_cell(0, 6, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    return bytes(pdf.output())


def make_csv(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


MIMETYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "csv": "text/csv",
    "txt": "text/plain",
}


# --- builder -------------------------------------------------------------------------------


class _Builder:
    def __init__(self, today: dt.date) -> None:
        self.today = today
        self.rng = random.Random(ONECRM_SEED)
        self.records: list[DemoRecord] = []
        self.files: list[DemoFile] = []
        self.links: list[DemoLink] = []

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def add(self, model: str, fields: dict[str, Any], id_: str | None = None) -> str:
        record_id = id_ or self.new_id()
        self.records.append(DemoRecord(model, record_id, fields))
        return record_id

    def link(
        self, model: str, id_: str, link: str, related_model: str, related_id: str, **data: Any
    ) -> None:
        self.links.append(DemoLink(model, id_, link, related_model, related_id, data))

    def days_ago(self, low: int, high: int) -> dt.date:
        return self.today - dt.timedelta(days=self.rng.randint(low, high))

    # --- people and companies ---

    def build_parties(self) -> None:
        self.currency_ids: dict[str, str] = {}
        for iso, name, symbol, rate in (
            ("EUR", "Euro", "€", "1.000000"),
            ("USD", "US Dollar", "$", f"{USD_RATE:.6f}"),
        ):
            self.currency_ids[iso] = self.add(
                "Currency",
                {
                    "name": name,
                    "iso4217": iso,
                    "symbol": symbol,
                    "conversion_rate": rate,
                    "status": "Active",
                },
            )
        self.accounts: list[dict[str, Any]] = []
        for name, currency, industry, street, city, state, postal, country, phone, web in ACCOUNTS:
            address = {
                "street": street,
                "city": city,
                "state": state,
                "postalcode": postal,
                "country": country,
            }
            fields: dict[str, Any] = {
                "name": name,
                "account_type": "Customer",
                "industry": industry,
                "email1": f"office@{web}",
                "phone_office": phone,
                "website": f"https://{web}",
                "currency_id": self.currency_ids[currency],
                "date_entered": ts(self.days_ago(1200, 1400), self.rng),
            }
            for prefix in ("billing", "shipping"):
                fields.update({f"{prefix}_address_{k}": v for k, v in address.items()})
            account_id = self.add("Account", fields)
            self.accounts.append({"id": account_id, "currency": currency, **fields})
        self.contacts: list[dict[str, Any]] = []
        for salutation, first, last, title, account_index, portal_active in CONTACTS:
            account = self.accounts[account_index] if account_index is not None else None
            email = email_for(first, last)
            fields = {
                "salutation": salutation,
                "first_name": first,
                "last_name": last,
                "title": title,
                "email1": email,
                "email2": "",
                "phone_work": account["phone_office"] if account else "+49 170 5550 123",
                "primary_account_id": account["id"] if account else "",
                "portal_active": portal_active,
                "portal_name": email,
                "primary_address_street": account["billing_address_street"] if account else "",
                "primary_address_city": account["billing_address_city"] if account else "Hamburg",
                "primary_address_postalcode": account["billing_address_postalcode"]
                if account
                else "20095",
                "primary_address_country": account["billing_address_country"]
                if account
                else "Germany",
                "date_entered": ts(self.days_ago(1100, 1200), self.rng),
            }
            contact_id = self.add("Contact", fields)
            self.contacts.append({"id": contact_id, "account_index": account_index, **fields})
            if account:
                self.link("Account", account["id"], "contacts", "Contact", contact_id)
        self.product_ids: list[str] = []
        for name, part, price in PRODUCTS:
            self.product_ids.append(
                self.add(
                    "ProductCatalog",
                    {
                        "name": name,
                        "manufacturers_part_no": part,
                        "list_price": price,
                        "currency_id": self.currency_ids["EUR"],
                        "is_available": "yes",
                    },
                )
            )
        self.assembly_ids = [
            self.add(
                "ProductCatalog",
                {
                    "name": name,
                    "manufacturers_part_no": part,
                    "list_price": "",
                    "currency_id": self.currency_ids["EUR"],
                    "is_available": "yes",
                },
            )
            for name, part, _ in ASSEMBLIES
        ]
        self.service_ids = [
            self.add(
                "ProductCatalog",
                {
                    "name": name,
                    "manufacturers_part_no": part,
                    "list_price": price,
                    "currency_id": self.currency_ids["EUR"],
                    "is_available": "yes",
                    "product_type": "Service",
                },
            )
            for name, part, price in SERVICES
        ]

    def account_contact(self, account_index: int) -> str:
        """A billing contact of the account, preferring contacts who use the portal."""
        people = [c for c in self.contacts if c["account_index"] == account_index]
        active = [c for c in people if c["portal_active"]] or people
        return self.rng.choice(active)["id"] if active else ""

    # --- tally objects ---

    def price(self, eur: str, currency: str) -> Decimal:
        value = Decimal(eur)
        if currency == "USD":
            value = (value * USD_RATE).quantize(Decimal("0.01"))
        return value

    def line_items(
        self, model: str, parent_key: str, parent_id: str, currency: str
    ) -> tuple[list[dict], list[dict], list[dict]]:
        """Random but sensible groups, lines and adjustments for one invoice or quote."""
        rng = self.rng
        groups: list[dict] = []
        lines: list[dict] = []
        adjustments: list[dict] = []
        n_groups = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
        group_names = rng.sample(
            ["Hardware", "Services", "Consumables", "Phase 1", "Phase 2"], n_groups
        )
        for g_pos, group_name in enumerate(group_names, start=1):
            group_id = self.new_id()
            groups.append(
                {
                    "id": group_id,
                    parent_key: parent_id,
                    "name": group_name,
                    "position": g_pos,
                    "group_type": "service" if group_name == "Services" else "products",
                    "pricing_method": "",
                }
            )
            position = 0

            def add_line(**fields: Any) -> str:
                nonlocal position
                position += 1
                line_id = self.new_id()
                line = {
                    "id": line_id,
                    parent_key: parent_id,
                    "line_group_id": group_id,  # noqa: B023
                    "parent_id": "",
                    "name": "",
                    "quantity": "1",
                    "unit_price": "0.00",
                    "ext_price": "0.00",
                    "is_comment": False,
                    "sum_of_components": False,
                    "mfr_part_no": "",
                    "serial_no": "",
                    "position": position,
                    "related_type": "",
                    "related_id": "",
                }
                line.update(fields)
                lines.append(line)
                return line_id

            # What a group holds follows its name; the first line is never a comment.
            weights = GROUP_LINE_WEIGHTS.get(group_name, (6, 3, 1, 1))
            for n_line in range(rng.randint(1, 5)):
                kind = rng.choices(
                    ("product", "service", "assembly", "comment"),
                    weights=(*weights[:3], 0 if n_line == 0 else weights[3]),
                )[0]
                if kind == "product":
                    index = rng.choice(
                        CONSUMABLES if group_name == "Consumables" else range(len(PRODUCTS))
                    )
                    name, part, eur = PRODUCTS[index]
                    serial = f"SN-{rng.randint(100000, 999999)}" if rng.random() < 0.2 else ""
                    add_line(
                        name=name,
                        mfr_part_no=part,
                        quantity=str(rng.randint(1, 12)),
                        unit_price=m(self.price(eur, currency)),
                        serial_no=serial,
                        related_type="ProductCatalog",
                        related_id=self.product_ids[index],
                    )
                elif kind == "service":
                    index = rng.randrange(len(SERVICES))
                    name, part, eur = SERVICES[index]
                    add_line(
                        name=name,
                        mfr_part_no=part,
                        quantity=str(rng.randint(1, 8)),
                        unit_price=m(self.price(eur, currency)),
                        related_type="Service",
                        related_id=self.service_ids[index],
                    )
                elif kind == "assembly":
                    index = rng.randrange(len(ASSEMBLIES))
                    name, part, components = ASSEMBLIES[index]
                    parent_line = add_line(
                        name=name,
                        mfr_part_no=part,
                        sum_of_components=True,
                        quantity=str(rng.randint(1, 3)),
                        related_type="Assemblies",
                        related_id=self.assembly_ids[index],
                    )
                    for product_index, per_unit in components:
                        c_name, c_part, c_eur = PRODUCTS[product_index]
                        add_line(
                            name=c_name,
                            mfr_part_no=c_part,
                            parent_id=parent_line,
                            quantity=str(per_unit),
                            unit_price=m(self.price(c_eur, currency)),
                            related_type="ProductCatalog",
                            related_id=self.product_ids[product_index],
                        )
                else:
                    add_line(
                        name=rng.choice(COMMENTS),
                        is_comment=True,
                        quantity="",
                        unit_price="",
                        ext_price="",
                    )

            adj_pos = 0

            def add_adjustment(type_: str, name: str, rate: str = "", amount: str = "") -> None:
                nonlocal adj_pos
                adj_pos += 1
                adjustments.append(
                    {
                        "id": self.new_id(),
                        parent_key: parent_id,
                        "line_group_id": group_id,  # noqa: B023 (called in this iteration)
                        "type": type_,
                        "name": name,
                        "rate": rate,
                        "amount": amount,
                        "position": adj_pos,
                    }
                )

            roll = rng.random()
            if roll < 0.15:
                add_adjustment(
                    "StdPercentDiscount", "Volume discount", rate=rng.choice(("5", "10"))
                )
            elif roll < 0.22:
                add_adjustment("StdFixedDiscount", "Loyalty discount", amount="25.00")
            if g_pos == 1:
                roll = rng.random()
                if roll < 0.35:
                    add_adjustment(
                        "TaxedShipping",
                        "Freight (DHL)",
                        amount=m(self.price(rng.choice(("9.90", "19.90", "49.00")), currency)),
                    )
                elif roll < 0.5:
                    add_adjustment("UntaxedShipping", "Courier (pass-through)", amount="15.00")
            tax_name, tax_rate = TAX[currency]
            add_adjustment("StandardTax", tax_name, rate=tax_rate)
        return groups, lines, adjustments

    def store_tally(
        self,
        model: str,
        record: dict,
        groups: list[dict],
        lines: list[dict],
        adjustments: list[dict],
    ) -> str:
        """Write computed amounts back into the line records, store all, return the total."""
        tally = compute_tally(record, groups, lines, adjustments)
        by_group = {g["id"]: (g, r) for g, r in zip(groups, tally["groups"], strict=True)}
        for group, rendered in by_group.values():
            group["subtotal"] = rendered["subtotal"]
            group["total"] = rendered["total"]
            g_lines = [ln for ln in lines if ln["line_group_id"] == group["id"]]
            top = [ln for ln in g_lines if not ln["parent_id"]]
            for line, item in zip(top, rendered["line_items"], strict=True):
                self._write_back(line, item, g_lines)
            g_adjustments = [a for a in adjustments if a["line_group_id"] == group["id"]]
            for adj, shown in zip(g_adjustments, rendered["adjusts"], strict=True):
                adj["amount"] = shown["value"]
        for group in groups:
            self.add(
                f"{model}LineGroup", {k: v for k, v in group.items() if k != "id"}, group["id"]
            )
        for line in lines:
            self.add(f"{model}Line", {k: v for k, v in line.items() if k != "id"}, line["id"])
        for adj in adjustments:
            self.add(f"{model}Adjustment", {k: v for k, v in adj.items() if k != "id"}, adj["id"])
        return tally["totals"]["total"]

    def _write_back(self, line: dict, item: dict, g_lines: list[dict]) -> None:
        if not line["is_comment"]:
            line["unit_price"] = item["unit_price"]
            line["ext_price"] = item["ext_price"]
        children = [ln for ln in g_lines if ln["parent_id"] == line["id"]]
        for child, child_item in zip(children, item["components"], strict=True):
            self._write_back(child, child_item, g_lines)

    def party_fields(self, account_index: int) -> dict[str, Any]:
        account = self.accounts[account_index]
        fields: dict[str, Any] = {
            "billing_account_id": account["id"],
            "billing_contact_id": self.account_contact(account_index),
            "currency_id": self.currency_ids[account["currency"]],
            "exchange_rate": "1.000000" if account["currency"] == "EUR" else f"{USD_RATE:.6f}",
        }
        for prefix in ("billing", "shipping"):
            for part in ("street", "city", "state", "postalcode", "country"):
                fields[f"{prefix}_address_{part}"] = account[f"billing_address_{part}"]
        fields["shipping_account_id"] = account["id"]
        return fields

    def build_quotes(self) -> None:
        rng = self.rng
        # A third are recent (open for the portal to show), the rest are history.
        dates = sorted(
            self.days_ago(0, 40) if n % 3 == 0 else self.days_ago(41, 540) for n in range(N_QUOTES)
        )
        self.quotes: list[dict[str, Any]] = []
        for number, quote_date in enumerate(dates, start=501):
            account_index = rng.choices(range(len(self.accounts)), weights=(5, 4, 3, 2, 2))[0]
            quote_id = self.new_id()
            valid_until = quote_date + dt.timedelta(days=30)
            open_stages = QUOTE_STAGES[:5]
            if valid_until < self.today:
                stage = rng.choice(
                    (
                        "Closed Accepted",
                        "Closed Lost",
                        "Closed Dead",
                        "On Hold",
                        "Confirmed",
                        "Closed Accepted",
                    )
                )
            else:
                stage = rng.choice((*open_stages, "Closed Accepted"))
            fields: dict[str, Any] = {
                "prefix": "QT-",
                "quote_number": number,
                "full_number": f"QT-{number}",
                "name": f"{rng.choice(TITLES)} - {self.accounts[account_index]['name']}",
                "quote_stage": stage,
                "date_entered": ts(quote_date, rng),
                "valid_until": d(valid_until),
                "terms": rng.choice(list(TERMS_DAYS)),
                "shipping_provider": rng.choice(("DHL", "UPS", "FedEx", "")),
                "description": "",
                **self.party_fields(account_index),
            }
            groups, lines, adjustments = self.line_items(
                "Quote", "quote_id", quote_id, self.accounts[account_index]["currency"]
            )
            fields["amount"] = self.store_tally("Quote", fields, groups, lines, adjustments)
            self.add("Quote", fields, quote_id)
            self.quotes.append({"id": quote_id, **fields})
        # Guarantee every stage appears whatever the draws: the oldest quotes take the
        # closed stages, the newest the open ones.
        present = {q["quote_stage"] for q in self.quotes}
        oldest, newest = 0, len(self.quotes) - 1
        for stage in (s for s in QUOTE_STAGES if s not in present):
            if stage.startswith("Closed") or stage in ("On Hold", "Confirmed"):
                target, oldest = self.quotes[oldest], oldest + 1
            else:
                target, newest = self.quotes[newest], newest - 1
            target["quote_stage"] = stage
            self._record(target["id"]).fields["quote_stage"] = stage

    def _record(self, record_id: str) -> DemoRecord:
        for record in reversed(self.records):
            if record.id == record_id:
                return record
        raise KeyError(record_id)

    def build_invoices(self) -> None:
        rng = self.rng
        dates = sorted(self.days_ago(1, 3 * 365) for _ in range(N_INVOICES))
        self.invoices: list[dict[str, Any]] = []
        payments: list[tuple[dt.date, dict[str, Any], list[tuple[str, Decimal]]]] = []
        accepted = [q for q in self.quotes if q["quote_stage"] == "Closed Accepted"]
        for number, invoice_date in enumerate(dates, start=1001):
            account_index = rng.choices(range(len(self.accounts)), weights=(5, 4, 3, 2, 2))[0]
            account = self.accounts[account_index]
            invoice_id = self.new_id()
            terms = rng.choice(list(TERMS_DAYS))
            due_date = invoice_date + dt.timedelta(days=TERMS_DAYS[terms])
            age = (self.today - invoice_date).days
            if age < 10:
                stage = rng.choice(("Pending", "Pending", "Partially Shipped"))
            else:
                stage = rng.choices(SHIPPING_STAGES, weights=(1, 2, 17))[0]
            cancelled = rng.random() < 0.04
            from_quote = ""
            for quote in accepted:
                if quote["billing_account_id"] == account["id"] and quote["date_entered"][:10] <= d(
                    invoice_date
                ):
                    if rng.random() < 0.05:
                        from_quote = quote["id"]
                    break
            fields: dict[str, Any] = {
                "prefix": "INV-",
                "invoice_number": number,
                "full_number": f"INV-{number}",
                "name": f"{rng.choice(TITLES)} - {account['name']}",
                "invoice_date": d(invoice_date),
                "due_date": d(due_date),
                "terms": terms,
                "shipping_stage": stage,
                "cancelled": cancelled,
                "purchase_order_num": f"PO-{rng.randint(10000, 99999)}"
                if rng.random() < 0.6
                else "",
                "from_quote_id": from_quote,
                "date_entered": ts(invoice_date, rng),
                **self.party_fields(account_index),
            }
            groups, lines, adjustments = self.line_items(
                "Invoice", "invoice_id", invoice_id, account["currency"]
            )
            amount = Decimal(self.store_tally("Invoice", fields, groups, lines, adjustments))
            fields["amount"] = m(amount)
            paid = Decimal(0)
            if not cancelled:
                roll = rng.random()
                share = (0.85, 0.05) if age > 60 else (0.35, 0.15)
                if roll < share[0]:
                    paid = amount
                elif roll < share[0] + share[1]:
                    paid = (amount * Decimal(rng.choice((25, 40, 50))) / 100).quantize(
                        Decimal("0.01")
                    )
            fields["amount_due"] = m(Decimal(0) if cancelled else amount - paid)
            self.add("Invoice", fields, invoice_id)
            self.invoices.append({"id": invoice_id, **fields})
            if paid:
                latest = min(self.today, due_date + dt.timedelta(days=20))
                span = max((latest - invoice_date).days, 0)
                pay_date = invoice_date + dt.timedelta(days=rng.randint(0, span))
                payment = {
                    "payment_type": rng.choice(PAYMENT_TYPES),
                    "payment_date": d(pay_date),
                    "amount": m(paid),
                    "currency_id": fields["currency_id"],
                    "exchange_rate": fields["exchange_rate"],
                    "account_id": account["id"],
                    "direction": "incoming",
                    "customer_reference": fields["purchase_order_num"],
                }
                payments.append((pay_date, payment, [(invoice_id, paid)]))
        payments.sort(key=lambda item: item[0])
        for number, (_, payment, applied) in enumerate(payments, start=3001):
            payment.update(prefix="PMT-", payment_id=number, full_number=f"PMT-{number}")
            payment_id = self.add("Payment", payment)
            for invoice_id, amount in applied:
                self.link(
                    "Invoice",
                    invoice_id,
                    "invoices_payments",
                    "Payment",
                    payment_id,
                    applied_amount=m(amount),
                )

    # --- documents and notes ---

    def build_documents(self) -> None:
        rng = self.rng
        specs: list[tuple[str, str, str]] = []  # (name, ext, category)
        pdf_names = [
            "Service Agreement",
            "Maintenance Report",
            "Product Brochure 2025",
            "Safety Data Sheet - Cutting Discs",
            "Warranty Certificate",
            "Delivery Note",
            "Installation Checklist",
            "Training Certificate",
            "Calibration Report",
            "Price List Q3",
            "Terms and Conditions",
            "Framework Contract",
            "Inspection Protocol",
            "Site Survey Summary",
        ]
        specs += [(name, "pdf", "Sales") for name in pdf_names]
        specs += [
            (name, "png", "Knowledge Base")
            for name in (
                "Workshop Layout",
                "Loading Dock Photo",
                "Wiring Diagram",
                "Tool Wall Plan",
                "Damaged Pallet Photo",
                "Logo Artwork",
                "Shelving Sketch",
                "Label Sample",
            )
        ]
        specs += [
            (name, "docx", "Sales")
            for name in (
                "Project Proposal",
                "Meeting Minutes",
                "Statement of Work",
                "Change Request",
                "Letter of Intent",
                "Onboarding Guide",
            )
        ]
        specs += [
            (name, "csv", "Sales")
            for name in (
                "Order History Export",
                "Spare Parts List",
                "Asset Register",
                "Delivery Schedule",
                "Tool Inventory",
                "Price Comparison",
                "Service Log",
                "Usage Statistics",
            )
        ]
        specs += [
            ("Release Notes", "txt", "Knowledge Base"),
            ("Read Me First", "txt", "Knowledge Base"),
            ("Überblick Préférences", "txt", "Knowledge Base"),
            ("Checkliste Wareneingang", "txt", "Knowledge Base"),
        ]
        assert len(specs) == N_DOCUMENTS
        for index, (name, ext, category) in enumerate(specs):
            when = self.days_ago(5, 900)
            # Every account gets documents (the non-ASCII file goes to the German customer);
            # company-wide documents and the account-less contact's one have no account.
            if name in COMPANY_WIDE_DOCUMENTS or name == LONER_DOCUMENT:
                account_index = None
            elif name == "Überblick Préférences":
                account_index = 0
            else:
                account_index = index % len(self.accounts)
            account = self.accounts[account_index] if account_index is not None else None
            filename = f"{name}.{ext}"
            content = self.file_content(name, ext, when, account["name"] if account else "")
            document_id = self.add_document(
                name, filename, MIMETYPES[ext], len(content), category, when, account_index, content
            )
            if name == LONER_DOCUMENT:
                loner = next(c for c in self.contacts if c["account_index"] is None)
                self.link("Document", document_id, "contacts", "Contact", loner["id"])
        # The large file belongs to the first account; its bytes are served by chunks.
        self.add_document(
            LARGE_DOCUMENT.name,
            LARGE_DOCUMENT.filename,
            LARGE_DOCUMENT.mimetype,
            LARGE_DOCUMENT.size,
            "Knowledge Base",
            self.today - dt.timedelta(days=3),
            0,
            None,
            document_id=LARGE_DOCUMENT.id,
            revision_id=LARGE_DOCUMENT.revision_id,
        )
        del rng

    def add_document(
        self,
        name: str,
        filename: str,
        mimetype: str,
        size: int,
        category: str,
        when: dt.date,
        account_index: int | None,
        content: bytes | None,
        document_id: str | None = None,
        revision_id: str | None = None,
    ) -> str:
        rng = self.rng
        document_id = document_id or self.new_id()
        revision_id = revision_id or self.new_id()
        stamp = ts(when, rng)
        ext = filename.rsplit(".", 1)[-1]
        fields: dict[str, Any] = {
            "document_name": name,
            "name": name,
            "document_revision_id": revision_id,
            "revision": "1",
            "category_id": category,
            "subcategory_id": "",
            "status_id": rng.choice(("Approved", "Approved", "Draft", "To Be Approved")),
            "description": f"{name} ({ext.upper()})",
            "filename": filename,
            "file_mime_type": mimetype,
            "file_ext": ext,
            "file_size": size,
            "active_date": d(when),
            "date_entered": stamp,
            "date_modified": stamp,
        }
        if content is None:
            fields["is_large_file"] = True
        self.add("Document", fields, document_id)
        self.add(
            "DocumentRevision",
            {
                "document_id": document_id,
                "revision": "1",
                "filename": filename,
                "file_mime_type": mimetype,
                "file_ext": ext,
                "file_size": size,
                "change_log": "Document created",
                "date_entered": stamp,
            },
            revision_id,
        )
        if content is not None:
            self.files.append(DemoFile("Document", document_id, filename, mimetype, content))
        if account_index is not None:
            self.link(
                "Document", document_id, "accounts", "Account", self.accounts[account_index]["id"]
            )
            people = [c for c in self.contacts if c["account_index"] == account_index]
            if people and rng.random() < 0.4:
                self.link("Document", document_id, "contacts", "Contact", rng.choice(people)["id"])
        return document_id

    def file_content(self, name: str, ext: str, when: dt.date, owner: str) -> bytes:
        rng = self.rng
        paragraphs = [
            f"Prepared for {owner}." if owner else "Applies to all customers.",
            f"Reference {rng.randint(1000, 9999)}-{when.year}. "
            "Please keep this document with your equipment records.",
            "All work was carried out according to the manufacturer's instructions and "
            "the applicable safety regulations. Questions: service@northwind-tools.example.com.",
        ]
        if ext == "pdf":
            return make_pdf(name, paragraphs, when)
        if ext == "png":
            return make_png(rng.randint(48, 96), rng.randint(32, 64), rng.randint(0, 9))
        if ext == "docx":
            return make_docx(name, paragraphs, when)
        if ext == "csv":
            rows = []
            for _ in range(rng.randint(5, 15)):
                product, part, price = rng.choice(PRODUCTS)
                rows.append(
                    [
                        part,
                        product,
                        str(rng.randint(1, 40)),
                        price,
                        d(when - dt.timedelta(days=rng.randint(0, 300))),
                    ]
                )
            rows.append(["X-ÄÖÜ", "Sonderanfertigung Größe M", "1", "0.00", d(when)])
            return make_csv(["part_no", "product", "quantity", "unit_price", "date"], rows)
        text = (
            f"{name}\n{'=' * len(name)}\n\n"
            + "\n".join(paragraphs)
            + "\n\nGrüße aus der Werkstatt - Ça marche, naïve café, Zoë.\n"
        )
        return text.encode("utf-8")

    def build_notes(self) -> None:
        rng = self.rng
        note_specs = [  # name, parent kind, attachment ext or "", portal_flag
            ("Site visit summary", "Accounts", "pdf", True),
            ("Photo of installed tool wall", "Accounts", "png", True),
            ("Internal: credit check", "Accounts", "txt", False),
            ("Call notes", "Contacts", "", True),
            ("Signed delivery note", "Invoice", "pdf", True),
            ("Payment reminder sent", "Invoice", "", True),
            ("Internal: margin approval", "Invoice", "txt", False),
            ("Packing photo", "Invoice", "png", True),
            ("Quote clarification", "Quotes", "", True),
            ("Competitor offer (internal)", "Quotes", "pdf", False),
            ("Onboarding checklist", "Contacts", "txt", True),
            ("Dock measurements", "Accounts", "png", True),
            ("Warranty claim photo", "Invoice", "png", True),
            ("Renewal reminder", "Accounts", "", True),
            ("Internal: collection notes", "Invoice", "", False),
            ("Service report", "Invoice", "pdf", True),
        ]
        for round_ in range(2):
            for name, parent_type, ext, portal_flag in note_specs:
                account_index = rng.randrange(len(self.accounts))
                account = self.accounts[account_index]
                people = [c for c in self.contacts if c["account_index"] == account_index]
                contact_id = rng.choice(people)["id"] if people else ""
                when = self.days_ago(1, 700)
                if parent_type == "Accounts":
                    parent_id = account["id"]
                elif parent_type == "Contacts":
                    parent_id = contact_id
                elif parent_type == "Invoice":
                    mine = [i for i in self.invoices if i["billing_account_id"] == account["id"]]
                    parent_id = rng.choice(mine)["id"]
                else:
                    mine = [q for q in self.quotes if q["billing_account_id"] == account["id"]]
                    parent_id = rng.choice(mine)["id"] if mine else account["id"]
                    if not mine:
                        parent_type = "Accounts"
                title = name if round_ == 0 else f"{name} ({when.year})"
                filename = (
                    f"{title.lower().replace(' ', '-').replace(':', '')}.{ext}" if ext else ""
                )
                content = self.file_content(title, ext, when, account["name"]) if ext else b""
                note_id = self.new_id()
                self.add(
                    "Note",
                    {
                        "name": title,
                        "description": f"{title}. Logged by Sally Seller.",
                        "filename": filename,
                        "file_mime_type": MIMETYPES[ext] if ext else "",
                        "file_size": len(content),
                        "parent_type": parent_type,
                        "parent_id": parent_id,
                        "portal_flag": portal_flag,
                        "contact_id": contact_id,
                        "account_id": account["id"],
                        "date_entered": ts(when, rng),
                    },
                    note_id,
                )
                if ext:
                    self.files.append(DemoFile("Note", note_id, filename, MIMETYPES[ext], content))

    def build_cases(self) -> None:
        rng = self.rng
        subjects = [
            ("Drill battery does not charge", "PC Hardware"),
            ("Missing items in delivery", "Office Supplies"),
            ("Request for calibration certificate", "Documentation"),
            ("Invoice address needs correcting", "Documentation"),
            ("Grinder vibrates at high speed", "PC Hardware"),
            ("Training date change", "User Training"),
            ("Portal login question", "Website"),
            ("Warranty repair request", "PC Hardware"),
        ]
        for number, index in enumerate(range(16), start=2001):
            name, category = subjects[index % len(subjects)]
            account_index = rng.randrange(len(self.accounts))
            people = [c for c in self.contacts if c["account_index"] == account_index]
            opened = self.days_ago(0, 500)
            closed = index % 3 != 0
            self.add(
                "aCase",
                {
                    "case_number": number,
                    "name": name,
                    "category": category,
                    "status": rng.choice(("Closed - Complete", "Closed - No Fault"))
                    if closed
                    else rng.choice(("Active - New", "Active - Assigned", "Pending")),
                    "priority": rng.choice(("P1", "P2", "P3")),
                    "description": f"{name}. Reported by phone.",
                    "date_entered": ts(opened, rng),
                    "date_closed": d(
                        min(self.today, opened + dt.timedelta(days=rng.randint(1, 20)))
                    )
                    if closed
                    else "",
                    "account_id": self.accounts[account_index]["id"],
                    "cust_contact_id": rng.choice(people)["id"] if people else "",
                },
            )


def build_demo_data(today: dt.date) -> DemoData:
    """Build the whole demo data set for `today`; see the module docstring for the contract."""
    builder = _Builder(today)
    builder.build_parties()
    builder.build_quotes()
    builder.build_invoices()
    builder.build_documents()
    builder.build_notes()
    builder.build_cases()
    from crm_emulator.demo_support import build_support  # its own module: issue 14

    build_support(builder)
    users = [
        DemoUser(
            "1",
            "admin",
            DEMO_PASSWORD,
            "Administrator",
            True,
            "Ada",
            "Admin",
            "admin@northwind-tools.example.com",
        ),
        DemoUser(
            builder.new_id(),
            "sally",
            DEMO_PASSWORD,
            "Sales",
            False,
            "Sally",
            "Seller",
            "sally.seller@northwind-tools.example.com",
        ),
    ]
    return DemoData(builder.records, builder.files, users, builder.links)
