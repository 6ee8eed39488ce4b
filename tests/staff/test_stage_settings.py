"""The stage settings speak the CRM's vocabulary (issue 13): staff choose among the
CRM's own options from `/meta/fields`, labelled in their language; the shipped defaults
(1CRM's standard names) tick the CRM's keys for them; a value the CRM does not know is
refused on save with what it offers, and a saved one is flagged."""

import pytest

from portal.models import PortalSettings
from tests.staff.conftest import SETTINGS_URL
from tests.staff.forms import form_values

pytestmark = pytest.mark.django_db


def stage_field(response, name: str):
    return response.context["adminform"].form.fields[name]


def test_the_strict_crms_own_stages_are_the_choices_with_its_labels(admin_client, strict_crm):
    response = admin_client.get(SETTINGS_URL, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    choices = dict(stage_field(response, "quote_stages").choices)
    assert choices["Angenommen"] == "Closed Accepted (Angenommen)"
    assert "Closed Accepted" not in choices  # a demo key is not this CRM's
    # The shipped defaults name 1CRM's standard stages: they tick this CRM's keys.
    ticked = form_values(response.content, "portalsettings_form")["invoice_stages"]
    assert ticked == ["Offen", "Teilweise versandt", "Versandt", "Zugestellt"]
    assert b'value="In Vorbereitung"' in response.content  # offered, not ticked


def test_staff_read_the_crms_labels_in_their_language(admin_client, strict_crm):
    response = admin_client.get(SETTINGS_URL, HTTP_ACCEPT_LANGUAGE="de")
    choices = dict(stage_field(response, "quote_stages").choices)
    assert choices["Angenommen"] == "Angenommen"  # the German label is the key itself


def test_saving_keeps_the_crms_keys(admin_client, strict_crm):
    data = form_values(admin_client.get(SETTINGS_URL).content, "portalsettings_form")
    data["quote_stages"] = ["Zugestellt", "In Verhandlung", "Angenommen"]
    response = admin_client.post(SETTINGS_URL, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    row = PortalSettings.objects.get()
    assert row.quote_stages == ["Zugestellt", "In Verhandlung", "Angenommen"]
    assert row.invoice_stages == ["Offen", "Teilweise versandt", "Versandt", "Zugestellt"]


def test_a_value_the_crm_does_not_know_is_refused_with_what_it_offers(admin_client, strict_crm):
    data = form_values(admin_client.get(SETTINGS_URL).content, "portalsettings_form")
    data["invoice_stages"] = ["Offen", "Shipped out"]
    response = admin_client.post(SETTINGS_URL, data)
    assert response.status_code == 200
    message = " ".join(response.context["adminform"].form.errors["invoice_stages"])
    assert "This CRM has no shipping_stage value “Shipped out”" in message
    assert "Pending (Offen)" not in message and "Pending" in message  # its labels


def test_a_saved_value_the_crm_no_longer_knows_is_flagged(admin_client, strict_crm):
    PortalSettings.objects.filter(pk=1).update(invoice_stages=["Offen", "Archiviert"])
    response = admin_client.get(SETTINGS_URL, HTTP_ACCEPT_LANGUAGE="en")
    shown = [str(m) for m in response.context["messages"]]
    assert any("the CRM no longer knows Archiviert" in m for m in shown), shown
    choices = dict(stage_field(response, "invoice_stages").choices)
    assert choices["Archiviert"] == "Archiviert: not a value of this CRM"


def test_a_crm_that_does_not_list_options_keeps_free_text(admin_client, crm):
    crm.control("POST", "faults", json={"path": "^/meta/fields/", "kind": "status", "status": 403})
    response = admin_client.get(SETTINGS_URL)
    assert response.status_code == 200
    help_text = str(stage_field(response, "quote_stages").help_text)
    assert "did not list this field's options" in help_text
    assert b'<textarea name="quote_stages"' in response.content
