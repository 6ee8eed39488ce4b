"""`/tally` and `/printer/pdf`: gather a tally object's parts and hand them to the pure
`tally.compute_tally` and `printing.render_pdf` modules.

Until `printing.py` exists, a plain fpdf2 rendering stands in (number, lines, totals).
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from crm_emulator import store
from crm_emulator.tally import compute_tally

_render_lock = threading.Lock()


def parts_of(model: str, record_id: str) -> tuple[list[dict], list[dict], list[dict]]:
    key = f"{model.lower()}_id"
    groups = [g for g in store.records(f"{model}LineGroup") if g.get(key) == record_id]
    lines = [line for line in store.records(f"{model}Line") if line.get(key) == record_id]
    adjustments = [a for a in store.records(f"{model}Adjustment") if a.get(key) == record_id]
    return groups, lines, adjustments


def tally_of(model: str, record: dict) -> dict[str, Any]:
    groups, lines, adjustments = parts_of(model, str(record["id"]))
    return compute_tally(record, groups, lines, adjustments)


TITLES = {
    ("Invoice", "en"): "Invoice",
    ("Invoice", "de"): "Rechnung",
    ("Quote", "en"): "Quote",
    ("Quote", "de"): "Angebot",
}


def currency_of(record: dict, base: dict[str, Any]) -> dict[str, Any]:
    """The record's currency in /meta/locale's `base_currency` shape."""
    currency = store.get("Currency", str(record.get("currency_id") or ""))
    if currency is None:
        return base
    return {
        **base,
        "name": currency.get("name", base.get("name")),
        "iso4217": currency.get("iso4217", base.get("iso4217")),
        "symbol": currency.get("symbol", base.get("symbol")),
    }


def render_pdf(model: str, tally: dict[str, Any], locale: dict[str, Any], language: str) -> bytes:
    """The printed document; account and contact names are added for the address block."""
    tally = {**tally, "record": dict(tally["record"])}
    record = tally["record"]
    account = store.get("Account", str(record.get("billing_account_id") or ""))
    contact = store.get("Contact", str(record.get("billing_contact_id") or ""))
    if account:
        record["billing_account_name"] = account.get("name", "")
    if contact:
        record["billing_contact_name"] = store.display_name("Contact", contact)
    locale = {**locale, "currency": currency_of(record, locale["base_currency"])}
    title = TITLES.get((model, language), model)
    try:
        printing = importlib.import_module("crm_emulator.printing")
    except ModuleNotFoundError:
        return _fallback_pdf(tally)
    # One at a time: concurrent renders share fpdf2/fontTools font state and fail
    # (KeyError in the font subset) when the server's threads print in parallel.
    with _render_lock:
        return printing.render_pdf(tally, title=title, locale=locale, language=language)


def _fallback_pdf(tally: dict[str, Any]) -> bytes:
    from fpdf import FPDF

    record = tally["record"]
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=16)

    def text(value: Any) -> str:
        return str(value).encode("latin-1", "replace").decode("latin-1")

    pdf.cell(
        0,
        10,
        text(f"{record.get('full_number', '')} {record.get('name', '')}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", size=10)
    for group in tally["groups"]:
        pdf.cell(0, 8, text(group["name"]), new_x="LMARGIN", new_y="NEXT")
        for line in group["line_items"]:
            pdf.cell(
                0,
                6,
                text(f"{line['name']}  {line['quantity'] or ''}  {line['ext_price'] or ''}"),
                new_x="LMARGIN",
                new_y="NEXT",
            )
    totals = tally["totals"]
    pdf.cell(
        0,
        8,
        text(f"Total {totals['total']} {record.get('currency_id', '')}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())
