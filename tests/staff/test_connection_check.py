"""Test connection (admin button and `manage.py portal_check`) against the emulator:
healthy, and each failure with its precise reason."""

import json
import re
from io import StringIO

import httpx2 as httpx
import pytest
from django.core.management import CommandError, call_command

from tests.emulator_server import free_port
from tests.pages.conftest import demo_of, sign_in
from tests.staff.conftest import SETTINGS_URL, assert_used, crm_calls

pytestmark = pytest.mark.django_db

TEST_URL = "/admin/portal/portalsettings/test-connection/"


def set_switches(crm, **switches):
    """The emulator's switches; skip (not fail) while the emulator lacks this control."""
    try:
        crm.control("POST", "switches", json=switches)
    except httpx.HTTPStatusError as error:
        if error.response.status_code == 404:
            pytest.skip("the emulator has no /__emulator__/switches control yet")
        raise


def run_check(admin_client):
    response = admin_client.post(TEST_URL)
    assert response.status_code == 200
    return response.context["report"], response.content.decode()


def test_healthy_crm_reports_version_products_auth_and_round_trip(admin_client, crm):
    report, page = run_check(admin_client)
    assert report.ok, report.message
    assert report.crm_version == "8.6.2"
    assert report.products and "enterprise" in report.products
    assert report.authenticated is True
    assert report.round_trip_ms is not None and report.round_trip_ms >= 0
    assert [step.name for step in report.steps] == [
        "version (anonymous)",
        "staff token",
        "version (authenticated)",
        "locale",
    ]
    assert "Connected" in page and "8.6.2" in page and "works" in page


def test_get_only_shows_the_configuration_and_calls_nothing(admin_client, settings):
    settings.ONECRM_API_URL = f"http://127.0.0.1:{free_port()}/1crm/api.php"
    response = admin_client.get(TEST_URL)
    assert response.status_code == 200
    assert response.context["report"] is None
    assert admin_client.get(SETTINGS_URL).status_code == 200


def test_refused_port(admin_client, settings):
    settings.ONECRM_API_URL = f"http://127.0.0.1:{free_port()}/1crm/api.php"
    report, page = run_check(admin_client)
    assert not report.ok and report.reason == "refused"
    assert "refused the connection" in report.message
    assert "Connection failed" in page


def test_dns_failure(admin_client, settings):
    settings.ONECRM_API_URL = "http://crm.portal-test.invalid/1crm/api.php"
    report, _page = run_check(admin_client)
    assert report.reason == "dns", report.message
    assert "crm.portal-test.invalid" in report.message


def test_tls_failure_when_the_port_does_not_speak_https(admin_client, crm, settings):
    settings.ONECRM_API_URL = crm.api_url.replace("http://", "https://")
    report, _page = run_check(admin_client)
    assert report.reason == "tls", report.message


def test_wrong_secret_is_a_401_and_the_secret_is_never_shown(admin_client, crm, settings):
    settings.ONECRM_SERVICE_CLIENT_SECRET = "wrong-secret-for-the-test"
    report, page = run_check(admin_client)
    assert report.reason == "unauthorized", report.message
    assert report.steps[0].ok and not report.steps[1].ok
    assert "wrong-secret-for-the-test" not in page
    assert "wrong-secret-for-the-test" not in json.dumps(report.as_dict())


def test_startup_edition_is_a_403_with_its_reason(admin_client, crm):
    set_switches(crm, startup_edition=True)
    report, _page = run_check(admin_client)
    assert report.reason == "startup_edition", report.message
    assert "Pro and Enterprise" in report.message


def test_plain_http_refused(admin_client, crm):
    set_switches(crm, allow_http=False)
    report, _page = run_check(admin_client)
    assert report.reason == "plain_http_refused", report.message
    assert "https://" in report.message


def test_timeout(admin_client, crm, settings):
    # The check has the gateway's timeouts, as every page has.
    settings.ONECRM_TIMEOUT, settings.ONECRM_DEADLINE = 0.3, 2.0
    try:
        crm.control("POST", "faults", json={"path": "^/version$", "kind": "latency", "ms": 1500})
    except httpx.HTTPStatusError as error:
        if error.response.status_code == 404:
            pytest.skip("the emulator has no /__emulator__/faults control yet")
        raise
    report, _page = run_check(admin_client)
    assert report.reason == "timeout", report.message


def test_portal_check_command_reports_a_healthy_crm(crm):
    out = StringIO()
    call_command("portal_check", stdout=out)
    text = out.getvalue()
    assert "CRM version: 8.6.2" in text and "Result: OK" in text
    assert "Authentication: works" in text


