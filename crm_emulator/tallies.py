"""`/tally` and `/printer/pdf`: gather a tally object's parts and hand them to the pure
`tally.compute_tally` and `printing.render_pdf` modules.

Until `printing.py` exists, a plain fpdf2 rendering stands in (number, lines, totals).
"""

from __future__ import annotations

import importlib
from typing import Any

from crm_emulator import store
from crm_emulator.tally import compute_tally


def parts_of(model: str, record_id: str) -> tuple[list[dict], list[dict], list[dict]]:
    key = f"{model.lower()}_id"
    groups = [g for g in store.records(f"{model}LineGroup") if g.get(key) == record_id]
    lines = [line for line in store.records(f"{model}Line") if line.get(key) == record_id]
    adjustments = [a for a in store.records(f"{model}Adjustment") if a.get(key) == record_id]
    return groups, lines, adjustments


def tally_of(model: str, record: dict) -> dict[str, Any]:
    groups, lines, adjustments = parts_of(model, str(record["id"]))
    return compute_tally(record, groups, lines, adjustments)


def render_pdf(tally: dict[str, Any], locale: dict[str, Any], language: str) -> bytes:
    try:
        printing = importlib.import_module("crm_emulator.printing")
    except ModuleNotFoundError:
        return _fallback_pdf(tally)
    return printing.render_pdf(tally, locale, language)


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
