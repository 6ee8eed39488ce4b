"""The lint rule that keeps crm_gateway the only road to the CRM (ruff TID251, configured
in pyproject.toml and run by `.ci/run`), shown failing on deliberate violations."""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def ruff_on(folder: str, source: str) -> subprocess.CompletedProcess:
    """`ruff check` of a module placed in `folder` of the project, then removed."""
    probe = ROOT / folder / f"_one_road_probe_{uuid.uuid4().hex}.py"
    probe.write_text(source)
    try:
        return subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "TID251", probe],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        probe.unlink()


@pytest.mark.parametrize(
    "source",
    [
        "import httpx2\n",
        "import httpx2 as httpx\n",
        "from httpx2 import AsyncClient\n",
        "from crm_gateway.rest import call_json\n",
        "from crm_gateway import rest\n",
        "from crm_gateway.client import get_http_client\n",
        "from crm_gateway.credentials import staff_credential\n",
        "from crm_gateway.streaming import safe_media_type\n",
        "import crm_gateway.gateway\n",
    ],
)
def test_portal_code_may_not_reach_the_crm_beside_the_gateway(source):
    result = ruff_on("portal", source)
    assert result.returncode != 0, result.stdout
    assert "TID251" in result.stdout


def test_portal_code_may_use_the_gateways_public_surface():
    source = "from crm_gateway import ContactGateway, StaffGateway, errors\n"
    result = ruff_on("portal/views", source)
    assert result.returncode == 0, result.stdout + result.stderr


def test_tests_may_drive_http_but_not_the_gateways_insides():
    assert ruff_on("tests/pages", "import httpx2\n").returncode == 0
    result = ruff_on("tests/pages", "from crm_gateway.rest import call_json\n")
    assert result.returncode != 0 and "TID251" in result.stdout


def test_the_emulator_is_a_server_not_a_crm_caller():
    assert ruff_on("crm_emulator", "import httpx2\n").returncode == 0
    result = ruff_on("crm_emulator", "from crm_gateway.client import get_http_client\n")
    assert result.returncode != 0 and "TID251" in result.stdout


def test_the_gateway_itself_may():
    assert ruff_on("crm_gateway", "import httpx2\nfrom crm_gateway import rest\n").returncode == 0
