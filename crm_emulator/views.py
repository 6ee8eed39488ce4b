"""The emulated 1CRM REST API under /1crm/api.php (routing in `urls.py`).

Every view authenticates through `principal()`, checks access with `access.py`, and
answers JSON; errors are `ApiError`s, turned into the CRM's error shape by the middleware.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse, QueryDict

from crm_emulator import (
    access,
    auth,
    control,
    files,
    oauth,
    profiles,
    schema,
    store,
    tallies,
    webhooks,
)
from crm_emulator.errors import ApiError
from crm_emulator.filtering import (
    DATE_OPERATORS,
    build_predicates,
    parse_order,
    sort_records,
    text_predicate,
)
from crm_emulator.query import int_param, list_param, map_param, parse_query, scalar

VERSION = "8.6.2"
MAX_JSON_BODY = 10 * 1024 * 1024


# --- helpers -------------------------------------------------------------------------------


def principal(request: HttpRequest) -> auth.Principal:
    cached = getattr(request, "_emulator_principal", None)
    if cached is None:
        cached = auth.authenticate(request, bool(control.switch("basic_auth")))
        request._emulator_principal = cached  # type: ignore[attr-defined]
    return cached


def language(request: HttpRequest, offered: frozenset[str] = frozenset({"de", "en"})) -> str:
    """`de` or `en` (or another of `offered`) from Accept-Language (highest q wins;
    default the base language)."""
    best, best_q = profiles.base_language(), -1.0
    for part in request.headers.get("Accept-Language", "").split(","):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower()[:2]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if code in offered and q > best_q:
            best, best_q = code, q
    return best


def json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "invalid_request", "Invalid Content-Length") from None
    if length > MAX_JSON_BODY:
        raise ApiError(413, "request_too_large", "The request body is too large")
    if not request.body:
        return {}
    if request.content_type == "application/x-www-form-urlencoded":
        # Parsed by hand: Django only fills request.POST for POST, not PUT/PATCH.
        form = QueryDict(request.body, encoding=request.encoding)
        return {key: form.get(key) for key in form}
    try:
        body = json.loads(request.body)
    except ValueError:
        raise ApiError(400, "invalid_request", "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object")
    return body


def model_def(name: str) -> schema.ModelDef:
    definition = schema.MODELS.get(name)
    if definition is None:
        raise ApiError(404, "not_found", f"Model {name} not found")
    return definition


def public_fields(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def render(model: str, record: dict, fields: list[str] | None) -> dict:
    """A stored record as the API shows it (before the profile's wire shape)."""
    if fields is None:
        out = public_fields(record)
    else:
        out = {"id": record["id"], **{name: record.get(name) for name in fields}}
    out["id"] = record["id"]
    out["_display"] = store.display_name(model, record)
    return out


def shown(model: str, record: dict, fields: list[str] | None) -> dict:
    """A stored record as this profile sends it (vocabulary, numbers, empty fields)."""
    return profiles.present(model, render(model, record, fields))


def requested_fields(
    definition: schema.ModelDef, params: dict, default: tuple[str, ...] | None
) -> list[str] | None:
    fields = list_param(params, "fields")
    if fields is None:
        return list(default) if default is not None else None
    unknown = [name for name in fields if name not in definition.fields]
    if unknown:
        raise ApiError(
            400,
            "invalid_parameter",
            f"Unknown field(s) for {definition.name}: " + ", ".join(unknown),
            hint=f"See /meta/fields/{definition.name}",
        )
    return fields


def allow(request: HttpRequest, *methods: str) -> None:
    if request.method not in methods:
        raise ApiError(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed here",
            headers={"Allow": ", ".join(methods)},
        )


def list_response(
    request: HttpRequest,
    caller: auth.Principal,
    definition: schema.ModelDef,
    rows: list[dict],
    extra: dict[str, dict] | None = None,
) -> JsonResponse:
    params = parse_query(request.META.get("QUERY_STRING", ""))
    fields = requested_fields(definition, params, definition.list_fields)
    offset = int_param(params, "offset", 0, 0, None)
    limit = int_param(params, "limit", 20, 1, 200)
    filters = map_param(params, "filters")
    by_link = _document_owner_predicates(definition, filters)
    predicates = build_predicates(
        definition,
        filters,
        store.ids_with_name,
        literal=bool(control.switch("literal_filters")),
        stored_value=profiles.stored_value,
    )
    predicates += by_link
    if definition.name == "aCase" and not _lists_closed(params):
        predicates.append(_is_open_case)
    text = scalar(params, "filter_text")
    if text:
        predicates.append(text_predicate(definition, text))
    order_field, descending = parse_order(definition, scalar(params, "order"))
    name = definition.name
    matching = [
        r for r in rows if access.visible(caller, name, r) and all(p(r) for p in predicates)
    ]
    ordered = sort_records(matching, order_field, descending)
    page = ordered[offset : offset + limit]
    records = []
    for record in page:
        rendered = render(name, record, fields)
        if extra and record["id"] in extra:
            rendered.update(extra[record["id"]])
        records.append(profiles.present(name, rendered))
    total = profiles.wire_numbers(len(matching))
    return JsonResponse({"records": records, "total_results": total})


# `view_closed=1` (also `true`, `yes`, `on`): the vendor's portal asks for closed cases.
VIEW_CLOSED_VALUES = frozenset({"1", "true", "yes", "on"})


def _lists_closed(params: dict) -> bool:
    """Whether a case list includes closed cases: only when asked with `view_closed`
    (as the vendor's portal asks), or always where `view_closed_ignored` is on (a CRM
    that does not know the parameter lists every case)."""
    if control.switch("view_closed_ignored"):
        return True
    value = scalar(params, "view_closed")
    return value is not None and value.strip().lower() in VIEW_CLOSED_VALUES


def _is_open_case(record: dict) -> bool:
    """Open by the stored (demo) status: 1CRM's closed keys start with "Closed"."""
    return not str(record.get("status") or "").startswith("Closed")


# Document filters that `document_filters_by_link` answers through the join links.
DOCUMENT_OWNER_FILTERS = {
    "account_id": ("Account", "documents"),
    "contact_id": ("Contact", "documents"),
}


def _document_owner_predicates(definition: schema.ModelDef, filters: dict) -> list:
    """`document_filters_by_link`: `filters[account_id]` (and `contact_id`) on Document
    match the documents linked to that account (contact), as a CRM that files documents
    under accounts by relationship would answer them. Takes those filters out of `filters`."""
    if definition.name != "Document" or not control.switch("document_filters_by_link"):
        return []
    predicates = []
    for name, (owner_model, link) in DOCUMENT_OWNER_FILTERS.items():
        value = filters.get(name)
        if not isinstance(value, str):
            continue
        del filters[name]
        owner_id = value.strip()
        linked = set(store.linked(owner_model, owner_id, link))

        def owned(record: dict, field: str = name, owner_id: str = owner_id, linked=linked) -> bool:
            return record["id"] in linked or str(record.get(field) or "") == owner_id

        predicates.append(owned)
    return predicates


# --- simple endpoints ----------------------------------------------------------------------


def version(request: HttpRequest) -> JsonResponse:
    allow(request, "GET")
    try:
        authenticated = principal(request).kind != "anonymous"
    except ApiError:
        authenticated = False
    return JsonResponse(
        {"version": VERSION, "products": ["enterprise"], "authenticated": authenticated}
    )


def public_key(request: HttpRequest) -> JsonResponse:
    allow(request, "GET")
    return JsonResponse({"key": auth.public_key_pem()})


def me(request: HttpRequest) -> JsonResponse:
    allow(request, "GET")
    caller = principal(request)
    access.require(caller, "profile")
    if caller.is_contact:
        contact = caller.contact
        answer = {
            "id": f"Contacts:{caller.contact_id}",
            "name": store.display_name("Contact", contact),
            "first_name": contact.get("first_name", ""),
            "last_name": contact.get("last_name", ""),
            "email": contact.get("email1", ""),
            "primary_account_id": contact.get("primary_account_id", ""),
            "portal_active": contact.get("portal_active"),
            "role": "contact",
            "groups": [],
            "timezone": "UTC",
        }
        # The reference documents only the user's fields: a CRM may leave out ours.
        me_fields = control.switch("me_fields")
        if me_fields != "all":
            answer.pop("portal_active")
        if me_fields == "documented":
            answer.pop("primary_account_id")
        return JsonResponse(answer)
    user = caller.user
    return JsonResponse(
        {
            "id": f"Users:{caller.user_id}",
            "name": user.get("user_name", ""),
            "first_name": user.get("first_name", ""),
            "last_name": user.get("last_name", ""),
            "role": "admin" if caller.is_admin else str(user.get("role") or "user"),
            "groups": list(user.get("groups") or []),
            "email": user.get("email1", ""),
            "timezone": "UTC",
        }
    )


def portal_auth(request: HttpRequest) -> JsonResponse:
    allow(request, "POST")
    caller = principal(request)
    if caller.kind == "anonymous":
        access.require(caller, "read")
    return oauth.portal_auth(request, caller)


def not_emulated(request: HttpRequest, *args: str, **kwargs: str) -> JsonResponse:
    raise ApiError(
        501,
        "not_implemented",
        f"{request.path.removeprefix('/1crm/api.php')} is part of the 1CRM API but is not emulated",
        hint="See docs/emulator.md for what the emulator covers",
    )


# --- metadata ------------------------------------------------------------------------------

# Field labels come in English, German and French (issue 16); other texts en/de. The
# strict profile's German-based CRM has no French: `fr` gets its base language there.
LABEL_LANGUAGES = frozenset({"de", "en", "fr"})


def label_languages() -> frozenset[str]:
    return LABEL_LANGUAGES if profiles.base_language() == "en" else frozenset({"de", "en"})


FILTER_TYPES = {
    "contains": "varchar",
    "exact": "enum",
    "bool": "bool",
    "number": "number",
    "date": "date",
    "ref_name": "ref",
    "ref_id": "id",
}


def meta_fields(request: HttpRequest, model: str) -> JsonResponse:
    allow(request, "GET")
    caller = principal(request)
    access.require(caller, "read")
    definition = model_def(model)
    access.check_model(caller, model)
    lang = language(request, label_languages())
    personal = schema.PERSONAL_FIELDS.get(model, frozenset())
    fields: dict[str, dict] = {}
    for name, f in definition.fields.items():
        entry: dict[str, Any] = {"name": name, "type": f.type, "label": schema.label(f.label, lang)}
        if f.ref_model:
            entry["bean_name"] = f.ref_model
        if name in personal:
            entry["personal"] = True  # issue 16: the personal-data marker
        if f.options:
            keys = profiles.option_keys(model, name, f.options)
            entry["options"] = {k: profiles.option_label(model, name, k, lang) for k in keys}
        fields[name] = entry
    filters: dict[str, dict] = {}
    for name, flt in definition.filters.items():
        entry = {
            "name": name,
            "type": FILTER_TYPES[flt.kind],
            "label": schema.label(flt.label, lang),
        }
        if flt.kind == "ref_name":
            entry["id_name"] = flt.id_name
            entry["bean_name"] = flt.ref_model
        if flt.kind == "ref_id":
            entry["bean_name"] = flt.ref_model
        if flt.kind == "date":
            entry["operators"] = sorted(DATE_OPERATORS)
        if flt.kind == "exact":
            field_name = flt.fields[0]
            options = profiles.option_keys(model, field_name, definition.fields[field_name].options)
            if options:
                entry["options"] = {
                    o: profiles.option_label(model, field_name, o, lang) for o in options
                }
        filters[name] = entry
    response = JsonResponse({"fields": fields, "filters": filters})
    response["Content-Language"] = lang
    return response


LOCALES = {
    "en": {
        "date_format": "Y-m-d",
        "time_format": "H:i",
        "number_format": {"display": "1,234.56", "dec_sep": ".", "grp_sep": ","},
        "address_format": {"display": "US", "format": "{s}[ ]{c}|{S}|{P}[ ]{C}"},
    },
    "de": {
        "date_format": "d.m.Y",
        "time_format": "H:i",
        "number_format": {"display": "1.234,56", "dec_sep": ",", "grp_sep": "."},
        "address_format": {"display": "DE", "format": "{s}[ ]{P}|{c}[ ]{C}"},
    },
}


def locale_for(lang: str) -> dict[str, Any]:
    """The locale in a language; a German base locale keeps its installation's time zone."""
    base = copy.deepcopy(LOCALES[lang])
    base["base_currency"] = {
        "name": "Euro",
        "iso4217": "EUR",
        "symbol": "€",
        "significant_digits": 2,
        "symbol_place_after": lang == "de",
        "space_separate": True,
    }
    base["timezone"] = "Europe/Berlin" if profiles.base_language() == "de" else "UTC"
    base["language"] = lang
    return base


def meta_locale(request: HttpRequest) -> JsonResponse:
    allow(request, "GET")
    access.require(principal(request), "read")
    lang = language(request)
    response = JsonResponse(locale_for(lang))
    response["Content-Language"] = lang
    return response


MODULE_LABELS_DE = {
    "Accounts": "Firmen",
    "Contacts": "Kontakte",
    "Invoices": "Rechnungen",
    "Quotes": "Angebote",
    "Cases": "Tickets",
    "Notes": "Notizen",
    "Documents": "Dokumente",
    "Payments": "Zahlungen",
    "Users": "Benutzer",
    "Currencies": "Währungen",
    "ProductCatalog": "Produktkatalog",
}


def meta_modules(request: HttpRequest) -> JsonResponse:
    allow(request, "GET")
    caller = principal(request)
    access.require(caller, "read")
    lang = language(request)
    modules: dict[str, list[str]] = {}
    for name, definition in schema.MODELS.items():
        if caller.is_contact and name not in access.contact_models():
            continue
        modules.setdefault(definition.module, []).append(name)
    primary = {"Cases": "aCase"}
    listed = []
    for module, models in modules.items():
        entry = {
            "module": module,
            "primary_model": primary.get(module, models[0]),
            "models": models,
            "label": MODULE_LABELS_DE.get(module, module) if lang == "de" else module,
        }
        listed.append(entry)
    return JsonResponse({"list": listed})


# --- data ----------------------------------------------------------------------------------


def _validate_data(definition: schema.ModelDef, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_parameter", "data must be an object")
    unknown = [k for k in data if k not in definition.fields and k != "id"]
    if unknown:
        raise ApiError(
            400,
            "invalid_parameter",
            f"Unknown field(s) for {definition.name}: " + ", ".join(unknown),
            hint=f"See /meta/fields/{definition.name}",
        )
    clean: dict[str, Any] = {}
    for key, value in data.items():
        if key == "id":
            continue
        f = definition.fields[key]
        if isinstance(value, dict | list):
            raise ApiError(400, "invalid_parameter", f"Field {key!r} must be a single value")
        if f.type == "enum" and f.options and value not in (None, ""):
            if isinstance(value, str):
                value = profiles.stored_value(definition.name, key, value)
            if value not in f.options:
                keys = profiles.option_keys(definition.name, key, f.options)
                raise ApiError(
                    400,
                    "invalid_parameter",
                    f"Invalid value {data[key]!r} for {key}",
                    hint="One of " + ", ".join(o for o in keys if o),
                )
        if f.type == "file_ref" and value:
            stored = files.stored_file(str(value))
            if stored is None:
                raise ApiError(
                    400,
                    "invalid_parameter",
                    f"{key}: unknown uploaded file id {value!r}",
                    hint="Upload with /files/upload first and pass the returned id",
                )
            clean["_file_id"] = stored.file_id
            clean["file_mime_type"] = stored.mimetype
            clean["file_size"] = stored.size
            value = stored.name
        clean[key] = value
    return clean


def _contact_defaults(caller: auth.Principal, model: str, data: dict) -> dict:
    """What a contact creates belongs to the contact (and is visible to them)."""
    if not caller.is_contact:
        return data
    if model == "aCase":
        data.update(account_id=caller.account_id, cust_contact_id=caller.contact_id)
        data.setdefault("status", "Active - New")
    if model == "Note":
        data.update(account_id=caller.account_id, contact_id=caller.contact_id, portal_flag=True)
        parent_id = str(data.get("parent_id") or "")
        if parent_id:
            parent_model = access.MODULE_TO_MODEL.get(str(data.get("parent_type") or ""), "")
            parent_model = parent_model or str(data.get("parent_type") or "")
            if parent_model not in schema.MODELS:
                raise ApiError(400, "invalid_parameter", "Unknown parent_type")
            access.get_visible(caller, parent_model, parent_id)
    return data


def data_list(request: HttpRequest, model: str) -> HttpResponseBase:
    allow(request, "GET", "POST")
    caller = principal(request)
    definition = model_def(model)
    if request.method == "POST":
        access.require(caller, "write")
        access.check_model(caller, model, "create")
        body = json_body(request)
        data = _contact_defaults(caller, model, _validate_data(definition, body.get("data", {})))
        record_id = str(body.get("data", {}).get("id") or "") or None
        if record_id and store.get(model, record_id):
            raise ApiError(400, "invalid_parameter", f"{model} {record_id} already exists")
        created = store.create(model, data, record_id)
        webhooks.record_changed(model, None, created)
        return JsonResponse({"id": created["id"]})
    access.require(caller, "read")
    access.check_model(caller, model)
    return list_response(request, caller, definition, store.records(model))


def data_record(request: HttpRequest, model: str, record_id: str) -> JsonResponse:
    allow(request, "GET", "PUT", "PATCH", "DELETE")
    caller = principal(request)
    definition = model_def(model)
    if request.method == "GET":
        access.require(caller, "read")
        access.check_model(caller, model)
        record = access.get_visible(caller, model, record_id)
        params = parse_query(request.META.get("QUERY_STRING", ""))
        fields = requested_fields(definition, params, None)
        return JsonResponse({"record": shown(model, record, fields)})
    access.require(caller, "write")
    if request.method == "DELETE":
        access.check_model(caller, model, "delete")
        access.get_visible(caller, model, record_id)
        store.delete(model, record_id)
        return JsonResponse({"result": True})
    access.check_model(caller, model, "update")
    body = json_body(request)
    data = _validate_data(definition, body.get("data", {}))
    existing = store.get(model, record_id)
    if existing is None:
        create = body.get("create")
        if create is True or str(create).lower() in {"1", "true", "yes"}:
            access.check_model(caller, model, "create")
            created = store.create(model, _contact_defaults(caller, model, data), record_id)
            webhooks.record_changed(model, None, created)
            return JsonResponse({"result": True})
        raise ApiError(404, "not_found", f"{model} record {record_id} not found")
    access.get_visible(caller, model, record_id)
    if caller.is_contact:
        for locked in ("account_id", "cust_contact_id", "contact_id", "portal_flag"):
            data.pop(locked, None)
    before, after = store.update(model, record_id, data)
    webhooks.record_changed(model, before, after)
    return JsonResponse({"result": True})


def _link(definition: schema.ModelDef, link: str) -> schema.LinkDef:
    name = schema.LINK_ALIASES.get((definition.name, link), link)
    found = definition.links.get(name)
    if found is None:
        raise ApiError(404, "not_found", f"Link {link} not found for model {definition.name}")
    return found


def _related(model: str, record_id: str, link: schema.LinkDef) -> tuple[list[dict], dict]:
    join = store.linked(model, record_id, link.name)
    rows: dict[str, dict] = {}
    if link.via:
        rows = {r["id"]: r for r in store.records(link.model) if r.get(link.via) == record_id}
    for related_id in join:
        related = store.get(link.model, related_id)
        if related is not None:
            rows[related_id] = related
    extra = {related_id: data for related_id, data in join.items() if data}
    return list(rows.values()), extra


def data_related(request: HttpRequest, model: str, record_id: str, link: str) -> HttpResponseBase:
    allow(request, "GET", "POST")
    caller = principal(request)
    definition = model_def(model)
    link_def = _link(definition, link)
    related_def = model_def(link_def.model)
    if request.method == "GET":
        access.require(caller, "read")
        access.check_model(caller, model)
        access.check_model(caller, link_def.model)
        access.check_links(caller, model, link)
        access.get_visible(caller, model, record_id)
        rows, extra = _related(model, record_id, link_def)
        return list_response(request, caller, related_def, rows, extra)
    access.require(caller, "write")
    access.check_model(caller, model, "update")
    access.check_links(caller, model, link)
    access.get_visible(caller, model, record_id)
    body = json_body(request)
    items: list[tuple[str, dict]] = []
    for related_id in body.get("records") or []:
        if not isinstance(related_id, str) or not related_id:
            raise ApiError(400, "invalid_parameter", "records must be an array of ids")
        items.append((related_id, {}))
    for entry in body.get("records_with_data") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ApiError(400, "invalid_parameter", "records_with_data needs objects with id")
        items.append((entry["id"], {k: v for k, v in entry.items() if k != "id"}))
    if not items:
        raise ApiError(400, "invalid_parameter", "records or records_with_data is required")
    for related_id, _ in items:
        access.get_visible(caller, link_def.model, related_id)
    for related_id, data in items:
        if link_def.via:
            before, after = store.update(link_def.model, related_id, {link_def.via: record_id})
            webhooks.record_changed(link_def.model, before, after)
        else:
            store.add_link(model, record_id, link_def.name, related_id, data)
            reverse = schema.JOIN_REVERSE.get((model, link_def.name))
            if reverse:
                store.add_link(reverse[0], related_id, reverse[1], record_id, data)
    return JsonResponse({"result": True})


def data_unlink(
    request: HttpRequest, model: str, record_id: str, link: str, related_id: str
) -> JsonResponse:
    allow(request, "DELETE")
    caller = principal(request)
    definition = model_def(model)
    link_def = _link(definition, link)
    access.require(caller, "write")
    access.check_model(caller, model, "update")
    access.get_visible(caller, model, record_id)
    related = access.get_visible(caller, link_def.model, related_id)
    removed = False
    if link_def.via and related.get(link_def.via) == record_id:
        before, after = store.update(link_def.model, related_id, {link_def.via: ""})
        webhooks.record_changed(link_def.model, before, after)
        removed = True
    if store.remove_link(model, record_id, link_def.name, related_id):
        removed = True
    reverse = schema.JOIN_REVERSE.get((model, link_def.name))
    if reverse:
        store.remove_link(reverse[0], related_id, reverse[1], record_id)
    return JsonResponse({"result": removed})


# --- tally, printing, files ----------------------------------------------------------------


def _tally_record(request: HttpRequest, model: str, record_id: str) -> tuple[dict, dict]:
    caller = principal(request)
    access.require(caller, "read")
    model_def(model)
    access.check_model(caller, model)
    if model not in schema.TALLY_MODELS:
        raise ApiError(
            400,
            "invalid_parameter",
            f"{model} is not a tally model",
            hint="Tally objects here: " + ", ".join(schema.TALLY_MODELS),
        )
    record = access.get_visible(caller, model, record_id)
    return record, tallies.tally_of(model, render(model, record, None))


def tally(request: HttpRequest, model: str, record_id: str) -> JsonResponse:
    allow(request, "GET")
    data = _tally_record(request, model, record_id)[1]
    answer = {**data, "record": profiles.present(model, data["record"])}
    return JsonResponse(profiles.wire_numbers(answer))


def printer_pdf(request: HttpRequest, model: str, record_id: str) -> HttpResponse:
    allow(request, "GET")
    if model in schema.MODELS and model not in schema.TALLY_MODELS:
        caller = principal(request)
        access.require(caller, "read")
        raise ApiError(
            501,
            "not_implemented",
            f"Printing {model} records is not emulated",
            hint="The emulator prints Invoice and Quote",
        )
    access.require_staff_for_bytes(principal(request), "printed PDFs")
    record, data = _tally_record(request, model, record_id)
    lang = language(request)
    pdf = tallies.render_pdf(model, data, locale_for(lang), lang)
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"{model}-{record.get('full_number') or record_id}.pdf"
    response["Content-Disposition"] = files.content_disposition(name)
    response["X-OneCRM-Filename"] = files.header_filename(name)
    return response


def _file_record(request: HttpRequest, model: str, record_id: str) -> files.StoredFile:
    caller = principal(request)
    access.require(caller, "read")
    if model not in schema.FILE_MODELS:
        raise ApiError(
            400, "invalid_parameter", f"model must be one of {', '.join(schema.FILE_MODELS)}"
        )
    access.check_model(caller, model)
    record = access.get_visible(caller, model, record_id)
    return files.file_of(model, record)


def file_download(request: HttpRequest, model: str, record_id: str) -> HttpResponseBase:
    allow(request, "GET")
    access.require_staff_for_bytes(principal(request), "file downloads")
    return files.download_response(_file_record(request, model, record_id))


def file_info(request: HttpRequest, model: str, record_id: str) -> JsonResponse:
    allow(request, "GET")
    # Its temp_url hands out the bytes without credentials: as guarded as the download.
    access.require_staff_for_bytes(principal(request), "file information")
    stored = _file_record(request, model, record_id)
    temp_url = request.build_absolute_uri(
        f"/1crm/api.php/files/temp/{files.temp_token(stored.file_id)}"
    )
    info = files.info(stored, temp_url)
    if control.switch("sparse_records"):
        info.pop("mime_type", None)  # the undocumented spelling some clients read
    return JsonResponse(profiles.wire_numbers(info))


def file_temp(request: HttpRequest, token: str) -> HttpResponseBase:
    allow(request, "GET")
    return files.download_response(files.file_from_temp_token(token))


def file_upload(request: HttpRequest) -> JsonResponse:
    allow(request, "POST")
    access.require(principal(request), "write")
    return files.upload(request)


def file_upload_base64(request: HttpRequest) -> JsonResponse:
    allow(request, "POST")
    access.require(principal(request), "write")
    return files.upload_base64(request)


# --- oauth ---------------------------------------------------------------------------------


def oauth_authorize(request: HttpRequest, realm: str) -> HttpResponse:
    return oauth.authorize(request, realm)


def oauth_token(request: HttpRequest, realm: str) -> JsonResponse:
    return oauth.access_token(request, realm)


# --- webhooks ------------------------------------------------------------------------------


def webhook_list(request: HttpRequest) -> JsonResponse:
    allow(request, "GET", "POST")
    caller = principal(request)
    _webhook_caller(caller, "write" if request.method == "POST" else "read")
    if request.method == "POST":
        return JsonResponse(webhooks.create(caller, json_body(request)))
    params = parse_query(request.META.get("QUERY_STRING", ""))
    offset = int_param(params, "offset", 0, 0, None)
    limit = int_param(params, "limit", 20, 1, 200)
    return JsonResponse(webhooks.listing(caller, offset, limit))


def webhook_detail(request: HttpRequest, webhook_id: str) -> JsonResponse:
    allow(request, "GET", "PUT", "PATCH", "DELETE")
    caller = principal(request)
    _webhook_caller(caller, "read" if request.method == "GET" else "write")
    if request.method == "GET":
        return JsonResponse(webhooks.get(caller, webhook_id))
    if request.method == "DELETE":
        return JsonResponse(webhooks.delete(caller, webhook_id))
    return JsonResponse(webhooks.update(caller, webhook_id, json_body(request)))


def _webhook_caller(caller: auth.Principal, scope: str) -> None:
    access.require(caller, scope)
    if caller.is_contact:
        raise ApiError(403, "forbidden", "Contacts may not manage webhooks")
