"""Protocol-level behaviour: versions, errors, method override, HTTPS refusal, editions,
languages, and the control API's own guard."""

import base64

import httpx2 as httpx
import jwt
import pytest

from tests.emulator.conftest import Api


def test_version_without_auth_is_not_authenticated(api: Api):
    assert api.ok("GET", "/version") == {
        "version": "8.6.2",
        "products": ["enterprise"],
        "authenticated": False,
    }


def test_version_is_authenticated_with_a_valid_token_only(api: Api):
    assert api.ok("GET", "/version", api.staff())["authenticated"] is True
    assert api.ok("GET", "/version", "not-a-token")["authenticated"] is False


def test_access_tokens_verify_with_the_public_key(api: Api):
    key = api.ok("GET", "/public_key")["key"]
    assert key.startswith("-----BEGIN PUBLIC KEY-----")
    token = api.staff()
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["typ"] == "JWT" and header["jti"]
    claims = jwt.decode(token, key, algorithms=["RS256"], audience="demo-portal")
    assert claims["sub"] == "Users:1"
    assert set(claims["scopes"]) == {"read", "write", "profile"}
    assert claims["jti"] == header["jti"]
    assert claims["nbf"] <= claims["iat"] < claims["exp"]


def test_unknown_endpoint_is_a_json_404(api: Api):
    api.error(api.get("/no/such/thing"), 404)


def test_unknown_model_is_404(api: Api):
    body = api.error(api.get("/data/Acount", api.staff()), 404)
    assert body["message"] == "Model Acount not found"


def test_wrong_method_is_405_with_allow(api: Api):
    response = api.call("PATCH", "/version")
    api.error(response, 405)
    assert response.headers["Allow"] == "GET"


@pytest.mark.parametrize(
    "path",
    [
        "/audit/Invoice",
        "/audit/Invoice/1",
        "/reports/Invoice",
        "/reports/data/Invoice/1",
        "/calendar/events",
        "/layouts/list_view/Invoice",
        "/data/favorites/Invoice/1",
        "/data/link/Invoice/linked-records/payments",
        "/meta/list_view/Invoice",
        "/meta/detail_view/Invoice/Standard",
        "/meta/sub_panels/Invoice/Standard",
        "/meta/generic_module_layouts/Invoices",
    ],
)
def test_reference_endpoints_that_are_not_emulated_answer_501(api: Api, path: str):
    body = api.error(api.get(path, api.staff()), 501)
    assert "not emulated" in body["message"]


def test_printing_other_models_is_501(api: Api, demo):
    api.error(api.get(f"/printer/pdf/Account/{demo.accounts[0]['id']}", api.staff()), 501)


def test_missing_token_is_401_and_bad_token_is_401(api: Api):
    api.error(api.get("/data/Account"), 401)
    api.error(api.get("/data/Account", "garbage"), 401)


def test_method_override_on_post(api: Api):
    token = api.staff()
    created = api.ok("POST", "/data/aCase", token, json={"data": {"name": "Override me"}})
    api.ok(
        "POST",
        f"/data/aCase/{created['id']}",
        token,
        json={"data": {"name": "Overridden"}},
        headers={"X-HTTP-Method-Override": "PATCH"},
    )
    assert api.ok("GET", f"/data/aCase/{created['id']}", token)["record"]["name"] == "Overridden"
    api.ok(
        "POST",
        f"/data/aCase/{created['id']}",
        token,
        headers={"X-HTTP-Method-Override": "DELETE"},
    )
    api.error(api.get(f"/data/aCase/{created['id']}", token), 404)
    bad = api.call("POST", "/data/aCase", token, headers={"X-HTTP-Method-Override": "TRACE"})
    api.error(bad, 400)


def test_plain_http_is_refused_unless_allowed(api: Api):
    api.server.control("POST", "switches", json={"allow_http": False})
    body = api.error(api.get("/version"), 403)
    assert "non-SSL" in body["message"]
    api.server.control("POST", "switches", json={"allow_http": True})
    assert api.get("/version").status_code == 200


