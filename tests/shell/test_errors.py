"""Friendly error pages: no stack trace, a retry for CRM trouble, fragments for htmx."""

import pytest
from django.test import Client

from tests.shell.html import parse

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.shell.urls")]

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/invoices/?page=2"}


def test_unknown_page_is_a_friendly_404(client: Client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    page = parse(response.content)
    assert page.find("h1").text == "Page not found"
    assert page.find("main", id="main") is not None
    assert "Content-Security-Policy" in response


def test_crm_unavailable_is_a_503_page_with_a_retry_link(client: Client):
    response = client.get("/__test__/crm-down/?page=3")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Cache-Control"] == "no-store"
    page = parse(response.content)
    assert "not reachable" in page.find("h1").text
    retry = page.find("a", **{"class": "button"})
    assert retry.attrs["href"] == "/__test__/crm-down/?page=3"
    body = response.content.decode()
    assert "Traceback" not in body and "/data/Invoice" not in body
    assert "connection refused" not in body


def test_a_nonsense_reply_from_the_crm_is_a_502(client: Client):
    response = client.get("/__test__/crm-bad-reply/")
    assert response.status_code == 502
    assert "not JSON" not in response.content.decode()


def test_crm_not_found_is_the_404_page(client: Client):
    response = client.get("/__test__/crm-not-found/")
    assert response.status_code == 404
    assert parse(response.content).find("h1").text == "Page not found"


def test_reauthentication_sends_the_contact_to_sign_in(client: Client):
    response = client.get("/__test__/crm-reauth/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=%2F__test__%2Fcrm-reauth%2F"


def test_htmx_gets_a_fragment_retargeted_to_the_alerts_with_a_retry(client: Client):
    response = client.get("/__test__/crm-down/", headers=HTMX)
    assert response.status_code == 503
    assert response["HX-Retarget"] == "#portal-alerts"
    assert response["HX-Reswap"] == "innerHTML"
    body = response.content.decode()
    assert "<html" not in body and "<main" not in body
    page = parse(body)
    # Retrying reloads the page the customer is on, not the fragment URL.
    assert page.find("a", **{"class": "button"}).attrs["href"] == "/invoices/?page=2"


def test_htmx_retry_never_points_to_another_site(client: Client):
    headers = {**HTMX, "HX-Current-URL": "https://evil.example/phish"}
    page = parse(client.get("/__test__/crm-down/", headers=headers).content)
    assert page.find("a", **{"class": "button"}).attrs["href"] == "/"


def test_htmx_404_is_a_fragment(client: Client):
    response = client.get("/no-such-page/", headers=HTMX)
    assert response.status_code == 404
    assert response["HX-Retarget"] == "#portal-alerts"
    assert b"<html" not in response.content


def test_a_crash_is_a_500_page_without_details(client: Client):
    client.raise_request_exception = False
    response = client.get("/__test__/crash/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body
    assert "secret internal detail" not in body and "Traceback" not in body
    page = parse(body)
    assert page.find_all("style") == [] and all(s.attrs.get("src") for s in page.find_all("script"))


@pytest.mark.parametrize("template", ["400.html", "403.html", "404.html", "crm_unavailable.html"])
def test_error_templates_render_on_their_own(rf, template):
    from django.template.loader import render_to_string

    html = render_to_string(template, {}, rf.get("/"))
    page = parse(html)
    assert page.find("h1").text.strip()
    assert page.find("main", id="main") is not None
