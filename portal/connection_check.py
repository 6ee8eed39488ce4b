"""Check the portal's connection to the CRM and say precisely what is wrong.

Used by the admin's **Test connection** button and by `manage.py portal_check`. It talks
to the CRM directly through the shared pooled client (crm_gateway.client), not through
the gateway's richer API, so it keeps working (and explaining) when the rest does not:

1. `GET /version` with no credential: is the CRM there, which version and products?
2. `POST /auth/user/access_token` (client_credentials) with the portal's staff credential;
3. `GET /version` with that token: does the CRM accept it (`authenticated: true`)?
4. `GET /meta/locale` with the token: can the credential read anything?

Each failure gets a reason code (dns, tls, refused, timeout, unauthorized,
startup_edition, plain_http_refused, forbidden, http_error, bad_reply, not_configured)
and a sentence for staff. Secrets never appear in a report: the credential is shown as
"set" or "not set", and the CRM's own message is echoed only after scrubbing it.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
from django.conf import settings

from crm_gateway.client import get_http_client

CHECK_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
TOKEN_SCOPE = "read write profile"  # noqa: S105 (OAuth scopes, not a secret)


class ConnectionProblem(Exception):
    """One precise reason the CRM cannot be used, with a sentence for staff."""

    def __init__(self, reason: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status


@dataclass
class CheckStep:
    name: str
    ok: bool
    detail: str = ""
    ms: float | None = None
    reason: str = ""


@dataclass
class ConnectionReport:
    api_url: str
    ok: bool = False
    reason: str = ""
    message: str = ""
    crm_version: str = ""
    products: list[str] = field(default_factory=list)
    authenticated: bool = False
    round_trip_ms: float | None = None
    locale: dict[str, str] = field(default_factory=dict)
    steps: list[CheckStep] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Credential:
    client_id: str
    client_secret: str


def configured_credential() -> Credential:
    return Credential(
        client_id=settings.ONECRM_SERVICE_CLIENT_ID,
        client_secret=settings.ONECRM_SERVICE_CLIENT_SECRET,
    )


def mask_secret(value: str) -> str:
    """Only whether a secret is set, never any of its characters."""
    return "set" if value else "not set"


def environment_summary() -> list[tuple[str, str]]:
    """What the environment configures, safe to show to staff."""
    return [
        ("ONECRM_API_URL", settings.ONECRM_API_URL or "not set"),
        ("ONECRM_CLIENT_ID", settings.ONECRM_CLIENT_ID or "not set"),
        ("ONECRM_CLIENT_SECRET", mask_secret(settings.ONECRM_CLIENT_SECRET)),
        ("ONECRM_SERVICE_CLIENT_ID", settings.ONECRM_SERVICE_CLIENT_ID or "not set"),
        ("ONECRM_SERVICE_CLIENT_SECRET", mask_secret(settings.ONECRM_SERVICE_CLIENT_SECRET)),
        ("ONECRM_BASIC_USERNAME", settings.ONECRM_BASIC_USERNAME or "not set"),
        ("ONECRM_BASIC_PASSWORD", mask_secret(settings.ONECRM_BASIC_PASSWORD)),
        ("ONECRM_DATA_ACCESS", settings.ONECRM_DATA_ACCESS),
        ("ONECRM_TIMEOUT", f"{settings.ONECRM_TIMEOUT:g} s"),
    ]


def _scrub(text: str, credential: Credential | None) -> str:
    text = (text or "")[:300]
    if credential is not None and credential.client_secret:
        text = text.replace(credential.client_secret, "[secret]")
    return text


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def classify_transport_error(error: httpx.TransportError, url: str) -> ConnectionProblem:
    host = urlsplit(url).hostname or url
    chain = _causes(error)
    text = " ".join(str(item) for item in chain).lower()
    if isinstance(error, httpx.TimeoutException):
        phase = "connecting to" if isinstance(error, httpx.ConnectTimeout) else "waiting for"
        return ConnectionProblem("timeout", f"Timed out {phase} {host}.")
    if any(isinstance(item, socket.gaierror) for item in chain) or any(
        marker in text
        for marker in (
            "name or service not known",
            "nodename nor servname",
            "name resolution",
            "getaddrinfo failed",
            "no address associated",
            "[errno -2]",
            "[errno -3]",
            "[errno -5]",
        )
    ):
        return ConnectionProblem(
            "dns", f"The host name {host} could not be resolved (DNS). Check ONECRM_API_URL."
        )
    if any(isinstance(item, ssl.SSLError) for item in chain) or any(
        marker in text for marker in ("certificate", "ssl", "tls", "wrong version number")
    ):
        return ConnectionProblem(
            "tls",
            f"The TLS (HTTPS) handshake with {host} failed: the certificate is not trusted, "
            "expired or for another name, or the server does not speak HTTPS on this port.",
        )
    if any(isinstance(item, ConnectionRefusedError) for item in chain) or "refused" in text:
        return ConnectionProblem(
            "refused",
            f"{host} refused the connection: nothing listens on that port. "
            "Check the port in ONECRM_API_URL and that the CRM is running.",
        )
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError):
        return ConnectionProblem(
            "bad_reply", f"{host} closed the connection without a proper HTTP answer."
        )
    return ConnectionProblem("network", f"Could not reach {host}: {type(error).__name__}.")


def _crm_error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [
        str(body.get(key, ""))
        for key in ("error", "message", "error_description", "hint")
        if body.get(key)
    ]
    return " — ".join(parts)


def classify_response(
    response: httpx.Response, url: str, credential: Credential | None = None
) -> ConnectionProblem | None:
    """None for a 200; otherwise the precise reason the CRM refused."""
    status = response.status_code
    if status == 200:
        return None
    said = _scrub(_crm_error_text(response), credential)
    lowered = said.lower()
    suffix = f" The CRM said: {said}" if said else ""
    if status == 403 and ("edition" in lowered or "startup" in lowered):
        return ConnectionProblem(
            "startup_edition",
            "The CRM refuses the REST API: it is only available in the Pro and Enterprise "
            "editions of 1CRM, and this one is a Startup edition." + suffix,
            status=status,
        )
    if status == 403 and ("non-ssl" in lowered or "http://" in lowered or "https" in lowered):
        return ConnectionProblem(
            "plain_http_refused",
            "The CRM refuses API calls over plain HTTP. Use an https:// ONECRM_API_URL "
            "(or allow plain HTTP in 1CRM: Admin → System Settings)." + suffix,
            status=status,
        )
    if status == 401:
        return ConnectionProblem(
            "unauthorized",
            "The CRM rejected the portal's credential (HTTP 401): check "
            "ONECRM_SERVICE_CLIENT_ID / ONECRM_SERVICE_CLIENT_SECRET and that the OAuth "
            "client exists in 1CRM." + suffix,
            status=status,
        )
    if status == 400 and ("invalid_client" in lowered or "invalid_grant" in lowered):
        return ConnectionProblem(
            "unauthorized",
            "The CRM rejected the portal's client id or secret." + suffix,
            status=status,
        )
    if status == 403:
        return ConnectionProblem(
            "forbidden", "The CRM answered 403 Forbidden." + suffix, status=status
        )
    if status == 404:
        return ConnectionProblem(
            "http_error",
            "The CRM answered 404 Not Found: ONECRM_API_URL probably lacks the "
            "/1crm/api.php part or points at another site." + suffix,
            status=status,
        )
    return ConnectionProblem(
        "http_error", f"The CRM answered HTTP {status}." + suffix, status=status
    )


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        kind = response.headers.get("Content-Type", "unknown").split(";")[0]
        raise ConnectionProblem(
            "bad_reply", f"{what} did not answer JSON (got {kind}): is ONECRM_API_URL right?"
        )
    return body


async def _request(
    method: str,
    path: str,
    *,
    credential: Credential | None = None,
    token: str = "",
    **kwargs: Any,
) -> httpx.Response:
    url = f"{settings.ONECRM_API_URL}{path}"
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = await get_http_client().request(
            method, url, headers=headers, timeout=CHECK_TIMEOUT, **kwargs
        )
    except httpx.TransportError as error:
        raise classify_transport_error(error, url) from None
    except httpx.InvalidURL as error:
        raise ConnectionProblem(
            "not_configured", f"ONECRM_API_URL is not a valid URL: {error}"
        ) from None
    problem = classify_response(response, url, credential)
    if problem is not None:
        raise problem
    return response


async def fetch_staff_token(credential: Credential | None = None) -> str:
    """A staff access token by a plain client_credentials grant."""
    credential = credential or configured_credential()
    if not credential.client_id or not credential.client_secret:
        raise ConnectionProblem(
            "not_configured",
            "No staff credential: set ONECRM_SERVICE_CLIENT_ID and ONECRM_SERVICE_CLIENT_SECRET "
            "(or ONECRM_CLIENT_ID / ONECRM_CLIENT_SECRET).",
        )
    response = await _request(
        "POST",
        "/auth/user/access_token",
        credential=credential,
        json={
            "grant_type": "client_credentials",
            "client_id": credential.client_id,
            "client_secret": credential.client_secret,
            "scope": TOKEN_SCOPE,
        },
    )
    token = _json_object(response, "The token endpoint").get("access_token")
    if not isinstance(token, str) or not token:
        raise ConnectionProblem("bad_reply", "The token endpoint answered without an access_token.")
    return token


async def staff_get(path: str, params: Any = None, *, token: str | None = None) -> dict[str, Any]:
    """GET a CRM path with the staff credential (for the admin's contact search)."""
    token = token or await fetch_staff_token()
    response = await _request("GET", path, token=token, params=params)
    return _json_object(response, path)


async def _timed(report: ConnectionReport, name: str, call: Any) -> Any:
    started = time.perf_counter()
    try:
        result = await call
    except ConnectionProblem as problem:
        ms = round((time.perf_counter() - started) * 1000, 1)
        report.steps.append(CheckStep(name, False, problem.message, ms, problem.reason))
        raise
    ms = round((time.perf_counter() - started) * 1000, 1)
    report.steps.append(CheckStep(name, True, "", ms))
    return result, ms


async def run_connection_check(credential: Credential | None = None) -> ConnectionReport:
    """Run every check in order; stop at the first failure and say why."""
    credential = credential or configured_credential()
    report = ConnectionReport(api_url=settings.ONECRM_API_URL)
    if not settings.ONECRM_API_URL:
        report.reason, report.message = "not_configured", "ONECRM_API_URL is not set."
        return report
    try:
        response, ms = await _timed(report, "version (anonymous)", _request("GET", "/version"))
        report.round_trip_ms = ms
        body = _json_object(response, "/version")
        report.crm_version = str(body.get("version", ""))
        report.products = [str(item) for item in body.get("products", []) or []]
        report.steps[-1].detail = f"1CRM {report.crm_version}"

        token, _ms = await _timed(report, "staff token", fetch_staff_token(credential))
        response, _ms = await _timed(
            report, "version (authenticated)", _request("GET", "/version", token=token)
        )
        report.authenticated = bool(_json_object(response, "/version").get("authenticated"))
        if not report.authenticated:
            report.steps[-1].ok = False
            raise ConnectionProblem(
                "unauthorized", "The CRM accepted the token but does not treat it as signed in."
            )
        response, _ms = await _timed(report, "locale", _request("GET", "/meta/locale", token=token))
        locale = _json_object(response, "/meta/locale")
        currency = locale.get("base_currency") or {}
        report.locale = {
            "timezone": str(locale.get("timezone", "")),
            "date_format": str(locale.get("date_format", "")),
            "currency": str(currency.get("iso4217", "")) if isinstance(currency, dict) else "",
        }
    except ConnectionProblem as problem:
        report.reason, report.message = problem.reason, problem.message
        return report
    report.ok = True
    report.message = (
        f"Connected to 1CRM {report.crm_version} ({', '.join(report.products) or 'no products'})"
        f" in {report.round_trip_ms} ms; the staff credential works."
    )
    return report


def format_report(report: ConnectionReport) -> str:
    """The report as lines for a terminal."""
    lines = [f"CRM: {report.api_url}"]
    for step in report.steps:
        mark = "ok  " if step.ok else "FAIL"
        timing = f" ({step.ms} ms)" if step.ms is not None else ""
        detail = f": {step.detail}" if step.detail else ""
        lines.append(f"  [{mark}] {step.name}{timing}{detail}")
    if report.ok:
        lines.append(f"CRM version: {report.crm_version}")
        lines.append(f"Licensed products: {', '.join(report.products) or '-'}")
        lines.append(f"Authentication: works (round trip {report.round_trip_ms} ms)")
        if report.locale:
            lines.append(
                "Locale: "
                + ", ".join(f"{key} {value}" for key, value in report.locale.items() if value)
            )
        lines.append("Result: OK")
    else:
        lines.append(f"Result: FAILED ({report.reason}) {report.message}")
    return "\n".join(lines)
