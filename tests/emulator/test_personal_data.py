"""The emulator's personal-data endpoints (issue 16): `/printer/pdf/personal/{model}/{id}`,
`/data/erase_personal/{model}/{id}`, the personal markers in `/meta/fields/Contact`, and
French labels beside English and German."""

from __future__ import annotations

import io
import uuid

from pypdf import PdfReader

from tests.emulator.conftest import Api


def _new_contact(api: Api, staff: str, account_id: str) -> str:
    data = {
        "first_name": "Erin",
        "last_name": f"Erase{uuid.uuid4().hex[:8]}",
        "title": "Chef",
        "phone_mobile": "+33 6 12",
        "email1": f"erin.{uuid.uuid4().hex[:8]}@example.com",
        "primary_account_id": account_id,
    }
    return api.ok("POST", "/data/Contact", staff, json={"data": data})["id"]


def _contact(api: Api, staff: str, contact_id: str) -> dict:
    fields = ["first_name", "last_name", "title", "phone_mobile", "email1", "primary_account_id"]
    return api.ok("GET", f"/data/Contact/{contact_id}", staff, params={"fields[]": fields})[
        "record"
    ]


def test_meta_fields_mark_personal_fields(api: Api):
    fields = api.ok("GET", "/meta/fields/Contact", api.staff())["fields"]
    assert fields["first_name"]["personal"] is True
    assert fields["phone_home"]["personal"] is True
    assert "personal" not in fields["primary_account_id"]
    assert "personal" not in fields["portal_active"]
    assert fields["email_opt_out"]["type"] == "bool"


def test_labels_in_french_beside_english_and_german(api: Api):
    staff = api.staff()

    def label(language: str) -> str:
        headers = {"Accept-Language": language}
        reply = api.get("/meta/fields/Contact", staff, headers=headers)
        assert reply.headers["Content-Language"] == language
        return reply.json()["fields"]["first_name"]["label"]

    assert (label("en"), label("de"), label("fr")) == ("First Name", "Vorname", "Prénom")


def test_case_options_in_french_beside_english_and_german(api: Api):
    staff = api.staff()

    def options(language: str) -> dict:
        reply = api.get("/meta/fields/aCase", staff, headers={"Accept-Language": language})
        return reply.json()["fields"]["status"]["options"]

    english, german, french = options("en"), options("de"), options("fr")
    assert english["Closed - Complete"] == "Closed" and german["Closed - Complete"] == "Geschlossen"
    assert french["Closed - Complete"] == "Fermé"
    assert set(french) == set(english) and all(french[k] != english[k] for k in english)


def test_personal_data_print_is_a_pdf_of_the_contact(api: Api, two_contacts):
    staff = api.staff()
    contact_id = _new_contact(api, staff, two_contacts[0]["primary_account_id"])
    reply = api.get(
        f"/printer/pdf/personal/Contact/{contact_id}", staff, headers={"Accept-Language": "fr"}
    )
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(reply.content)).pages)
    assert "Données personnelles" in text and "Erin" in text and "Prénom" in text


def test_a_contact_token_prints_only_its_own_personal_data(api: Api, two_contacts):
    first, other = two_contacts
    token = api.portal(first["id"])
    assert api.get(f"/printer/pdf/personal/Contact/{first['id']}", token).status_code == 200
    api.error(api.get(f"/printer/pdf/personal/Contact/{other['id']}", token), 404)


def test_erase_personal_empties_exactly_the_listed_fields(api: Api, two_contacts):
    staff = api.staff()
    contact_id = _new_contact(api, staff, two_contacts[0]["primary_account_id"])
    before = _contact(api, staff, contact_id)
    body = {"data": {"fields": "title, phone_mobile"}}
    assert api.ok("POST", f"/data/erase_personal/Contact/{contact_id}", staff, json=body) == {
        "result": True
    }
    after = _contact(api, staff, contact_id)
    assert after["title"] == "" and after["phone_mobile"] == ""
    assert {k: after[k] for k in ("first_name", "last_name", "email1", "primary_account_id")} == {
        k: before[k] for k in ("first_name", "last_name", "email1", "primary_account_id")
    }


def test_erase_personal_refuses_other_fields_contacts_and_get(api: Api, two_contacts):
    staff = api.staff()
    first = two_contacts[0]
    contact_id = _new_contact(api, staff, first["primary_account_id"])
    before = _contact(api, staff, contact_id)
    path = f"/data/erase_personal/Contact/{contact_id}"
    # Not a personal field: nothing is erased, not even the listed personal one.
    bad = {"data": {"fields": "title,primary_account_id"}}
    api.error(api.call("POST", path, staff, json=bad), 400)
    api.error(api.call("POST", path, staff, json={"data": {}}), 400)
    api.error(api.call("GET", path, staff), 405)
    own = f"/data/erase_personal/Contact/{first['id']}"
    api.error(
        api.call("POST", own, api.portal(first["id"]), json={"data": {"fields": "title"}}), 403
    )
    api.error(api.call("POST", "/data/erase_personal/Invoice/1", staff, json=bad), 400)
    assert _contact(api, staff, contact_id) == before
