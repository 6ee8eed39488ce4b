"""Emulator profiles: the strict one disagrees with the default wherever the reference
is silent (docs/emulator.md, "Profiles").

`strict_api` talks to a second server started with `run_emulator --profile strict`;
the per-switch tests turn on one behaviour on the default server, to show each switch
does exactly its part. Both servers hold the same deterministic demo data.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import jwt
import pytest

from crm_emulator.demo_data import LARGE_DOCUMENT
from crm_emulator.profiles import INSTALLATION_VOCABULARY
from tests.emulator.conftest import Api, Demo
from tests.emulator_server import ROOT

SHIPPING = INSTALLATION_VOCABULARY[("Invoice", "shipping_stage")]
QUOTE_STAGES = INSTALLATION_VOCABULARY[("Quote", "quote_stage")]


def contact_with_account(demo: Demo) -> dict:
    return next(c for c in demo.contacts if c["primary_account_id"])


def counts(api: Api, model: str, field: str) -> Counter:
    staff = api.staff()
    return Counter(r.get(field) for r in api.records(model, staff, **{"fields[]": [field]}))


def total(api: Api, model: str, token: str, **params) -> int:
    body = api.ok("GET", f"/data/{model}", token, params=params)
    return int(body["total_results"])


# --- the profile itself -------------------------------------------------------------------


def test_servers_say_which_profile_they_started_with(api: Api, strict_api: Api):
    assert api.server.control("GET", "profiles").json()["started_with"] == "default"
    answer = strict_api.server.control("GET", "profiles").json()
    assert answer["started_with"] == "strict"
    assert answer["profiles"]["strict"]["literal_filters"] is True
    assert answer["profiles"]["default"]["literal_filters"] is False
    assert strict_api.server.control("GET", "switches").json()["vocabulary"] == "installation"


def test_reset_switches_to_a_named_profile_and_back(api: Api):
    answer = api.server.control("POST", "reset", json={"profile": "strict"}).json()
    assert answer["profile"] == "strict" and answer["switches"]["access_token_ttl"] == 60
    assert api.token(grant_type="client_credentials")["expires_in"] == 60
    api.server.reset_controls()
    switches = api.server.control("GET", "switches").json()
    assert switches["access_token_ttl"] == 3600 and switches["literal_filters"] is False


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("reset", {"profile": "lenient"}),
        ("switches", {"vocabulary": "klingon"}),
        ("switches", {"me_fields": True}),
        ("switches", {"literal_filters": "yes"}),
        ("switches", {"base_language": "fr"}),
    ],
)
def test_unknown_profiles_and_switch_values_are_refused(api: Api, path: str, body: dict):
    response = api.http.post(
        f"{api.server.base_url}/__emulator__/{path}",
        json=body,
        headers={"X-Emulator-Admin": "emulator-admin-for-tests"},
    )
    assert response.status_code == 400, response.text


def test_run_emulator_refuses_an_unknown_profile():
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "run_emulator", "--profile", "lenient"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "lenient" in result.stderr


# --- list filters take values literally ---------------------------------------------------


def test_default_profile_reads_caret_comma_caret_as_any_of(api: Api):
    staff = api.staff()
    stages = counts(api, "Invoice", "shipping_stage")
    both = total(api, "Invoice", staff, **{"filters[shipping_stage]": "Pending^,^Shipped"})
    assert both == stages["Pending"] + stages["Shipped"] > stages["Shipped"] > 0


def test_strict_profile_takes_a_filter_value_literally(strict_api: Api):
    staff = strict_api.staff()
    pending, shipped = SHIPPING["Pending"], SHIPPING["Shipped"]
    one = total(strict_api, "Invoice", staff, **{"filters[shipping_stage]": shipped})
    assert one > 0
    joined = f"{pending}^,^{shipped}"
    assert total(strict_api, "Invoice", staff, **{"filters[shipping_stage]": joined}) == 0


def test_strict_profile_has_no_array_form_of_a_filter_either(strict_api: Api):
    response = strict_api.get(
        "/data/Invoice",
        strict_api.staff(),
        params=[("filters[shipping_stage][]", SHIPPING["Shipped"])],
    )
    strict_api.error(response, 400)


def test_literal_filters_switch_alone(api: Api):
    staff = api.staff()
    api.server.control("POST", "switches", json={"literal_filters": True})
    assert total(api, "Invoice", staff, **{"filters[shipping_stage]": "Pending^,^Shipped"}) == 0
    assert total(api, "Invoice", staff, **{"filters[shipping_stage]": "Shipped"}) > 0


# --- the installation's own vocabulary ----------------------------------------------------


def test_strict_stage_vocabulary_is_read_from_meta_fields(strict_api: Api):
    staff = strict_api.staff()
    english = strict_api.ok("GET", "/meta/fields/Quote", staff, headers={"Accept-Language": "en"})
    options = english["fields"]["quote_stage"]["options"]
    assert list(options) == list(QUOTE_STAGES.values())
    assert options["Angenommen"] == "Closed Accepted"  # English labels, installation keys
    assert english["filters"]["quote_stage"]["options"] == options
    german = strict_api.ok("GET", "/meta/fields/Quote", staff, headers={"Accept-Language": "de"})
    assert german["fields"]["quote_stage"]["options"]["Zurückgestellt"] == "Zurückgestellt"
    cases = strict_api.ok("GET", "/meta/fields/aCase", staff)["fields"]["status"]["options"]
    assert "Erledigt" in cases and "Closed - Complete" not in cases


def test_strict_records_carry_the_installation_vocabulary_with_the_same_data(strict_api: Api):
    # The same server read both ways (other tests may change the other server's data).
    strict_api.server.reset_controls(profile="default")
    demo_stages = counts(strict_api, "Quote", "quote_stage")
    strict_api.server.reset_controls()
    strict_stages = counts(strict_api, "Quote", "quote_stage")
    assert strict_stages == Counter({QUOTE_STAGES[k]: n for k, n in demo_stages.items()})
    staff = strict_api.staff()
    accepted = total(strict_api, "Quote", staff, **{"filters[quote_stage]": "Angenommen"})
    assert accepted == demo_stages["Closed Accepted"] > 0
    # The demo's key is not a value this installation knows.
    assert total(strict_api, "Quote", staff, **{"filters[quote_stage]": "Closed Accepted"}) == 0


def test_strict_writes_take_the_installation_vocabulary(strict_api: Api):
    staff = strict_api.staff()
    quote = strict_api.ok(
        "GET", "/data/Quote", staff, params={"fields[]": "quote_stage", "limit": 1}
    )["records"][0]
    path = f"/data/Quote/{quote['id']}"
    strict_api.error(
        strict_api.call("PATCH", path, staff, json={"data": {"quote_stage": "Closed Lost"}}), 400
    )
    strict_api.ok("PATCH", path, staff, json={"data": {"quote_stage": "Verloren"}})
    try:
        record = strict_api.ok("GET", path, staff, params={"fields[]": "quote_stage"})["record"]
        assert record["quote_stage"] == "Verloren"
    finally:
        strict_api.ok("PATCH", path, staff, json={"data": {"quote_stage": quote["quote_stage"]}})


# --- what a contact-scoped token reaches --------------------------------------------------


def test_strict_contact_token_cannot_read_its_own_account_or_links(
    api: Api, strict_api: Api, demo: Demo
):
    contact = contact_with_account(demo)
    account = contact["primary_account_id"]
    default_token = api.portal(contact["id"])
    assert api.ok("GET", f"/data/Account/{account}", default_token)["record"]["id"] == account
    assert api.ok("GET", f"/data/Account/{account}/documents", default_token)["total_results"]

    token = strict_api.portal(contact["id"])
    for path in (
        f"/data/Account/{account}",
        f"/data/Account/{account}/documents",
        f"/data/Contact/{contact['id']}/documents",
        "/data/Account",
    ):
        strict_api.error(strict_api.get(path, token), 403)
    invoice = strict_api.ok("GET", "/data/Invoice", token, params={"limit": 1})["records"][0]
    strict_api.error(strict_api.get(f"/data/Invoice/{invoice['id']}/payments", token), 403)
    # Its own records by list and by id still work, and staff still reach the links.
    assert strict_api.ok("GET", f"/data/Invoice/{invoice['id']}", token)["record"]
    staff = strict_api.staff()
    assert int(strict_api.ok("GET", f"/data/Account/{account}/documents", staff)["total_results"])


# --- /me ----------------------------------------------------------------------------------


def test_strict_me_carries_no_portal_active(api: Api, strict_api: Api, demo: Demo):
    email = contact_with_account(demo)["email1"]
    default_me = api.ok("GET", "/me", api.contact_oauth(email))
    assert "portal_active" in default_me and default_me["primary_account_id"]
    strict_me = strict_api.ok("GET", "/me", strict_api.contact_oauth(email))
    assert "portal_active" not in strict_me
    assert strict_me["id"].startswith("Contacts:")


def test_me_fields_documented_leaves_out_the_account_too(api: Api, demo: Demo):
    email = contact_with_account(demo)["email1"]
    api.server.control("POST", "switches", json={"me_fields": "documented"})
    me = api.ok("GET", "/me", api.contact_oauth(email))
    assert "portal_active" not in me and "primary_account_id" not in me
    assert set(me) == {
        "id",
        "name",
        "first_name",
        "last_name",
        "email",
        "role",
        "groups",
        "timezone",
    }


# --- bytes only with the staff credential -------------------------------------------------


def test_strict_bytes_need_the_staff_credential(strict_api: Api, demo: Demo):
    contact = contact_with_account(demo)
    token = strict_api.portal(contact["id"])
    staff = strict_api.staff()
    invoice = strict_api.ok("GET", "/data/Invoice", token, params={"limit": 1})["records"][0]
    documents = strict_api.ok("GET", "/data/Document", token, params={"limit": 50})["records"]
    document = next(d for d in documents if d["id"] != LARGE_DOCUMENT.id)
    for path in (
        f"/printer/pdf/Invoice/{invoice['id']}",
        f"/files/download/Document/{document['id']}",
        f"/files/info/Document/{document['id']}",
    ):
        strict_api.error(strict_api.get(path, token), 403)
    pdf = strict_api.get(f"/printer/pdf/Invoice/{invoice['id']}", staff)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    download = strict_api.get(f"/files/download/Document/{document['id']}", staff)
    assert download.status_code == 200 and download.content


def test_bytes_staff_only_switch_alone(api: Api, demo: Demo):
    token = api.portal(contact_with_account(demo)["id"])
    invoice = api.ok("GET", "/data/Invoice", token, params={"limit": 1})["records"][0]
    assert api.get(f"/printer/pdf/Invoice/{invoice['id']}", token).status_code == 200
    api.server.control("POST", "switches", json={"bytes_staff_only": True})
    api.error(api.get(f"/printer/pdf/Invoice/{invoice['id']}", token), 403)


# --- wire shapes: numbers as strings, empty fields left out -------------------------------


def test_strict_numbers_come_as_strings(strict_api: Api):
    params = {"fields[]": ["invoice_number", "exchange_rate", "amount"], "limit": 5}
    strict_api.server.reset_controls(profile="default")  # the same data, read both ways
    default = strict_api.ok("GET", "/data/Invoice", strict_api.staff(), params=params)
    assert isinstance(default["total_results"], int)
    assert isinstance(default["records"][0]["invoice_number"], int)
    strict_api.server.reset_controls()
    strict = strict_api.ok("GET", "/data/Invoice", strict_api.staff(), params=params)
    assert strict["total_results"] == str(default["total_results"])
    first = strict["records"][0]
    assert first["invoice_number"] == str(default["records"][0]["invoice_number"])
    tally = strict_api.ok("GET", f"/tally/Invoice/{first['id']}", strict_api.staff())
    numbers = [line["quantity"] for group in tally["groups"] for line in group["line_items"]]
    assert numbers and all(isinstance(n, str) for n in numbers)
    assert isinstance(tally["totals"]["total"], str)


def test_strict_leaves_empty_fields_out(api: Api, strict_api: Api, demo: Demo):
    loner = next(c for c in demo.contacts if not c["primary_account_id"])
    params = {"fields[]": ["first_name", "primary_account_id"]}
    path = f"/data/Contact/{loner['id']}"
    assert "primary_account_id" in api.ok("GET", path, api.staff(), params=params)["record"]
    record = strict_api.ok("GET", path, strict_api.staff(), params=params)["record"]
    assert "primary_account_id" not in record and record["first_name"]


def test_strict_file_info_has_only_the_documented_spelling(strict_api: Api):
    staff = strict_api.staff()
    document = strict_api.ok("GET", "/data/Document", staff, params={"limit": 1})["records"][0]
    info = strict_api.ok("GET", f"/files/info/Document/{document['id']}", staff)
    assert info["mimetype"] and "mime_type" not in info
    assert isinstance(info["size"], str) and int(info["size"]) > 0


# --- tokens and locale --------------------------------------------------------------------


def test_strict_tokens_live_one_minute(strict_api: Api, demo: Demo):
    for reply in (
        strict_api.token(grant_type="client_credentials"),
        strict_api.ok(
            "POST",
            "/portal/auth",
            strict_api.staff(),
            json={"contact_id": contact_with_account(demo)["id"]},
        ),
    ):
        assert reply["expires_in"] == 60
        claims = jwt.decode(reply["access_token"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 60


def test_strict_base_locale_is_german(api: Api, strict_api: Api):
    assert api.ok("GET", "/meta/locale", api.staff())["date_format"] == "Y-m-d"
    staff = strict_api.staff()
    base = strict_api.ok("GET", "/meta/locale", staff)
    assert base["language"] == "de" and base["date_format"] == "d.m.Y"
    assert base["number_format"]["dec_sep"] == "," and base["timezone"] == "Europe/Berlin"
    french = strict_api.ok("GET", "/meta/locale", staff, headers={"Accept-Language": "fr"})
    assert french["language"] == "de"
    english = strict_api.ok("GET", "/meta/locale", staff, headers={"Accept-Language": "en"})
    assert english["date_format"] == "Y-m-d"
    labels = strict_api.ok("GET", "/meta/fields/Invoice", staff)["fields"]
    assert labels["due_date"]["label"] == "Fälligkeitsdatum"


# --- documents filtered by their owner ----------------------------------------------------


def test_strict_document_account_filter_goes_through_the_relationship(strict_api: Api, demo: Demo):
    account = contact_with_account(demo)["primary_account_id"]
    strict_api.server.reset_controls(profile="default")  # the same data, read both ways
    linked = {d["id"] for d in strict_api.records_of_link("Account", account, "documents")}
    assert linked
    staff = strict_api.staff()
    by_field = strict_api.records("Document", staff, **{"filters[account_id]": account})
    assert by_field == []  # the demo's documents carry no account_id: the link says it
    strict_api.server.reset_controls()
    found = strict_api.records("Document", staff, **{"filters[account_id]": account})
    assert {d["id"] for d in found} == linked
    token = strict_api.portal(contact_with_account(demo)["id"])
    mine = strict_api.records("Document", token, **{"filters[account_id]": account})
    assert {d["id"] for d in mine} == linked


# --- view_closed ------------------------------------------------------------------------


def test_the_strict_crm_ignores_view_closed_and_lists_every_case(strict_api: Api):
    """The reference does not document `view_closed`: the strict CRM takes it as any
    unknown parameter (no 400) and lists closed cases with the open ones, asked or not."""
    closed_keys = {
        key for stored, key in INSTALLATION_VOCABULARY[("aCase", "status")].items()
        if stored.startswith("Closed")
    }  # fmt: skip
    staff = strict_api.staff()
    plain = counts(strict_api, "aCase", "status")
    asked = Counter(
        r.get("status")
        for r in strict_api.records("aCase", staff, **{"fields[]": ["status"], "view_closed": "1"})
    )
    assert plain == asked and set(plain) & closed_keys
    # The same server with the switch off hides them unless asked.
    strict_api.server.control("POST", "switches", json={"view_closed_ignored": False})
    hidden = counts(strict_api, "aCase", "status")
    assert not set(hidden) & closed_keys
    assert sum(hidden.values()) + sum(plain[k] for k in closed_keys) == sum(plain.values())
