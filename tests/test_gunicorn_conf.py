"""gunicorn.conf.py: each worker listens on its own socket unless the operator says not."""

import runpy

import pytest

from tests.emulator_server import ROOT

CONF = str(ROOT / "gunicorn.conf.py")


def test_reuse_port_is_on_by_default(monkeypatch):
    monkeypatch.delenv("GUNICORN_REUSE_PORT", raising=False)
    assert runpy.run_path(CONF)["reuse_port"] is True


def test_reuse_port_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("GUNICORN_REUSE_PORT", "0")
    assert runpy.run_path(CONF)["reuse_port"] is False


def test_a_typo_stops_start_up(monkeypatch):
    monkeypatch.setenv("GUNICORN_REUSE_PORT", "yes please")
    with pytest.raises(SystemExit, match="GUNICORN_REUSE_PORT"):
        runpy.run_path(CONF)
