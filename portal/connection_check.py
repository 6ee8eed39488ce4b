"""Check the portal's connection to the CRM and say precisely what is wrong.

Used by the admin's **Test connection** button and by `manage.py portal_check`. It asks
the CRM through `StaffGateway`, the same road, credential (Basic or OAuth), deadline and
retries every page uses, so what it reports is what the portal meets:

1. `GET /version` with no credential: is the CRM there, which version and products?
2. the staff credential: a fresh `client_credentials` token (OAuth), or nothing to fetch
   (HTTP Basic, proved by the next step);
3. `GET /version` with it: does the CRM accept it (`authenticated: true`)?
4. `GET /meta/locale` with it: can the credential read anything?

This module only maps the gateway's typed errors to a reason code (dns, tls, refused,
timeout, network, unauthorized, startup_edition, plain_http_refused, forbidden,
http_error, bad_reply, not_configured) and a sentence for staff. Secrets never appear in
a report: a credential is shown as "set" or "not set", and the CRM's own message is
echoed only after scrubbing it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from crm_gateway import (
    BadReply,
    ConnectionDropped,
    ConnectionRefused,
    CrmConnectionError,
    CrmError,
    CrmStatusError,
    CrmTimeout,
    Forbidden,
    HostNotFound,
    InvalidApiUrl,
    NotFound,
    StaffGateway,
    TlsFailed,
    Unauthorized,
    fallbacks_in_use,
    survey,
)
from crm_gateway import ConnectTimeout as CrmConnectTimeout
from portal import crm_stages
from portal.site_settings import aget_portal_settings


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
    # What the CRM offers of what the reference does not state, and the fallbacks taken.
    capabilities: list[tuple[str, str]] = field(default_factory=list)
    fallbacks: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def _scrub(text: str) -> str:
    """The gateway scrubs tokens; a CRM could still echo a configured secret back."""
    text = (text or "")[:300]
    for secret in (
        settings.ONECRM_SERVICE_CLIENT_SECRET,
        settings.ONECRM_CLIENT_SECRET,
        settings.ONECRM_BASIC_PASSWORD,
    ):
        if secret:
            text = text.replace(secret, "[secret]")
    return text


def _credential_hint() -> str:
    if settings.ONECRM_BASIC_USERNAME:
        return (
            "check ONECRM_BASIC_USERNAME / ONECRM_BASIC_PASSWORD and that the CRM allows "
            "HTTP Basic authentication for the API."
        )
    return (
        "check ONECRM_SERVICE_CLIENT_ID / ONECRM_SERVICE_CLIENT_SECRET and that the OAuth "
        "client exists in 1CRM."
    )


def _connection_problem(error: CrmConnectionError | CrmTimeout) -> ConnectionProblem:
    url = settings.ONECRM_API_URL
    host = urlsplit(url).hostname or url
    if isinstance(error, CrmTimeout):
        phase = "connecting to" if isinstance(error, CrmConnectTimeout) else "waiting for"
        return ConnectionProblem("timeout", f"Timed out {phase} {host}.")
    if isinstance(error, InvalidApiUrl):
        return ConnectionProblem("not_configured", f"ONECRM_API_URL is not a valid URL: {url}")
    if isinstance(error, HostNotFound):
        return ConnectionProblem(
            "dns", f"The host name {host} could not be resolved (DNS). Check ONECRM_API_URL."
        )
    if isinstance(error, TlsFailed):
        return ConnectionProblem(
            "tls",
            f"The TLS (HTTPS) handshake with {host} failed: the certificate is not trusted, "
            "expired or for another name, or the server does not speak HTTPS on this port.",
        )
    if isinstance(error, ConnectionRefused):
        return ConnectionProblem(
            "refused",
            f"{host} refused the connection: nothing listens on that port. "
            "Check the port in ONECRM_API_URL and that the CRM is running.",
        )
    if isinstance(error, ConnectionDropped):
        return ConnectionProblem(
            "bad_reply", f"{host} closed the connection without a proper HTTP answer."
        )
    return ConnectionProblem("network", f"Could not reach {host}: {error.detail}.")


def _status_problem(error: CrmStatusError) -> ConnectionProblem:
    status = error.status
    said = _scrub(" — ".join(part for part in (error.error, error.message, error.hint) if part))
    if error.error == "unexpected_reply" and not (error.message or error.hint):
        said = ""  # not the CRM's JSON: nothing it said to echo
    lowered = said.lower()
    suffix = f" The CRM said: {said}" if said else ""
    if isinstance(error, Forbidden) and ("edition" in lowered or "startup" in lowered):
        return ConnectionProblem(
            "startup_edition",
            "The CRM refuses the REST API: it is only available in the Pro and Enterprise "
            "editions of 1CRM, and this one is a Startup edition." + suffix,
            status=status,
        )
    if isinstance(error, Forbidden) and any(
        marker in lowered for marker in ("non-ssl", "http://", "https")
    ):
        return ConnectionProblem(
            "plain_http_refused",
            "The CRM refuses API calls over plain HTTP. Use an https:// ONECRM_API_URL "
            "(or allow plain HTTP in 1CRM: Admin → System Settings)." + suffix,
            status=status,
        )
    if isinstance(error, Unauthorized):
        return ConnectionProblem(
            "unauthorized",
            "The CRM rejected the portal's credential (HTTP 401): " + _credential_hint() + suffix,
            status=status,
        )
    if status == 400 and ("invalid_client" in lowered or "invalid_grant" in lowered):
        return ConnectionProblem(
            "unauthorized",
            "The CRM rejected the portal's client id or secret." + suffix,
            status=status,
        )
    if isinstance(error, Forbidden):
        return ConnectionProblem(
            "forbidden", "The CRM answered 403 Forbidden." + suffix, status=status
        )
    if isinstance(error, NotFound):
        return ConnectionProblem(
            "http_error",
            "The CRM answered 404 Not Found: ONECRM_API_URL probably lacks the "
            "/1crm/api.php part or points at another site." + suffix,
            status=status,
        )
    return ConnectionProblem(
        "http_error", f"The CRM answered HTTP {status}." + suffix, status=status
    )


def problem_for(error: CrmError, what: str = "The CRM") -> ConnectionProblem:
    """The reason and the sentence staff see for one of the gateway's typed errors."""
    if isinstance(error, CrmConnectionError | CrmTimeout):
        return _connection_problem(error)
    if isinstance(error, CrmStatusError):
        return _status_problem(error)
    if isinstance(error, BadReply):
        return ConnectionProblem(
            "bad_reply",
            f"{what} did not answer as the 1CRM API does: {_scrub(error.detail)}. "
            "Is ONECRM_API_URL right?",
        )
    return ConnectionProblem("network", f"{what} could not be used: {type(error).__name__}.")


