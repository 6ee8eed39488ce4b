"""Personal data (issue 16): `/printer/pdf/personal/{model}/{id}` and
`/data/erase_personal/{model}/{id}`, as the reference describes them.

Which fields are personal is `schema.PERSONAL_FIELDS` (marked `"personal": true` in
`/meta/fields`). Our choices where the reference is silent (docs/emulator.md):

* the print is a PDF listing the record's personal fields with their labels, in English,
  German or French from Accept-Language;
* erasure is a POST with `{"data": {"fields": "a,b"}}`; it empties exactly the listed
  fields. A name that is not a personal field of the model is 400 (nothing erased), so a
  caller cannot use it as a general-purpose write. Contacts' tokens may not erase (403):
  erasure is a staff operation in 1CRM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from crm_emulator import access, files, schema, store, tallies, webhooks
from crm_emulator.errors import ApiError
from crm_emulator.views import (
    allow,
    json_body,
    label_languages,
    language,
    model_def,
    principal,
)

FONTS = Path(__file__).resolve().parent / "fonts"
TITLES = {
    "en": "Personal data",
    "de": "Personenbezogene Daten",
    "fr": "Données personnelles",
}


def _personal_fields(model: str) -> frozenset[str]:
    model_def(model)
    fields = schema.PERSONAL_FIELDS.get(model)
    if not fields:
        raise ApiError(
            400,
            "invalid_parameter",
            f"{model} has no personal data fields",
            hint="Personal data: " + ", ".join(sorted(schema.PERSONAL_FIELDS)),
        )
    return fields


def print_personal(request: HttpRequest, model: str, record_id: str) -> HttpResponse:
    allow(request, "GET")
    caller = principal(request)
    access.require(caller, "read")
    personal = _personal_fields(model)
    access.check_model(caller, model)
    access.require_staff_for_bytes(caller, "printed PDFs")  # the strict profile's reading
    record = access.get_visible(caller, model, record_id)
    lang = language(request, label_languages())
    definition = schema.MODELS[model]
    rows = [
        (schema.label(definition.fields[name].label, lang), str(record.get(name) or ""))
        for name in definition.fields
        if name in personal
    ]
    pdf = _render(TITLES[lang], store.display_name(model, record), rows)
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"{model}-{record_id}-personal-data.pdf"
    response["Content-Disposition"] = files.content_disposition(name)
    response["X-OneCRM-Filename"] = files.header_filename(name)
    response["Content-Language"] = lang
    return response


def _render(title: str, who: str, rows: list[tuple[str, str]]) -> bytes:
    from fpdf import FPDF

    # One render at a time, with the tally prints: fpdf2's font subsetting is not
    # thread-safe (crm_emulator/tallies.py).
    with tallies._render_lock:
        pdf = FPDF()
        pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
        pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        pdf.add_page()
        pdf.set_font("DejaVu", "B", 16)
        pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 12)
        pdf.cell(0, 8, who, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        for label, value in rows:
            pdf.set_font("DejaVu", "B", 10)
            pdf.cell(60, 7, label)
            pdf.set_font("DejaVu", "", 10)
            pdf.multi_cell(0, 7, value or "-", new_x="LMARGIN", new_y="NEXT")
        return bytes(pdf.output())


def erase_personal(request: HttpRequest, model: str, record_id: str) -> JsonResponse:
    allow(request, "POST")
    caller = principal(request)
    access.require(caller, "write")
    personal = _personal_fields(model)
    if caller.is_contact:
        raise ApiError(403, "forbidden", "Contacts may not erase personal data")
    access.check_model(caller, model, "update")
    access.get_visible(caller, model, record_id)
    data: Any = json_body(request).get("data")
    listed = data.get("fields") if isinstance(data, dict) else None
    if not isinstance(listed, str) or not listed.strip():
        raise ApiError(
            400,
            "invalid_parameter",
            "data.fields must be a comma-separated string of field names",
        )
    names = [name.strip() for name in listed.split(",") if name.strip()]
    refused = sorted(set(names) - personal)
    if refused:
        raise ApiError(
            400,
            "invalid_parameter",
            f"Not personal data fields of {model}: " + ", ".join(refused),
            hint=f"See /meta/fields/{model} (fields marked personal)",
        )
    before, after = store.update(model, record_id, dict.fromkeys(names, ""))
    webhooks.record_changed(model, before, after)
    return JsonResponse({"result": True})