def test_portal_check_json(crm):
    out = StringIO()
    call_command("portal_check", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["ok"] is True and report["crm_version"] == "8.6.2"
    assert report["authenticated"] is True


def test_portal_check_fails_with_a_non_zero_exit_and_the_reason(crm, settings):
    settings.ONECRM_API_URL = f"http://127.0.0.1:{free_port()}/1crm/api.php"
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("portal_check", "--json", stdout=out)
    assert failure.value.returncode == 1
    assert json.loads(out.getvalue())["reason"] == "refused"


def test_portal_check_exit_code_from_the_shell(crm):
    """The real command line: exit status 1, one line on stderr, no traceback."""
    import subprocess
    import sys

    env = {**crm.env, "ONECRM_API_URL": f"http://127.0.0.1:{free_port()}/1crm/api.php"}
    result = subprocess.run(
        [sys.executable, "manage.py", "portal_check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "FAILED (refused)" in result.stdout
    assert "Traceback" not in result.stderr


def test_test_connection_uses_the_configured_staff_credential(admin_client, staff_auth, crm):
    report, page = run_check(admin_client)
    assert report.ok, report.message
    assert report.authenticated is True and report.locale["date_format"]
    token_step = {"oauth": "staff token", "basic": "staff credential"}[staff_auth]
    assert [step.name for step in report.steps] == [
        "version (anonymous)",
        token_step,
        "version (authenticated)",
        "locale",
    ]
    assert_used(crm, staff_auth, "/version", "/meta/locale")
    assert "Connected" in page


def test_portal_check_with_basic_authentication(crm, settings):
    crm.control("POST", "switches", json={"basic_auth": True})
    settings.ONECRM_BASIC_USERNAME, settings.ONECRM_BASIC_PASSWORD = "admin", "demo-password"
    crm.control("DELETE", "requests")
    out = StringIO()
    call_command("portal_check", stdout=out)
    assert "Result: OK" in out.getvalue() and "HTTP Basic" in out.getvalue()
    assert crm_calls(crm, "/auth/") == []


def test_wrong_basic_password_is_a_401_with_the_basic_hint(admin_client, crm, settings):
    crm.control("POST", "switches", json={"basic_auth": True})
    settings.ONECRM_BASIC_USERNAME = "admin"
    settings.ONECRM_BASIC_PASSWORD = "wrong-basic-password-for-the-test"
    report, page = run_check(admin_client)
    assert report.reason == "unauthorized", report.message
    assert "ONECRM_BASIC_USERNAME" in report.message
    assert [step.ok for step in report.steps] == [True, True, False]
    assert "wrong-basic-password-for-the-test" not in page
    assert "wrong-basic-password-for-the-test" not in json.dumps(report.as_dict())


def test_basic_configured_but_refused_by_the_crm(admin_client, crm, settings):
    settings.ONECRM_BASIC_USERNAME, settings.ONECRM_BASIC_PASSWORD = "admin", "demo-password"
    report, _page = run_check(admin_client)  # the emulator's basic_auth switch is off
    assert report.reason == "unauthorized", report.message
    assert "Basic" in report.message


def test_a_cached_token_does_not_hide_a_broken_secret(admin_client, crm, settings):
    assert run_check(admin_client)[0].ok  # a staff token is now cached, process and cache
    settings.ONECRM_SERVICE_CLIENT_SECRET = "rotated-wrongly"
    report, _page = run_check(admin_client)
    assert report.reason == "unauthorized", report.message


def test_an_html_page_instead_of_the_api_is_a_bad_reply(admin_client, crm):
    crm.control("POST", "faults", json={"path": "^/version$", "kind": "html"})
    report, _page = run_check(admin_client)
    assert report.reason == "bad_reply", report.message
    assert "text/html" in report.message and "ONECRM_API_URL" in report.message


def test_a_url_without_a_scheme_is_not_configured(admin_client, settings):
    settings.ONECRM_API_URL = "crm.example.com/1crm/api.php"
    report, _page = run_check(admin_client)
    assert report.reason == "not_configured", report.message


def test_test_connection_names_the_capabilities_and_fallbacks(admin_client, strict_crm, client):
    # The stage settings name 1CRM's standard stages; the strict CRM has its own keys
    # for them, which Test connection probes (and finds its filters literal).
    person = demo_of(strict_crm).main
    sign_in(client, strict_crm.api_url, person)
    documents = client.get("/documents/")
    assert documents.status_code == 200  # a contact lists documents
    document = re.findall(r'href="/documents/([0-9a-f-]+)/"', documents.content.decode())[0]
    assert client.get(f"/documents/{document}/").status_code == 200  # its own links refused
    invoice = next(
        iter(
            re.findall(r'href="/invoices/([0-9a-f-]+)/"', client.get("/invoices/").content.decode())
        )
    )
    assert client.get(f"/invoices/{invoice}/").status_code == 200  # its links refused
    case = re.findall(r'href="/cases/([0-9a-f-]+)/"', client.get("/cases/").content.decode())[0]
    assert client.get(f"/cases/{case}/").status_code == 200  # its notes link refused
    report, page = run_check(admin_client)
    assert report.ok, report.message
    found = dict(report.capabilities)
    assert "account_id" in found["Document list filters"]
    assert "taken literally" in found["several values for Invoice.shipping_stage"]
    assert "refused: account link" in found["documents with the portal credential"]
    links = found["links with the portal credential"]
    assert "refused: Invoice.payments, Invoice.notes, aCase.notes" in links
    assert "refused: Document.accounts" in found["document links with the portal credential"]
    assert set(report.fallbacks) == {
        "case notes (portal credential)",
        "case statuses",
        "document ownership (portal credential)",
        "several values: Invoice.shipping_stage",
        "several values: Quote.quote_stage",
        "documents (portal credential)",
        "links (portal credential): Invoice.payments",
        "links (portal credential): Invoice.notes",
    }
    assert "Fallbacks in use" in page and "several values: Invoice.shipping_stage" in page
    assert "documents are read by account filter" in page


def test_portal_check_lists_the_fallbacks_on_the_strict_profile(strict_crm):
    out = StringIO()
    call_command("portal_check", stdout=out)
    text = out.getvalue()
    assert "Result: OK" in text
    assert "Fallback in use: several values: Invoice.shipping_stage" in text
    assert "Capability: several values for Quote.quote_stage: a^,^b is taken literally" in text


def test_portal_check_on_a_crm_that_reads_joined_values(crm):
    out = StringIO()
    call_command("portal_check", stdout=out)
    text = out.getvalue()
    assert "Capability: several values for Invoice.shipping_stage: a^,^b is read as" in text
    assert "Fallbacks in use: none" in text
