"""Helpers for the emulator's conformance suite: a thin HTTP client and credentials.

Everything goes over real HTTP to the session's emulator (tests/conftest.py).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest

from tests.emulator_server import EmulatorServer

CLIENT_ID = "demo-portal"
CLIENT_SECRET = "demo-portal-secret"
PASSWORD = "demo-password"
CALLBACK = "http://127.0.0.1:8000/login/oauth/callback/"


@dataclass
class Api:
    server: EmulatorServer
    http: httpx.Client

    @property
    def url(self) -> str:
        return self.server.api_url

    def call(self, method: str, path: str, token: str | None = None, **kwargs) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.url + path, headers=headers, **kwargs)

    def get(self, path: str, token: str | None = None, **kwargs) -> httpx.Response:
        return self.call("GET", path, token, **kwargs)

    def ok(self, method: str, path: str, token: str | None = None, **kwargs) -> dict:
        response = self.call(method, path, token, **kwargs)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    def token(self, realm: str = "user", **body) -> dict:
        body.setdefault("client_id", CLIENT_ID)
        body.setdefault("client_secret", CLIENT_SECRET)
        return self.ok("POST", f"/auth/{realm}/access_token", json=body)

    def staff(self) -> str:
        return self.token(grant_type="client_credentials")["access_token"]

    def user(self, name: str = "admin") -> str:
        return self.token(grant_type="password", username=name, password=PASSWORD)["access_token"]

    def contact_oauth(self, email: str) -> str:
        return self.token("contact", grant_type="password", username=email, password=PASSWORD)[
            "access_token"
        ]

    def portal(self, contact_id: str) -> str:
        return self.ok("POST", "/portal/auth", self.staff(), json={"contact_id": contact_id})[
            "access_token"
        ]

    def records(self, model: str, token: str, **params) -> list[dict]:
        """Every record of a list (pages of 200)."""
        found: list[dict] = []
        offset = 0
        while True:
            body = self.ok(
                "GET", f"/data/{model}", token, params={**params, "limit": 200, "offset": offset}
            )
            found += body["records"]
            offset += 200
            if offset >= int(body["total_results"]):  # a string on the strict profile
                return found

    def records_of_link(self, model: str, record_id: str, link: str) -> list[dict]:
        """Every record of a related-record link, read with the staff credential."""
        return self.records(f"{model}/{record_id}/{link}", self.staff())

    def error(self, response: httpx.Response, status: int) -> dict:
        assert response.status_code == status, (response.status_code, response.text)
        body = response.json()
        assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str), body
        return body


@pytest.fixture
def api(crm: EmulatorServer):
    """The conformance suite tests the default profile, whatever the session runs."""
    crm.reset_controls(profile="default")
    with httpx.Client(timeout=30) as http:
        yield Api(crm, http)


@pytest.fixture
def strict_api(strict_crm: EmulatorServer):
    """The server started with `--profile strict`, its controls back at that profile."""
    with httpx.Client(timeout=30) as http:
        yield Api(strict_crm, http)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class Demo:
    """Facts about the seeded data, read once through the API."""

    contacts: list[dict]
    accounts: list[dict]


@pytest.fixture(scope="session")
def demo(emulator: EmulatorServer) -> Demo:
    emulator.reset_controls(profile="default")
    with httpx.Client(timeout=30) as http:
        api = Api(emulator, http)
        staff = api.staff()
        contacts = api.records(
            "Contact", staff, **{"fields[]": ["email1", "primary_account_id", "portal_active"]}
        )
        accounts = api.records("Account", staff)
    return Demo(contacts=contacts, accounts=accounts)


@pytest.fixture
def two_contacts(demo: Demo) -> tuple[dict, dict]:
    """Two contacts of different accounts."""
    with_account = [c for c in demo.contacts if c["primary_account_id"]]
    first = with_account[0]
    other = next(c for c in with_account if c["primary_account_id"] != first["primary_account_id"])
    return first, other