def test_startup_edition_is_refused(api: Api):
    api.server.control("POST", "switches", json={"startup_edition": True})
    body = api.error(api.get("/version"), 403)
    assert "Pro and Enterprise" in body["message"]


def test_accept_language_switches_meta_labels(api: Api):
    token = api.staff()
    english = api.ok("GET", "/meta/fields/Invoice", token, headers={"Accept-Language": "en"})
    german = api.ok(
        "GET", "/meta/fields/Invoice", token, headers={"Accept-Language": "de-DE,de;q=0.9"}
    )
    assert english["fields"]["due_date"]["label"] == "Due Date"
    assert german["fields"]["due_date"]["label"] == "Fälligkeitsdatum"
    locale_de = api.ok("GET", "/meta/locale", token, headers={"Accept-Language": "de"})
    assert locale_de["number_format"]["dec_sep"] == ","
    assert api.ok("GET", "/meta/locale", token)["number_format"]["dec_sep"] == "."


def test_meta_locale_and_modules_shapes(api: Api):
    token = api.staff()
    locale = api.ok("GET", "/meta/locale", token)
    assert {"date_format", "time_format", "number_format", "base_currency", "address_format"} <= (
        set(locale)
    )
    assert locale["base_currency"]["iso4217"] == "EUR"
    modules = api.ok("GET", "/meta/modules", token)["list"]
    invoices = next(m for m in modules if m["module"] == "Invoices")
    assert invoices["primary_model"] == "Invoice" and "InvoiceLine" in invoices["models"]


def test_meta_fields_lists_filters_with_ref_id_names(api: Api):
    meta = api.ok("GET", "/meta/fields/Invoice", api.staff())
    assert meta["filters"]["billing_account"]["id_name"] == "billing_account_id"
    assert "billing_account_id" in meta["filters"]
    assert "between_dates" in meta["filters"]["due_date"]["operators"]
    assert meta["fields"]["shipping_stage"]["type"] == "enum"
    any_email = api.ok("GET", "/meta/fields/Account", api.staff())["filters"]["any_email"]
    assert any_email["type"] == "varchar"


def test_control_api_needs_the_admin_header(api: Api):
    base = api.server.base_url
    assert httpx.post(f"{base}/__emulator__/reset").status_code == 403
    wrong = httpx.post(f"{base}/__emulator__/reset", headers={"X-Emulator-Admin": "nope"})
    assert wrong.status_code == 403
    assert wrong.json()["error"] == "forbidden"


def test_control_rejects_unknown_switches(api: Api):
    response = httpx.post(
        f"{api.server.base_url}/__emulator__/switches",
        json={"no_such_switch": True},
        headers={"X-Emulator-Admin": "emulator-admin-for-tests"},
    )
    assert response.status_code == 400


def test_switches_answer_current_values_and_reset_restores_defaults(api: Api):
    current = api.server.control("POST", "switches", json={"leaky": True}).json()
    assert current["leaky"] is True and current["allow_http"] is True
    api.server.reset_controls()
    assert api.server.control("GET", "switches").json()["leaky"] is False


def test_basic_auth_is_off_by_default_and_works_when_switched_on(api: Api):
    header = {"Authorization": "Basic " + base64.b64encode(b"admin:demo-password").decode()}
    body = api.error(api.get("/data/Account", headers=header), 401)
    assert "Basic" in body["message"]
    api.server.control("POST", "switches", json={"basic_auth": True})
    assert api.ok("GET", "/data/Account", headers=header)["total_results"] >= 1
    wrong = {"Authorization": "Basic " + base64.b64encode(b"admin:wrong").decode()}
    api.error(api.get("/data/Account", headers=wrong), 401)
    log = api.server.control("GET", "requests").json()["requests"]
    assert log[-1]["credential"] == "basic"


