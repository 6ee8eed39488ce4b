"""Production settings refuse to start without their secrets, and say why; they do not
install the 1CRM emulator, which the development settings add."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What the test process sets for itself, and production never has.
DEV_ONLY = {"DEBUG", "DJANGO_SETTINGS_MODULE", "PORTAL_DATA_DIR"}

PRODUCTION_ENV = {
    "SECRET_KEY": "a-long-random-production-secret-key-for-the-settings-test-0123456789",
    "ONECRM_API_URL": "https://crm.example.com/1crm/api.php",
    "ALLOWED_HOSTS": "portal.example.com",
    "PORTAL_BASE_URL": "https://portal.example.com",
}


def import_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {*DEV_ONLY, *PRODUCTION_ENV}}
    return subprocess.run(
        [sys.executable, "-c", "import portal.settings"],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_start_with_their_secrets():
    result = import_settings(PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr


def test_production_settings_refuse_to_start_without_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = import_settings(env)
    assert result.returncode == 2
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_settings_refuse_to_start_without_crm_url():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "ONECRM_API_URL"}
    result = import_settings(env)
    assert result.returncode == 2
    assert "ONECRM_API_URL is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_settings_refuse_to_start_without_base_url():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "PORTAL_BASE_URL"}
    result = import_settings(env)
    assert result.returncode == 2
    assert "PORTAL_BASE_URL is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_base_url_is_a_scheme_and_host_only():
    for bad in ["portal.example.com", "ftp://portal.example.com", "https://portal.example.com/x"]:
        result = import_settings({**PRODUCTION_ENV, "PORTAL_BASE_URL": bad})
        assert result.returncode == 2, bad
        assert "PORTAL_BASE_URL must be" in result.stderr
    for good in ["https://portal.example.com/", "https://portal.example.com:8443"]:
        assert import_settings({**PRODUCTION_ENV, "PORTAL_BASE_URL": good}).returncode == 0


def test_bad_data_access_mode_is_refused():
    result = import_settings({**PRODUCTION_ENV, "ONECRM_DATA_ACCESS": "everything"})
    assert result.returncode == 2
    assert "ONECRM_DATA_ACCESS" in result.stderr


def test_trusted_proxies_must_be_addresses_or_networks():
    for bad in [{"TRUSTED_PROXIES": "10.0.0.0/8, load-balancer"}, {"TRUSTED_PROXY_HOPS": "0"}]:
        result = import_settings({**PRODUCTION_ENV, **bad})
        assert result.returncode == 2, bad
        assert next(iter(bad)) in result.stderr
        assert "Traceback" not in result.stderr
    good = {"TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7, 2001:db8::/32", "TRUSTED_PROXY_HOPS": "2"}
    assert import_settings({**PRODUCTION_ENV, **good}).returncode == 0


def test_deploy_check_is_clean_with_production_settings():
    base = {k: v for k, v in os.environ.items() if k not in DEV_ONLY}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={**base, **PRODUCTION_ENV},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr


def test_production_settings_neither_install_nor_import_the_emulator():
    """As gunicorn starts the portal (portal.asgi, DEBUG off), with every URL loaded."""
    code = (
        "import json, sys; import portal.asgi; from django.conf import settings; "
        "from django.urls import get_resolver; get_resolver().url_patterns; "
        "print(json.dumps({'apps': settings.INSTALLED_APPS, 'databases': list(settings.DATABASES), "
        "'routers': settings.DATABASE_ROUTERS, "
        "'imported': sorted(m for m in sys.modules if m.startswith('crm_emulator'))}))"
    )
    base = {k: v for k, v in os.environ.items() if k not in {*DEV_ONLY, *PRODUCTION_ENV}}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **PRODUCTION_ENV, "DEBUG": "0"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    production = json.loads(result.stdout.strip().splitlines()[-1])
    assert "portal" in production["apps"]  # the settings did load
    assert "crm_emulator" not in production["apps"]
    assert production["databases"] == ["default"]
    assert production["routers"] == []
    assert production["imported"] == []


def test_the_deploy_check_names_an_installed_emulator():
    """The test settings are the development ones: the emulator, its database, its router."""
    from portal.checks import emulator_not_installed

    [warning] = emulator_not_installed(None)
    assert warning.id == "portal.W001"
    assert "crm_emulator is in INSTALLED_APPS" in warning.msg
    assert "'emulator' alias" in warning.msg
    assert "DATABASE_ROUTERS" in warning.msg


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "ture", "DEBUG must be one of 1, 0, true, false, yes, no, on, off."),
        ("SECURE_HSTS_PRELOAD", "maybe", "SECURE_HSTS_PRELOAD must be one of 1, 0, true"),
        ("SESSION_MAX_AGE", "8h", "SESSION_MAX_AGE must be a whole number (for example 28800)."),
        ("ONECRM_TIMEOUT", "ten", "ONECRM_TIMEOUT must be a number of seconds (for example 10)."),
        ("ONECRM_DEADLINE", "inf", "ONECRM_DEADLINE must be a number of seconds"),
        ("DOWNLOADS_PER_CONTACT", "four", "DOWNLOADS_PER_CONTACT must be a whole number"),
        ("DOWNLOADS_PER_CONTACT", "0", "DOWNLOADS_PER_CONTACT must be at least 1."),
        ("DOWNLOAD_MAX_SECONDS", "15m", "DOWNLOAD_MAX_SECONDS must be a number of seconds"),
        ("DOWNLOAD_MAX_SECONDS", "-1", "DOWNLOAD_MAX_SECONDS must be a number of seconds above"),
        ("DASHBOARD_BALANCE_TTL", "10m", "DASHBOARD_BALANCE_TTL must be a whole number"),
        ("DASHBOARD_BALANCE_TTL", "-5", "DASHBOARD_BALANCE_TTL must be 0 (no cache) or more"),
    ],
)
def test_a_value_that_is_not_a_boolean_or_a_number_stops_start_up(name, value, message):
    """A typo never reads as a default (DEBUG=ture was false): one line, no traceback, and
    not the value itself (it may be a secret pasted into the wrong variable)."""
    result = import_settings({**PRODUCTION_ENV, name: value})
    assert result.returncode == 2
    assert result.stderr.startswith(f"Configuration error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert value not in result.stderr


def test_the_settings_helpers_read_the_usual_spellings(monkeypatch):
    from portal.settings import env_bool, env_float, env_int

    spellings = {"1": True, " TRUE ": True, "yes": True, "On": True}
    spellings |= {"0": False, "false": False, "NO": False, "off": False}
    for text, expected in spellings.items():
        monkeypatch.setenv("PORTAL_TEST_VALUE", text)
        assert env_bool("PORTAL_TEST_VALUE", default=not expected) is expected
    monkeypatch.setenv("PORTAL_TEST_VALUE", " 42 ")
    assert env_int("PORTAL_TEST_VALUE", 1) == 42
    assert env_float("PORTAL_TEST_VALUE", 1.0) == 42.0
    monkeypatch.setenv("PORTAL_TEST_VALUE", "")  # empty is unset: the default
    assert env_bool("PORTAL_TEST_VALUE", True) is True
    assert env_int("PORTAL_TEST_VALUE", 7) == 7
    assert env_float("PORTAL_TEST_VALUE", 0.5) == 0.5
