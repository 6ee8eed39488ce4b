"""Drive the emulator's OAuth sign-in page as a browser would, without a browser."""

from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2 as httpx

from tests import emulator_server
from tests.emulator_server import EmulatorServer

PORTAL_ORIGIN = "http://testserver"
CALLBACK = f"{PORTAL_ORIGIN}/login/oauth/callback/"
DEMO_PASSWORD = "demo-password"


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.input_names: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form" and not self.action:
            self.action = attributes.get("action") or ""
        if tag in {"input", "button"} and attributes.get("name"):
            kind = (attributes.get("type") or "text").lower()
            self.input_names.append((attributes["name"], kind))
            if kind in {"hidden", "submit"}:
                self.fields[attributes["name"]] = attributes.get("value") or ""


def authorize_at_crm(
    authorize_url: str, email: str, password: str = DEMO_PASSWORD, deny: bool = False
) -> str:
    """Fill in the CRM's sign-in page; return where the CRM sends the browser back."""
    with httpx.Client(timeout=10, follow_redirects=False) as browser:
        page = browser.get(authorize_url)
        assert page.status_code == 200, page.text[:500]
        form = _FormParser()
        form.feed(page.text)
        fields = dict(form.fields)
        for name, kind in form.input_names:
            if kind == "password":
                fields[name] = password
            elif kind in {"email", "text"}:
                fields[name] = email
        if deny:
            fields["deny"] = "1"
            fields.pop("allow", None)
        answer = browser.post(urljoin(str(page.url), form.action or str(page.url)), data=fields)
        assert answer.status_code in {302, 303}, answer.text[:500]
        return answer.headers["location"]


@dataclass(frozen=True)
class DemoContact:
    id: str
    email: str
    account_id: str


def staff_token(crm: EmulatorServer) -> str:
    return emulator_server.staff_token(crm.api_url)


def demo_contacts(crm: EmulatorServer) -> list[DemoContact]:
    """Seeded contacts that have an account and may use the portal."""
    reply = httpx.get(
        f"{crm.api_url}/data/Contact",
        params={
            "fields[]": ["email1", "primary_account_id", "portal_active"],
            "order": "email1",
            "limit": "200",
        },
        headers={"Authorization": f"Bearer {staff_token(crm)}"},
        timeout=10,
    )
    reply.raise_for_status()
    return [
        DemoContact(record["id"], record["email1"], record["primary_account_id"])
        for record in reply.json()["records"]
        if record.get("primary_account_id") and record.get("portal_active") not in (False, 0, "0")
    ]


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def register_test_redirect_uri(crm: EmulatorServer) -> None:
    crm.control(
        "POST",
        "clients",
        json={
            "client_id": "demo-portal",
            "client_secret": "demo-portal-secret",
            "redirect_uris": ["http://127.0.0.1:8000/login/oauth/callback/", CALLBACK],
        },
    )
