"""`/webhooks` CRUD, and delivery when records are created or updated through the API.

Filters are validated and matched by `webhook_rules` (pure); delivery runs in background
threads with retries (`webhook_rules.Deliverer`), only to loopback hosts, and every attempt
lands in an in-memory delivery log the control API shows (`GET /__emulator__/deliveries`).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from typing import Any
from urllib.parse import urlsplit

from crm_emulator import profiles, schema
from crm_emulator.auth import Principal
from crm_emulator.errors import ApiError
from crm_emulator.models import Webhook
from crm_emulator.webhook_rules import Deliverer, validate_filters, webhook_applies

TYPES = ("create", "update", "create_update")

deliverer = Deliverer(
    max_attempts=int(os.environ.get("EMULATOR_WEBHOOK_ATTEMPTS", "5")),
    base_delay=float(os.environ.get("EMULATOR_WEBHOOK_RETRY_DELAY", "0.5")),
    max_delay=30.0,
    timeout=5.0,
)


def _public(hook: Webhook, with_filters: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": hook.webhook_id,
        "type": hook.type,
        "url": hook.url,
        "model": hook.model,
        "assigned_user_id": hook.assigned_user_id,
    }
    if with_filters:
        data["filters"] = hook.filters
    return data


def _validated(body: dict[str, Any], partial: bool) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    unknown = set(body) - {"type", "url", "model", "filters"}
    if unknown:
        raise ApiError(
            400, "invalid_parameter", "Unknown parameter(s): " + ", ".join(sorted(unknown))
        )
    for name in ("type", "url", "model"):
        if name not in body:
            if not partial:
                raise ApiError(400, "invalid_parameter", f"{name} is required")
            continue
        value = body[name]
        if not isinstance(value, str) or not value:
            raise ApiError(400, "invalid_parameter", f"{name} must be a non-empty string")
        clean[name] = value
    if "type" in clean and clean["type"] not in TYPES:
        raise ApiError(400, "invalid_parameter", "type must be one of " + ", ".join(TYPES))
    if "model" in clean and clean["model"] not in schema.MODELS:
        raise ApiError(404, "not_found", f"Model {clean['model']} not found")
    if "url" in clean:
        parts = urlsplit(clean["url"])
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ApiError(400, "invalid_parameter", "url must be an http(s) URL")
    if "filters" in body:
        errors = validate_filters(body["filters"])
        if errors:
            raise ApiError(400, "invalid_parameter", "Invalid filters: " + "; ".join(errors))
        clean["filters"] = body["filters"] or None
    return clean


def _find(webhook_id: str) -> Webhook:
    hook = Webhook.objects.filter(webhook_id=webhook_id).first()
    if hook is None:
        raise ApiError(404, "not_found", f"Webhook {webhook_id} not found")
    return hook


def create(caller: Principal, body: dict[str, Any]) -> dict[str, Any]:
    data = _validated(body, partial=False)
    hook = Webhook.objects.create(
        webhook_id=str(uuid.uuid4()),
        type=data["type"],
        url=data["url"],
        model=data["model"],
        filters=data.get("filters"),
        assigned_user_id=caller.user_id,
    )
    return _public(hook)


def listing(caller: Principal, offset: int, limit: int) -> dict[str, Any]:
    hooks = list(Webhook.objects.order_by("id"))
    return {
        "total_results": len(hooks),
        "records": [_public(h) for h in hooks[offset : offset + limit]],
    }


def get(caller: Principal, webhook_id: str) -> dict[str, Any]:
    return _public(_find(webhook_id))


def update(caller: Principal, webhook_id: str, body: dict[str, Any]) -> dict[str, Any]:
    hook = _find(webhook_id)
    for name, value in _validated(body, partial=True).items():
        setattr(hook, name, value)
    hook.save()
    return _public(hook)


def delete(caller: Principal, webhook_id: str) -> dict[str, Any]:
    hook = _find(webhook_id)
    data = _public(hook, with_filters=False)
    hook.delete()
    return data


def record_changed(model: str, before: dict | None, after: dict) -> None:
    """Deliver to every webhook that applies to this create (before None) or update."""
    event = "create" if before is None else "update"
    definition = schema.MODELS.get(model)
    field_types = {n: f.type for n, f in definition.fields.items()} if definition else None
    today = dt.datetime.now(dt.UTC).date()
    # Delivered as the API would show it (the profile's vocabulary and wire shape).
    record = profiles.present(model, {k: v for k, v in after.items() if not k.startswith("_")})
    for hook in Webhook.objects.filter(model=model):
        webhook = {
            "id": hook.webhook_id,
            "type": hook.type,
            "model": hook.model,
            "url": hook.url,
            "filters": hook.filters,
        }
        if webhook_applies(webhook, event, model, before or {}, after, today, field_types):
            deliverer.deliver(webhook, event, model, record)


def delivery_log() -> list[dict[str, Any]]:
    return [attempt.as_dict() for attempt in list(deliverer.log)]


def clear_delivery_log() -> None:
    deliverer.log.clear()
