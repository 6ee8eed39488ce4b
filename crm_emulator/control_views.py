"""`/__emulator__/...`: the test-control API (see docs/emulator.md for the contract).

Every call needs `X-Emulator-Admin: <EMULATOR_ADMIN_TOKEN>`; with the variable unset the
control API is closed (403).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from crm_emulator import control, profiles, webhooks
from crm_emulator.errors import ApiError, api_error
from crm_emulator.models import ApiClient


def _guarded(view):
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        token = getattr(settings, "EMULATOR_ADMIN_TOKEN", "")
        given = request.headers.get("X-Emulator-Admin", "")
        if not token or not hmac.compare_digest(given.encode(), token.encode()):
            return api_error(403, "forbidden", "Emulator control needs a valid X-Emulator-Admin")
        try:
            from crm_emulator.middleware import bootstrap

            bootstrap()
            return view(request, *args, **kwargs)
        except ApiError as error:
            return error.response()
        except ValueError as error:
            return api_error(400, "invalid_request", str(error))

    wrapper.__name__ = view.__name__
    return wrapper


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise ValueError("the body must be JSON") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _methods(request: HttpRequest, *allowed: str) -> None:
    if request.method not in allowed:
        raise ApiError(
            405,
            "method_not_allowed",
            f"Use {' or '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
        )


@_guarded
def reset(request: HttpRequest) -> JsonResponse:
    _methods(request, "POST")
    profile = _body(request).get("profile")
    if profile is not None and not isinstance(profile, str):
        raise ValueError("profile must be a profile name")
    control.reset(profile)
    webhooks.clear_delivery_log()
    return JsonResponse(
        {
            "result": True,
            "profile": profile or control.started_profile(),
            "switches": dict(control.switches),
        }
    )


@_guarded
def profiles_view(request: HttpRequest) -> JsonResponse:
    _methods(request, "GET")
    return JsonResponse(
        {
            "started_with": control.started_profile(),
            "profiles": {name: control.default_switches(name) for name in profiles.PROFILES},
        }
    )


@_guarded
def switches(request: HttpRequest) -> JsonResponse:
    _methods(request, "GET", "POST")
    if request.method == "POST":
        return JsonResponse(control.set_switches(_body(request)))
    control.switch("leaky")  # initialises defaults
    return JsonResponse(dict(control.switches))


@_guarded
def faults(request: HttpRequest) -> JsonResponse:
    _methods(request, "GET", "POST", "DELETE")
    if request.method == "POST":
        fault = control.add_fault(_body(request))
        return JsonResponse(
            {"fault": fault.public(), "faults": [f.public() for f in control.faults]}
        )
    if request.method == "DELETE":
        control.clear_faults()
    return JsonResponse({"faults": [f.public() for f in control.faults]})


@_guarded
def requests_log(request: HttpRequest) -> JsonResponse:
    _methods(request, "GET", "DELETE")
    if request.method == "DELETE":
        control.clear_requests()
        return JsonResponse({"requests": []})
    return JsonResponse({"requests": control.logged_requests()})


def register_client(client_id: str, secret: str, redirect_uris: list[str]) -> ApiClient:
    from crm_emulator import store

    admins = [
        u
        for u in store.records("User")
        if u.get("is_admin") is True or str(u.get("is_admin")).lower() in {"1", "true"}
    ]
    owner = str(admins[0]["id"]) if admins else "1"
    client, _ = ApiClient.objects.update_or_create(
        client_id=client_id,
        defaults={"client_secret": secret, "redirect_uris": redirect_uris, "owner_user_id": owner},
    )
    return client


@_guarded
def clients(request: HttpRequest) -> JsonResponse:
    _methods(request, "GET", "POST")
    if request.method == "POST":
        body = _body(request)
        client_id, secret = body.get("client_id"), body.get("client_secret", "")
        uris = body.get("redirect_uris", [])
        if not isinstance(client_id, str) or not client_id:
            raise ValueError("client_id is required")
        if not isinstance(secret, str):
            raise ValueError("client_secret must be a string")
        if not isinstance(uris, list) or not all(isinstance(u, str) and u for u in uris):
            raise ValueError("redirect_uris must be a list of URLs")
        client = register_client(client_id, secret, uris)
        return JsonResponse(
            {
                "client_id": client.client_id,
                "redirect_uris": client.redirect_uris,
                "owner_user_id": client.owner_user_id,
            }
        )
    return JsonResponse(
        {
            "clients": [
                {
                    "client_id": c.client_id,
                    "redirect_uris": c.redirect_uris,
                    "owner_user_id": c.owner_user_id,
                }
                for c in ApiClient.objects.order_by("client_id")
            ]
        }
    )


@_guarded
def deliveries(request: HttpRequest) -> JsonResponse:
    _methods(request, "GET", "DELETE")
    if request.method == "DELETE":
        webhooks.clear_delivery_log()
    return JsonResponse({"deliveries": webhooks.delivery_log()})
