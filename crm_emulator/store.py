"""The record store: the database is the truth, a process-wide cache serves reads.

The server runs one process (gunicorn, 1 worker, threads), so a cache guarded by a lock
stays coherent with the database as long as every write goes through this module. A
`generation` value written by `seed_emulator` makes a running server drop its cache
after a reseed.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import uuid
from collections import defaultdict
from typing import Any

from django.db import transaction

from crm_emulator import schema
from crm_emulator.models import Link, Record, State

_lock = threading.RLock()
_records: dict[str, dict[str, dict]] | None = None
_links: dict[tuple[str, str, str], dict[str, dict]] | None = None
_generation: str | None = None


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def new_id() -> str:
    return str(uuid.uuid4())


def current_generation() -> str:
    row = State.objects.filter(key="generation").values_list("value", flat=True).first()
    return row or ""


def _load() -> None:
    global _records, _links, _generation
    records: dict[str, dict[str, dict]] = defaultdict(dict)
    for model, record_id, data in Record.objects.values_list("model", "record_id", "data"):
        records[model][record_id] = data
        if model in schema.MODELS:
            for name in data:
                schema.add_field(model, name)
    links: dict[tuple[str, str, str], dict[str, dict]] = defaultdict(dict)
    for model, record_id, link, related_id, data in Link.objects.values_list(
        "model", "record_id", "link", "related_id", "data"
    ):
        links[(model, record_id, link)][related_id] = data
    _records, _links = records, links


def ensure_fresh() -> None:
    """Reload after a reseed (called once per request; one indexed query)."""
    global _generation
    generation = current_generation()
    with _lock:
        if _records is None or generation != _generation:
            _load()
            _generation = generation


def drop_cache() -> None:
    global _records, _links
    with _lock:
        _records = _links = None


def _all() -> dict[str, dict[str, dict]]:
    if _records is None:
        with _lock:
            if _records is None:
                _load()
    assert _records is not None
    return _records


def _all_links() -> dict[tuple[str, str, str], dict[str, dict]]:
    _all()
    assert _links is not None
    return _links


def records(model: str) -> list[dict]:
    """All records of a model (shared dicts: callers must not modify them)."""
    return list(_all().get(model, {}).values())


def get(model: str, record_id: str) -> dict | None:
    return _all().get(model, {}).get(record_id)


PERSON_MODELS = frozenset({"Contact", "User"})


def derive(model: str, record: dict) -> dict:
    """Computed fields, as 1CRM keeps them: a person's `name` is first + last name."""
    if model in PERSON_MODELS and ("first_name" in record or "last_name" in record):
        first, last = record.get("first_name") or "", record.get("last_name") or ""
        record["name"] = f"{first} {last}".strip()
    return record


# Numbers the CRM gives a new record itself (a case created through the API has a number,
# as in 1CRM's own UI), one more than the highest so far.
AUTO_NUMBERS = {"aCase": "case_number"}


def _next_number(model: str, field: str) -> int:
    numbers = [str(r.get(field) or "") for r in _all().get(model, {}).values()]
    return max((int(n) for n in numbers if n.isdigit()), default=0) + 1


def create(model: str, data: dict[str, Any], record_id: str | None = None) -> dict:
    record = derive(model, {k: v for k, v in data.items() if k != "id"})
    record["id"] = record_id or new_id()
    record.setdefault("date_entered", now_text())
    record["date_modified"] = now_text()
    with _lock, transaction.atomic(using="emulator"):
        number_field = AUTO_NUMBERS.get(model)
        if number_field and record.get(number_field) in (None, ""):
            record[number_field] = _next_number(model, number_field)
        Record.objects.create(model=model, record_id=record["id"], data=record)
        _all()[model] = {**_all().get(model, {}), record["id"]: record}
    return copy.deepcopy(record)


def update(model: str, record_id: str, changes: dict[str, Any]) -> tuple[dict, dict]:
    """Apply changes; return (before, after) copies for webhooks."""
    with _lock, transaction.atomic(using="emulator"):
        before = _all()[model][record_id]
        after = derive(model, {**before, **{k: v for k, v in changes.items() if k != "id"}})
        after["date_modified"] = now_text()
        Record.objects.filter(model=model, record_id=record_id).update(data=after)
        _all()[model] = {**_all()[model], record_id: after}
    return copy.deepcopy(before), copy.deepcopy(after)


def delete(model: str, record_id: str) -> None:
    with _lock, transaction.atomic(using="emulator"):
        Record.objects.filter(model=model, record_id=record_id).delete()
        Link.objects.filter(model=model, record_id=record_id).delete()
        Link.objects.filter(related_id=record_id).delete()
        remaining = dict(_all().get(model, {}))
        remaining.pop(record_id, None)
        _all()[model] = remaining
        links = _all_links()
        for key in [k for k in links if k[0] == model and k[1] == record_id]:
            del links[key]
        for key, related in list(links.items()):
            if record_id in related:
                links[key] = {k: v for k, v in related.items() if k != record_id}


def linked(model: str, record_id: str, link: str) -> dict[str, dict]:
    """Join-table links of a record: related id -> join data (both directions stored)."""
    return dict(_all_links().get((model, record_id, link), {}))


def add_link(model: str, record_id: str, link: str, related_id: str, data: dict) -> None:
    with _lock, transaction.atomic(using="emulator"):
        Link.objects.update_or_create(
            model=model,
            record_id=record_id,
            link=link,
            related_id=related_id,
            defaults={"data": data},
        )
        links = _all_links()
        links[(model, record_id, link)] = {
            **links.get((model, record_id, link), {}),
            related_id: data,
        }


def remove_link(model: str, record_id: str, link: str, related_id: str) -> bool:
    with _lock, transaction.atomic(using="emulator"):
        deleted, _ = Link.objects.filter(
            model=model, record_id=record_id, link=link, related_id=related_id
        ).delete()
        links = _all_links()
        current = links.get((model, record_id, link), {})
        links[(model, record_id, link)] = {k: v for k, v in current.items() if k != related_id}
    return bool(deleted)


def links_to(related_model_link: tuple[str, str], related_id: str) -> list[str]:
    """Ids of `model` records whose join `link` holds `related_id` (reverse lookup)."""
    model, link = related_model_link
    return [
        key[1]
        for key, related in _all_links().items()
        if key[0] == model and key[2] == link and related_id in related
    ]


def display_name(model: str, record: dict) -> str:
    definition = schema.MODELS.get(model)
    spec = definition.display if definition else "name"
    if " " in spec:
        text = " ".join(str(record.get(part) or "") for part in spec.split()).strip()
        return text or str(record.get("name") or "")
    return str(record.get(spec) or record.get("name") or "")


def ids_with_name(model: str, needle: str) -> set[str]:
    """Ids of records whose display name or name contains `needle` (ref filters by name)."""
    return {
        str(r["id"])
        for r in records(model)
        if needle in display_name(model, r).lower() or needle in str(r.get("name") or "").lower()
    }