async def _timed[T](report: ConnectionReport, name: str, what: str, call: Awaitable[T]) -> T:
    started = time.perf_counter()
    try:
        result = await call
    except CrmError as error:
        problem = problem_for(error, what)
        ms = round((time.perf_counter() - started) * 1000, 1)
        report.steps.append(CheckStep(name, False, problem.message, ms, problem.reason))
        raise problem from None
    report.steps.append(CheckStep(name, True, "", round((time.perf_counter() - started) * 1000, 1)))
    return result


def _missing_credential() -> ConnectionProblem | None:
    if settings.ONECRM_BASIC_USERNAME:
        return None
    if settings.ONECRM_SERVICE_CLIENT_ID and settings.ONECRM_SERVICE_CLIENT_SECRET:
        return None
    return ConnectionProblem(
        "not_configured",
        "No staff credential: set ONECRM_SERVICE_CLIENT_ID and ONECRM_SERVICE_CLIENT_SECRET "
        "(or ONECRM_CLIENT_ID / ONECRM_CLIENT_SECRET), or ONECRM_BASIC_USERNAME and "
        "ONECRM_BASIC_PASSWORD.",
    )


async def run_connection_check() -> ConnectionReport:
    """Run every check in order; stop at the first failure and say why."""
    report = ConnectionReport(api_url=settings.ONECRM_API_URL)
    if not settings.ONECRM_API_URL:
        report.reason, report.message = "not_configured", "ONECRM_API_URL is not set."
        return report
    crm = StaffGateway()
    try:
        version = await _timed(report, "version (anonymous)", "/version", crm.version())
        report.round_trip_ms = report.steps[-1].ms
        report.crm_version = version.version or ""
        report.products = list(version.products)
        report.steps[-1].detail = f"1CRM {report.crm_version}"

        if crm.uses_basic:
            report.steps.append(CheckStep("staff credential", True, "HTTP Basic", 0.0))
        else:
            missing = _missing_credential()
            if missing is not None:
                report.steps.append(
                    CheckStep("staff token", False, missing.message, None, missing.reason)
                )
                raise missing
            await _timed(report, "staff token", "The token endpoint", crm.grant_token())
        signed_in = await _timed(
            report, "version (authenticated)", "/version", crm.signed_in_version()
        )
        report.authenticated = bool(signed_in.authenticated)
        if not report.authenticated:
            problem = ConnectionProblem(
                "unauthorized",
                "The CRM answers, but does not treat the portal's credential as signed in: "
                + _credential_hint(),
            )
            report.steps[-1].ok, report.steps[-1].detail = False, problem.message
            report.steps[-1].reason = problem.reason
            raise problem
        locale = await _timed(report, "locale", "/meta/locale", crm.locale())
        report.locale = {
            "timezone": locale.timezone or "",
            "date_format": locale.date_format or "",
            "currency": (locale.base_currency.iso4217 or "") if locale.base_currency else "",
        }
    except ConnectionProblem as problem:
        report.reason, report.message = problem.reason, problem.message
        return report
    site = await crm_stages.resolved(await aget_portal_settings())
    report.capabilities = await survey(
        {
            ("Invoice", "shipping_stage"): site.invoice_stages,
            ("Quote", "quote_stage"): site.quote_stages,
        }
    )
    report.fallbacks = await fallbacks_in_use()
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
        for what, finding in report.capabilities:
            lines.append(f"Capability: {what}: {finding}")
        for name, reason in report.fallbacks.items():
            lines.append(f"Fallback in use: {name}: {reason}")
        if not report.fallbacks:
            lines.append("Fallbacks in use: none")
        lines.append("Result: OK")
    else:
        lines.append(f"Result: FAILED ({report.reason}) {report.message}")
    return "\n".join(lines)