def test_request_log_names_the_credential(api: Api, demo):
    api.server.control("DELETE", "requests")
    staff = api.staff()
    api.get("/version")
    api.get("/data/Account", staff)
    contact = next(c for c in demo.contacts if c["primary_account_id"])
    portal = api.portal(contact["id"])
    api.get("/data/Invoice", portal)
    api.get("/me", api.user("sally"))
    log = api.server.control("GET", "requests").json()["requests"]
    kinds = [(e["method"], e["path"], e["credential"]) for e in log]
    assert ("GET", "/version", "anonymous") in kinds
    assert ("GET", "/data/Account", "staff") in kinds
    assert ("POST", "/portal/auth", "staff") in kinds
    assert ("GET", "/data/Invoice", "portal") in kinds
    assert ("GET", "/me", "user") in kinds
    portal_entry = next(e for e in log if e["credential"] == "portal")
    assert portal_entry["contact_id"] == contact["id"] and portal_entry["status"] == 200
    assert {"method", "path", "query", "credential", "contact_id", "status"} <= set(log[0])


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "switches", {"access_token_ttl": 0}, 400),
        ("POST", "switches", {"leaky": "yes"}, 400),
        ("POST", "faults", {"path": "x", "kind": "latency", "times": 0}, 400),
        ("POST", "clients", {"client_id": "", "redirect_uris": []}, 400),
        ("POST", "clients", {"client_id": "c", "redirect_uris": "http://x"}, 400),
        ("PUT", "reset", None, 405),
        ("POST", "requests", None, 405),
    ],
)
def test_control_api_validates_its_input(api: Api, method, path, body, status):
    response = httpx.request(
        method,
        f"{api.server.base_url}/__emulator__/{path}",
        json=body,
        headers={"X-Emulator-Admin": "emulator-admin-for-tests"},
    )
    assert response.status_code == status
    assert response.json()["error"]


def test_webhook_list_paging_is_validated(api: Api):
    token = api.staff()
    api.error(api.get("/webhooks", token, params={"limit": 0}), 400)
    api.error(api.get("/webhooks", token, params={"offset": -1}), 400)
    assert api.ok("GET", "/webhooks", token, params={"limit": 1})["total_results"] >= 0


# --- view_closed: the vendor's portal asks for closed cases -----------------------------


def case_statuses(api: Api, path: str, **params: str) -> list[str]:
    found = api.records(path, api.staff(), **{"fields[]": ["status", "account_id"], **params})
    return [str(r.get("status") or "") for r in found]


def test_a_case_list_leaves_out_closed_cases_unless_asked_with_view_closed(api: Api):
    plain = case_statuses(api, "aCase")
    asked = case_statuses(api, "aCase", view_closed="1")
    assert plain and not [s for s in plain if s.startswith("Closed")]
    closed = [s for s in asked if s.startswith("Closed")]
    assert closed and sorted(plain) == sorted(s for s in asked if not s.startswith("Closed"))
    # total_results counts what the list holds; "no" is any other value.
    assert api.ok("GET", "/data/aCase", api.staff())["total_results"] == len(plain)
    assert len(case_statuses(api, "aCase", view_closed="0")) == len(plain)
    assert len(case_statuses(api, "aCase", view_closed="true")) == len(asked)
    # A related list of cases too; a closed case is still read by id.
    record = api.records("aCase", api.staff(), view_closed="1", **{"fields[]": ["status"]})
    one = next(r for r in record if str(r["status"]).startswith("Closed"))
    account = api.ok("GET", f"/data/aCase/{one['id']}", api.staff())["record"]["account_id"]
    linked = case_statuses(api, f"Account/{account}/cases")
    linked_asked = case_statuses(api, f"Account/{account}/cases", view_closed="1")
    assert not [s for s in linked if s.startswith("Closed")]
    assert "Closed" in " ".join(linked_asked)
    # Other models ignore it.
    staff = api.staff()
    assert (
        api.ok("GET", "/data/Invoice", staff, params={"view_closed": "1"})["total_results"]
        == api.ok("GET", "/data/Invoice", staff)["total_results"]
    )


def test_view_closed_ignored_lists_every_case_asked_or_not(api: Api):
    asked = sorted(case_statuses(api, "aCase", view_closed="1"))
    api.server.control("POST", "switches", json={"view_closed_ignored": True})
    assert sorted(case_statuses(api, "aCase")) == asked
    assert sorted(case_statuses(api, "aCase", view_closed="1")) == asked
