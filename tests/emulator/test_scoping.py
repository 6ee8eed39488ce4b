"""Contact scoping: a contact-scoped token sees its own account's records only."""

import pytest

from tests.emulator.conftest import Api


@pytest.fixture
def scoped(api: Api, two_contacts):
    mine, other = two_contacts
    token = api.portal(mine["id"])
    staff = api.staff()
    foreign_invoice = api.records(
        "Invoice", staff, **{"filters[billing_account_id]": other["primary_account_id"]}
    )[0]
    return token, mine, other, foreign_invoice, staff


def test_lists_hold_only_the_contacts_account(api: Api, scoped):
    token, mine, _, _, _ = scoped
    invoices = api.records(
        "Invoice", token, **{"fields[]": ["billing_account_id", "billing_contact_id"]}
    )
    assert invoices
    assert all(
        r["billing_account_id"] == mine["primary_account_id"]
        or r["billing_contact_id"] == mine["id"]
        for r in invoices
    )
    accounts = api.records("Account", token)
    assert [a["id"] for a in accounts] == [mine["primary_account_id"]]


def test_another_accounts_invoice_is_404_everywhere(api: Api, scoped):
    token, _, _, foreign, staff = scoped
    invoice_id = foreign["id"]
    api.error(api.get(f"/data/Invoice/{invoice_id}", token), 404)
    api.error(api.get(f"/tally/Invoice/{invoice_id}", token), 404)
    api.error(api.get(f"/printer/pdf/Invoice/{invoice_id}", token), 404)
    api.error(api.get(f"/data/Invoice/{invoice_id}/payments", token), 404)
    api.error(
        api.call("PATCH", f"/data/Invoice/{invoice_id}", token, json={"data": {"name": "x"}}), 403
    )
    # ... while the staff credential reaches it.
    assert api.get(f"/data/Invoice/{invoice_id}", staff).status_code == 200


def test_another_accounts_files_are_404(api: Api, scoped):
    token, mine, other, _, staff = scoped
    foreign_docs = api.ok(
        "GET",
        f"/data/Account/{other['primary_account_id']}/documents",
        staff,
        params={"limit": 200},
    )["records"]
    own_docs = api.ok(
        "GET", f"/data/Account/{mine['primary_account_id']}/documents", staff, params={"limit": 200}
    )["records"]
    own_ids = {d["id"] for d in own_docs}
    foreign = next(d for d in foreign_docs if d["id"] not in own_ids)
    api.error(api.get(f"/files/download/Document/{foreign['id']}", token), 404)
    api.error(api.get(f"/files/info/Document/{foreign['id']}", token), 404)
    own = own_docs[0]
    assert api.get(f"/files/info/Document/{own['id']}", token).status_code == 200


def test_notes_need_the_portal_flag(api: Api, scoped):
    token, mine, _, _, staff = scoped
    notes = api.records(
        "Note",
        staff,
        **{"filters[account_id]": mine["primary_account_id"], "fields[]": ["portal_flag"]},
    )
    hidden = [n for n in notes if not n["portal_flag"]]
    shown = [n for n in notes if n["portal_flag"]]
    visible_ids = {n["id"] for n in api.records("Note", token)}
    assert {n["id"] for n in shown} <= visible_ids
    assert not ({n["id"] for n in hidden} & visible_ids)
    if hidden:
        api.error(api.get(f"/data/Note/{hidden[0]['id']}", token), 404)


def test_models_a_contact_may_not_use_are_403(api: Api, scoped):
    token = scoped[0]
    for model in ("User", "ProductCatalog"):
        api.error(api.get(f"/data/{model}", token), 403)
    api.error(api.get("/webhooks", token), 403)
    api.error(api.call("POST", "/data/Invoice", token, json={"data": {"name": "x"}}), 403)


def test_a_contact_creates_cases_for_its_own_account(api: Api, scoped):
    token, mine, other, _, staff = scoped
    created = api.ok(
        "POST",
        "/data/aCase",
        token,
        json={"data": {"name": "Help please", "account_id": other["primary_account_id"]}},
    )
    record = api.ok("GET", f"/data/aCase/{created['id']}", token)["record"]
    assert record["account_id"] == mine["primary_account_id"]
    assert record["cust_contact_id"] == mine["id"]
    api.error(api.call("DELETE", f"/data/aCase/{created['id']}", token), 403)
    api.ok("DELETE", f"/data/aCase/{created['id']}", staff)


def test_leaky_switch_lets_other_accounts_through(api: Api, scoped):
    token, _, _, foreign, _ = scoped
    api.server.control("POST", "switches", json={"leaky": True})
    assert api.ok("GET", f"/data/Invoice/{foreign['id']}", token)["record"]["id"] == foreign["id"]
    all_invoices = api.ok("GET", "/data/Invoice", token)["total_results"]
    assert all_invoices >= 300
    api.error(api.get("/data/User", token), 403)  # the model check stays


def test_contact_oauth_token_reads_data_like_a_portal_token_when_switched(api: Api, scoped):
    _, mine, _, foreign, _ = scoped
    api.server.control("POST", "switches", json={"contact_token_reads_data": True})
    token = api.contact_oauth(mine["email1"])
    api.error(api.get(f"/data/Invoice/{foreign['id']}", token), 404)
    portal_total = api.ok("GET", "/data/Invoice", api.portal(mine["id"]))["total_results"]
    assert api.ok("GET", "/data/Invoice", token)["total_results"] == portal_total
