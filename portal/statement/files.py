"""The statement as files: a PDF the portal prints itself, and a CSV for spreadsheets.

**PDF** (fpdf2): the CRM prints single records only, so the portal lays the statement out
itself: the portal's name and logo, the account's name and billing address, the date
and the period, then per currency the open items, the aging and the payments, with the
table headings repeated at the top of every page a table runs onto and "Page n of m" in
every footer. Words are the page language's (gettext, active in the rendering thread),
numbers, money and dates the CRM locale's (portal/formatting.py). Fonts are the DejaVu
Sans subsets in portal/fonts (Latin, Greek, Cyrillic, the currency signs), embedded and
subset again by fpdf2, so nothing is downloaded when printing. fpdf2 is pure Python and
already what the emulator prints with; table rows are drawn as plain text runs
(`FPDF.text`) rather than cells, which halved the time of a long statement
(`python -m bench statement` measures the time and memory).

**CSV**: one row per open item and per payment; ISO dates; plain decimal amounts
(`1234.50`, a point, no grouping) with the currency as its own column, so a
spreadsheet in any language reads numbers as numbers; UTF-8 with a byte-order mark,
because Excel opens a CSV without one in the machine's legacy code page and garbles
"Zoë Ångström-Müller" (LibreOffice, Numbers, Google Sheets and Python's `utf-8-sig`
read the mark as what it is). Text cells that a spreadsheet would run as a formula
(`=`, `+`, `-`, `@`, tab, carriage return first) get a leading apostrophe.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import functools
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _
from fontTools import ttLib
from fpdf import FPDF
from fpdf.fonts import SubsetMap

from crm_gateway import Account
from portal.formatting import CrmLocale, format_date, format_money
from portal.statement.ledger import BUCKETS, CurrencyStatement, Statement

logger = logging.getLogger(__name__)

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"
FONT = "DejaVu"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
MARGIN = 15.0
WIDTH = 180.0  # A4 (210 mm) less the margins
ROW = 5.6
PAD = 1.0  # mm inside a table cell, as fpdf2's own cells
INK = (33, 37, 41)
MUTED = (96, 103, 112)
RULE = (206, 212, 218)
SHADE = (241, 243, 245)


# --- Shared ---------------------------------------------------------------------------


def currency_code(currency_id: str, locale: CrmLocale) -> str:
    """The ISO code of a record's currency, else the CRM's own id for it."""
    found = locale.currency(currency_id)
    return found.iso4217 or currency_id


def plain_amount(value: Decimal, currency_id: str, locale: CrmLocale) -> str:
    """`1234.50`: the currency's decimal places, a point, no grouping, minus if negative."""
    digits = locale.currency(currency_id).significant_digits
    places = 2 if digits is None else digits
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"


def filename(statement: Statement, extension: str) -> str:
    period = statement.period
    return f"{_('Statement')} {period.start.isoformat()}\u2013{period.end.isoformat()}.{extension}"


def address_lines(account: Account) -> list[str]:
    """The account's billing address, a line each part (empty parts left out)."""
    town = " ".join(
        part for part in (account.billing_address_postalcode, account.billing_address_city) if part
    )
    lines = [
        account.billing_address_street or "",
        ", ".join(part for part in (town, account.billing_address_state or "") if part),
        account.billing_address_country or "",
    ]
    return [line.strip() for line in lines if line and line.strip()]


# --- CSV ------------------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _iso(day: dt.date | None) -> str:
    return day.isoformat() if day else ""


def csv_header() -> list[str]:
    return [
        _("Type"),
        _("Number"),
        _("Date"),
        _("Due date"),
        _("Days past due"),
        _("Aging"),
        _("Currency"),
        _("Amount"),
        _("Amount due"),
        _("Description"),
    ]


def csv_rows(statement: Statement, locale: CrmLocale) -> Iterator[list[str]]:
    invoice, payment = _("Invoice"), _("Payment")
    for part in statement.currencies:
        code = currency_code(part.currency, locale)
        for item in part.open_items:
            yield [
                invoice,
                _text(item.number),
                _iso(item.invoice_date),
                _iso(item.due_date),
                str(item.days_past_due),
                str(item.bucket_label),
                code,
                plain_amount(item.amount, part.currency, locale),
                plain_amount(item.amount_due, part.currency, locale),
                _text(item.subject),
            ]
        for paid in part.payments:
            yield [
                payment,
                _text(paid.number),
                _iso(paid.date),
                "",
                "",
                "",
                code,
                plain_amount(paid.amount, part.currency, locale),
                "",
                _text(paid.payment_type),
            ]


def csv_lines(statement: Statement, locale: CrmLocale) -> Iterator[str]:
    """The CSV, line by line (streamed: it is never held whole). The words are in the
    language active now: the rows are made here, before the response is streamed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    lines = ["\ufeff"]
    for row in [csv_header(), *csv_rows(statement, locale)]:
        writer.writerow(row)
        lines.append(buffer.getvalue())
        buffer.seek(0)
        buffer.truncate()
    return iter(lines)


# --- PDF ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementDocument:
    statement: Statement
    locale: CrmLocale
    portal_name: str
    account_name: str
    contact_name: str = ""
    address: list[str] = field(default_factory=list)
    logo: bytes = b""


@dataclass(frozen=True)
class Column:
    label: str
    width: float
    align: str = "L"


@functools.cache
def _font_template(style: str) -> tuple[Any, bytes]:
    """The font parsed once per process (about 8 ms each), with its file's bytes."""
    path = FONT_DIR / FONT_FILES[style]
    scratch = FPDF()
    scratch.add_font(FONT, style, str(path))
    return scratch.fonts[f"{FONT.lower()}{style}"], path.read_bytes()


def _install_fonts(pdf: Any) -> None:
    """Give `pdf` the fonts without parsing them again (as crm_emulator/printing.py does:
    a deep copy of the parsed font, with its own fontTools object and subset map)."""
    for style in FONT_FILES:
        template, data = _font_template(style)
        font = copy.deepcopy(template)
        font.i = len(pdf.fonts) + 1
        font.ttfont = ttLib.TTFont(io.BytesIO(data), recalcTimestamp=False, lazy=True)
        font.missing_glyphs = []
        font.subset = SubsetMap(font)
        pdf.fonts[template.fontkey] = font


class _Printer:
    def __init__(self, document: StatementDocument) -> None:
        class Pages(FPDF):
            footer_text = ""

            def footer(self) -> None:
                self.set_y(-12)
                self.set_font(FONT, "", 7.5)
                self.set_text_color(*MUTED)
                self.cell(0, 5, self.footer_text, align="L")
                self.set_x(MARGIN)
                page = _("Page %(page)s of %(pages)s") % {
                    "page": self.page_no(),
                    "pages": "{nb}",
                }
                self.cell(0, 5, page, align="R")

        self.document = document
        self.locale = document.locale
        self.dates: dict[dt.date, str] = {}  # a statement's dates repeat: formatted once
        pdf = Pages(format="A4", unit="mm")
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        pdf.set_auto_page_break(True, margin=18)
        _install_fonts(pdf)
        title = _("Statement of account")
        pdf.footer_text = f"{document.portal_name} · {title} · {document.account_name}"
        pdf.set_title(f"{title} \u2013 {document.account_name}")
        pdf.set_author(document.portal_name)
        pdf.set_creator(document.portal_name)
        pdf.set_lang(translation.get_language() or "en")
        today = document.statement.today
        pdf.set_creation_date(dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC))
        self.pdf = pdf

    def money(self, value: Decimal, currency: str) -> str:
        return format_money(value, self.locale, currency)

    def date(self, value: dt.date | None) -> str:
        if not value:
            return ""
        text = self.dates.get(value)
        if text is None:
            text = self.dates[value] = format_date(value, self.locale)
        return text

    def render(self) -> bytes:
        pdf = self.pdf
        pdf.add_page()
        self.head()
        statement = self.document.statement
        if statement.stopped:
            self.notice(
                _(
                    "This statement is incomplete: it stopped after reading %(count)s "
                    "records, the most a statement reads. Choose a shorter period, or ask "
                    "us for the full statement."
                )
                % {"count": statement.cap}
            )
        if statement.payments_failed:
            self.notice(_("The payments could not be read just now: they are missing below."))
        if not statement.currencies:
            self.paragraph(_("Nothing is open and no payment was received in this period."))
        for part in statement.currencies:
            self.currency(part)
        return bytes(pdf.output())

    # --- blocks
    def head(self) -> None:
        pdf, document = self.pdf, self.document
        top = pdf.get_y()
        left = MARGIN
        if document.logo:
            try:
                pdf.image(io.BytesIO(document.logo), x=MARGIN, y=top, h=12)
                left = MARGIN  # the name goes under the logo
                pdf.set_y(top + 14)
            except Exception as exc:  # a logo fpdf2 cannot read: the name alone
                logger.warning("statement PDF without the logo: %s", type(exc).__name__)
                pdf.set_y(top)
        pdf.set_x(left)
        pdf.set_text_color(*INK)
        pdf.set_font(FONT, "B", 12)
        pdf.cell(90, 6, document.portal_name, new_x="LMARGIN", new_y="NEXT")
        after_name = pdf.get_y()
        pdf.set_xy(MARGIN + 80, top)
        pdf.set_font(FONT, "B", 18)
        pdf.cell(100, 9, _("Statement of account"), align="R")
        statement = document.statement
        facts = [
            (_("Date"), self.date(statement.today)),
            (
                _("Period"),
                f"{self.date(statement.period.start)} \u2013 {self.date(statement.period.end)}",
            ),
        ]
        pdf.set_font(FONT, "", 9)
        y = top + 11
        for label, value in facts:
            pdf.set_xy(MARGIN + 80, y)
            pdf.set_text_color(*MUTED)
            pdf.cell(50, 5, label, align="R")
            pdf.set_text_color(*INK)
            pdf.cell(50, 5, value, align="R")
            y += 5
        pdf.set_xy(MARGIN, max(after_name + 4, top + 24))
        pdf.set_font(FONT, "B", 10)
        pdf.cell(90, 5.5, document.account_name, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "", 9)
        for line in document.address:
            pdf.cell(90, 4.6, line, new_x="LMARGIN", new_y="NEXT")
        if document.contact_name and document.contact_name != document.account_name:
            pdf.set_text_color(*MUTED)
            pdf.cell(
                90,
                4.6,
                _("For %(name)s") % {"name": document.contact_name},
                new_x="LMARGIN",
                new_y="NEXT",
            )
        pdf.set_text_color(*INK)
        pdf.ln(4)

    def notice(self, text: str) -> None:
        pdf = self.pdf
        pdf.set_font(FONT, "B", 9)
        pdf.set_fill_color(*SHADE)
        pdf.multi_cell(WIDTH, 5, text, border=0, fill=True, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)

    def paragraph(self, text: str) -> None:
        pdf = self.pdf
        pdf.set_font(FONT, "", 9)
        pdf.multi_cell(WIDTH, 5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def heading(self, text: str, size: float = 12) -> None:
        pdf = self.pdf
        if pdf.will_page_break(size + 3 * ROW):  # a heading never ends a page
            pdf.add_page()
        pdf.set_font(FONT, "B", size)
        pdf.set_text_color(*INK)
        pdf.cell(WIDTH, size * 0.6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def table(
        self,
        columns: Sequence[Column],
        rows: Sequence[Sequence[str]] | Iterator[Sequence[str]],
        total: Sequence[str] | None = None,
    ) -> None:
        """Rows under their headings; the headings again on every page it runs onto."""
        pdf = self.pdf

        def headings() -> None:
            pdf.set_font(FONT, "B", 8.5)
            pdf.set_text_color(*MUTED)
            pdf.set_draw_color(*RULE)
            for column in columns:
                pdf.cell(column.width, ROW, column.label, border="B", align=column.align)
            pdf.ln(ROW)
            pdf.set_font(FONT, "", 8.5)
            pdf.set_text_color(*INK)

        if pdf.will_page_break(ROW * 2):
            pdf.add_page()
        headings()
        for row in rows:
            if pdf.will_page_break(ROW):
                pdf.add_page()
                headings()
            self.line(columns, row)
        if total is not None:
            if pdf.will_page_break(ROW):
                pdf.add_page()
                headings()
            pdf.set_font(FONT, "B", 8.5)
            for column, text in zip(columns, total, strict=True):
                pdf.cell(column.width, ROW, text, border="T", align=column.align)
            pdf.ln(ROW)
            pdf.set_font(FONT, "", 8.5)
        pdf.ln(3)

    def line(self, columns: Sequence[Column], row: Sequence[str]) -> None:
        """One row of a table: plain text runs (`FPDF.text`, much cheaper than a `cell`,
        which matters on a statement of thousands of lines)."""
        pdf = self.pdf
        top = pdf.get_y()
        baseline = top + ROW * 0.68
        left = MARGIN
        for column, text in zip(columns, row, strict=True):
            if text:
                if column.align == "R":
                    x = left + column.width - PAD - pdf.get_string_width(text)
                else:
                    x = left + PAD
                pdf.text(x, baseline, text)
            left += column.width
        pdf.set_y(top + ROW)

    def currency(self, part: CurrencyStatement) -> None:
        code = currency_code(part.currency, self.locale)
        name = self.locale.currency(part.currency).name
        self.heading(
            _("Amounts in %(currency)s") % {"currency": f"{code} ({name})" if name else code}
        )
        money = functools.partial(self.money, currency=part.currency)

        self.heading(_("Open items"), 10)
        if part.open_items:
            self.table(
                [
                    Column(_("Number"), 32),
                    Column(_("Invoice date"), 27),
                    Column(_("Due date"), 27),
                    Column(_("Days past due"), 24, "R"),
                    Column(_("Amount"), 35, "R"),
                    Column(_("Amount due"), 35, "R"),
                ],
                (
                    [
                        item.number,
                        self.date(item.invoice_date),
                        self.date(item.due_date),
                        str(item.days_past_due) if item.days_past_due else "",
                        money(item.amount),
                        money(item.amount_due),
                    ]
                    for item in part.open_items
                ),
                total=["", "", "", "", _("Total due"), money(part.total_due)],
            )
        else:
            self.paragraph(_("No open items in this currency."))

        self.heading(_("Aging"), 10)
        width = WIDTH / (len(BUCKETS) + 1)
        self.table(
            [Column(str(label), width, "R") for _key, label in BUCKETS]
            + [Column(_("Total"), width, "R")],
            [[money(amount) for _k, _l, amount in part.buckets] + [money(part.total_due)]],
        )

        self.heading(_("Payments received in the period"), 10)
        if self.document.statement.payments_failed:
            self.paragraph(_("The payments could not be read just now."))
        elif part.payments:
            self.table(
                [
                    Column(_("Number"), 40),
                    Column(_("Date"), 35),
                    Column(_("Payment type"), 60),
                    Column(_("Amount"), 45, "R"),
                ],
                (
                    [paid.number, self.date(paid.date), paid.payment_type, money(paid.amount)]
                    for paid in part.payments
                ),
                total=["", "", _("Total received"), money(part.total_paid)],
            )
        else:
            self.paragraph(_("No payments received in this currency in this period."))
        self.pdf.ln(2)


def render_pdf(document: StatementDocument) -> bytes:
    """The statement's PDF (CPU work: call it in a thread)."""
    return _Printer(document).render()
