"""The one place that talks HTTP to the CRM: URLs, headers, timeouts, retries, errors.

Every call has an overall deadline (ONECRM_DEADLINE) on top of httpx's connect/read/pool
timeouts; retries (exponential backoff with full jitter, honouring a capped Retry-After)
happen only for idempotent methods, only on connection errors, 429, 502, 503 and 504,
and only while they fit in the deadline. A POST is never retried for a transient fault.

A 401 gets one second chance after the credential renews itself: the CRM refused the
request before processing it, so resending is safe even for a POST.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx2 as httpx
import orjson
from django.conf import settings

from crm_gateway import errors
from crm_gateway.calllog import CallRecord, record_call
from crm_gateway.client import get_http_client

if TYPE_CHECKING:
    from crm_gateway.credentials import Credential
    from crm_gateway.streaming import CrmStream

logger = logging.getLogger("crm_gateway")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
OVERRIDABLE_METHODS = frozenset({"PUT", "PATCH", "DELETE"})
# How much of an error body is read: enough for the CRM's JSON, never a whole file.
MAX_ERROR_BODY = 64 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 0.1
    max_delay: float = 2.0
    max_retry_after: float = 5.0

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


retry_policy = RetryPolicy()
# The deadline's clock and the wait between attempts (tests swap both for a fake clock,
# so what they prove about deadlines never depends on how busy the machine is).
_clock = time.monotonic
_sleep = asyncio.sleep

QueryParams = Sequence[tuple[str, str]]
_ACCEPT_LANGUAGE = re.compile(r"^[A-Za-z0-9,;=.\- *]{1,200}$")
_JWT_LIKE = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
_BEARER = re.compile(r"(?i)(bearer|basic)\s+[\w.~+/=-]{8,}")


def api_path(*segments: str) -> str:
    """'/data/Invoice/<id>' with every segment percent-encoded: nothing can add a path."""
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def clean_accept_language(value: str | None) -> str | None:
    if value and _ACCEPT_LANGUAGE.fullmatch(value):
        return value
    return None


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """Remove anything that looks like a credential from text the CRM sent back."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = _JWT_LIKE.sub("[redacted]", text)
    return _BEARER.sub(r"\1 [redacted]", text)[:500]


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_reconnectable(exc: httpx.TransportError) -> bool:
    """Connection errors (refused, reset, closed before an answer, connect timeout)."""
    return isinstance(
        exc, httpx.NetworkError | httpx.RemoteProtocolError | httpx.ConnectTimeout
    ) and not isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout | httpx.PoolTimeout)


_DNS_MARKERS = (
    "name or service not known",
    "nodename nor servname",
    "name resolution",
    "getaddrinfo failed",
    "no address associated",
    "[errno -2]",
    "[errno -3]",
    "[errno -5]",
)
_TLS_MARKERS = ("certificate", "ssl", "tls", "wrong version number")


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def connection_error(
    exc: httpx.TransportError, method: str, path: str
) -> errors.CrmConnectionError:
    """The typed reason a connection failed, read from the transport's exception chain
    (the chain itself is never kept: its request carries the headers)."""
    chain = _causes(exc)
    text = " ".join(str(item) for item in chain).lower()
    name = type(exc).__name__
    kind: type[errors.CrmConnectionError] = errors.CrmConnectionError
    what = f"could not reach the CRM ({name})"
    if isinstance(exc, httpx.UnsupportedProtocol):
        kind, what = errors.InvalidApiUrl, "ONECRM_API_URL has no http:// or https:// scheme"
    elif any(isinstance(item, socket.gaierror) for item in chain) or any(
        marker in text for marker in _DNS_MARKERS
    ):
        kind, what = errors.HostNotFound, "the CRM's host name does not resolve"
    elif any(isinstance(item, ssl.SSLError) for item in chain) or any(
        marker in text for marker in _TLS_MARKERS
    ):
        kind, what = errors.TlsFailed, "the TLS handshake with the CRM failed"
    elif any(isinstance(item, ConnectionRefusedError) for item in chain) or "refused" in text:
        kind, what = errors.ConnectionRefused, "the CRM refused the connection"
    elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        kind, what = errors.ConnectionDropped, f"the CRM closed the connection ({name})"
    return kind(what, method=method, path=path)


def error_from_response(
    response: httpx.Response, body: bytes, method: str, path: str, secrets: Sequence[str] = ()
) -> errors.CrmStatusError:
    status = response.status_code
    fields: dict[str, str] = {}
    try:
        payload = httpx.Response(200, content=body).json() if body else None
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        for key in ("error", "message", "hint"):
            value = payload.get(key)
            if isinstance(value, str):
                fields[key] = scrub(value, secrets)
        if "message" not in fields and isinstance(payload.get("error_description"), str):
            fields["message"] = scrub(payload["error_description"], secrets)
    else:
        fields["error"] = "unexpected_reply"
    kwargs: dict[str, Any] = {
        "method": method,
        "path": path,
        "error": fields.get("error", ""),
        "crm_message": fields.get("message", ""),
        "hint": fields.get("hint", ""),
        "status": status,
    }
    cls = errors.error_class_for(status)
    if cls is errors.RateLimited:
        return errors.RateLimited(
            "the CRM asks to slow down",
            retry_after=_retry_after_seconds(response.headers.get("Retry-After")),
            **kwargs,
        )
    return cls("the CRM refused the request", **kwargs)


@dataclass
class _Call:
    method: str
    path: str
    credential: Credential | None
    params: QueryParams | None
    json_body: Any
    form_body: Mapping[str, str] | None
    accept_language: str | None
    extra_headers: Mapping[str, str] | None
    stream: bool
    # A caller that must answer sooner (the readiness probe) shortens ONECRM_DEADLINE.
    deadline: float | None = None
    # A body sent as it is read (an upload): a factory, so a resend after a 401 reads it
    # again from the start instead of sending a consumed iterator.
    content: Callable[[], AsyncIterator[bytes]] | None = None

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.credential.secrets() if self.credential is not None else ()


async def _read_capped(response: httpx.Response) -> bytes:
    try:
        return response.content[:MAX_ERROR_BODY]  # already read (mock transports)
    except httpx.ResponseNotRead:
        pass
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > MAX_ERROR_BODY:
            break
    return bytes(body)


class _TooLarge(Exception):
    pass


async def _read_json_capped(response: httpx.Response) -> bytes:
    """The body, decoded (so a compressed bomb is capped too), or _TooLarge."""
    cap = settings.ONECRM_MAX_JSON_BYTES
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > cap:
        raise _TooLarge(f"{declared} bytes announced")
    try:
        body = bytearray(response.content)  # already read (mock transports)
    except httpx.ResponseNotRead:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > cap:
                break
    if len(body) > cap:
        raise _TooLarge(f"more than {cap} bytes")
    return bytes(body)


async def _send(call: _Call) -> tuple[httpx.Response, bytes]:
    """Send with deadline, retries and one re-authentication; return a 200 response.

    With the body of a JSON call (read, capped); for a streaming call the returned
    response's body is not read yet (b""): the caller must close it.
    """
    method = call.method.upper()
    budget = settings.ONECRM_DEADLINE
    if call.deadline is not None:
        budget = min(budget, call.deadline)
    deadline = _clock() + budget
    policy = retry_policy
    retryable_method = method in IDEMPOTENT_METHODS
    reauthenticated = False
    attempt = 0
    client = get_http_client()
    url = settings.ONECRM_API_URL.rstrip("/") + call.path
    if not settings.ONECRM_API_URL:
        raise errors.InvalidApiUrl("ONECRM_API_URL is not set", method=method, path=call.path)
    while True:
        attempt += 1
        remaining = deadline - _clock()
        if remaining <= 0:
            raise errors.CrmTimeout(
                "no answer from the CRM within the deadline", method=method, path=call.path
            )
        headers = {"Accept": "application/json" if not call.stream else "*/*"}
        if call.stream:
            # Raw bytes: Content-Length then is the file's size, and nothing is decoded.
            headers["Accept-Encoding"] = "identity"
        language = clean_accept_language(call.accept_language)
        if language:
            headers["Accept-Language"] = language
        authorization = None
        if call.credential is not None:
            authorization = await call.credential.authorization()
            if authorization:
                headers["Authorization"] = authorization
        wire_method = method
        if settings.ONECRM_METHOD_OVERRIDE and method in OVERRIDABLE_METHODS:
            wire_method = "POST"
            headers["X-HTTP-Method-Override"] = method
        if call.extra_headers:
            headers.update(call.extra_headers)
        # Renewing the credential (a token grant) spent part of the deadline.
        remaining = deadline - _clock()
        if remaining <= 0:
            raise errors.CrmTimeout(
                "no answer from the CRM within the deadline", method=method, path=call.path
            )
        timeout = httpx.Timeout(
            connect=min(settings.ONECRM_CONNECT_TIMEOUT, remaining),
            read=min(settings.ONECRM_TIMEOUT, remaining),
            write=min(settings.ONECRM_TIMEOUT, remaining),
            pool=min(5.0, remaining),
        )
        try:
            request = client.build_request(
                wire_method,
                url,
                params=list(call.params) if call.params else None,
                json=call.json_body,
                data=dict(call.form_body) if call.form_body is not None else None,
                content=call.content() if call.content is not None else None,
                headers=headers,
                timeout=timeout,
            )
        except httpx.InvalidURL as exc:
            raise errors.InvalidApiUrl(
                f"ONECRM_API_URL is not a valid URL ({exc})"[:200], method=method, path=call.path
            ) from None
        started = time.monotonic()
        status: int | None = None
        failure: errors.CrmError | None = None
        retry_delay: float | None = None
        response: httpx.Response | None = None
        body = b""
        try:
            async with asyncio.timeout(remaining):
                response = await client.send(request, stream=True)
                status = response.status_code
                if status != 200:
                    body = await _read_capped(response)
                elif not call.stream:
                    # JSON replies are read inside the deadline, and only up to the cap.
                    body = await _read_json_capped(response)
        except _TooLarge as exc:
            await response.aclose()  # type: ignore[union-attr]
            failure = errors.BadReply(
                f"the CRM's reply is larger than ONECRM_MAX_JSON_BYTES ({exc})",
                method=method,
                path=call.path,
                status=200,
            )
        except (TimeoutError, httpx.TimeoutException) as exc:
            if response is not None:
                await response.aclose()
            connecting = isinstance(exc, httpx.ConnectTimeout)
            failure = (errors.ConnectTimeout if connecting else errors.CrmTimeout)(
                f"the CRM did not answer in time ({type(exc).__name__})",
                method=method,
                path=call.path,
            )
            if connecting:
                retry_delay = policy.backoff(attempt)
        except httpx.TransportError as exc:
            if response is not None:
                await response.aclose()
            failure = connection_error(exc, method, call.path)
            if _is_reconnectable(exc) and not isinstance(failure, errors.InvalidApiUrl):
                retry_delay = policy.backoff(attempt)
        except BaseException:
            # Cancelled (the visitor went away) or a bug: never keep a pooled connection.
            if response is not None:
                await asyncio.shield(response.aclose())
            raise
        elapsed = time.monotonic() - started
        record_call(
            CallRecord(
                method=method,
                path=call.path,
                status=status,
                elapsed=elapsed,
                attempt=attempt,
                credential=call.credential.kind if call.credential else "anonymous",
            )
        )
        # Successes at DEBUG (one line per CRM call would drown the log); trouble at WARNING.
        logger.log(
            logging.DEBUG if status == 200 else logging.WARNING,
            "crm %s %s -> %s in %.0f ms (attempt %d)",
            method,
            call.path,
            status if status is not None else type(failure).__name__,
            elapsed * 1000,
            attempt,
        )
        if response is not None and failure is None:
            if status == 200:
                return response, body
            await response.aclose()
            failure = error_from_response(response, body, method, call.path, call.secrets)
            if (
                status == 401
                and not reauthenticated
                and call.credential is not None
                and authorization
                and await call.credential.renew(authorization)
            ):
                reauthenticated = True
                continue
            if status in RETRY_STATUSES:
                if isinstance(failure, errors.RateLimited) and failure.retry_after is not None:
                    retry_delay = min(failure.retry_after, policy.max_retry_after)
                else:
                    retry_delay = policy.backoff(attempt)
        assert failure is not None
        if (
            retry_delay is None
            or not retryable_method
            or attempt >= policy.attempts
            or _clock() + retry_delay >= deadline
        ):
            raise failure
        await _sleep(retry_delay)


def _decode_json(response: httpx.Response, body: bytes, method: str, path: str) -> dict[str, Any]:
    try:
        # orjson: several times faster than the json module on a CRM list's records
        # (docs/performance.md); the CRM's JSON is UTF-8. Its errors are ValueErrors,
        # JSON nested deeper than it recurses (1,024) among them.
        payload = orjson.loads(body)
    except (ValueError, RecursionError) as exc:
        # The media type says what came instead (an HTML page: a wrong ONECRM_API_URL).
        kind = response.headers.get("Content-Type", "no content type").split(";")[0][:60]
        what = "nested too deep" if isinstance(exc, RecursionError) else f"got {kind}"
        raise errors.BadReply(
            f"the CRM's reply is not JSON ({what})", method=method, path=path, status=200
        ) from None
    if not isinstance(payload, dict):
        raise errors.BadReply(
            "the CRM's reply is not a JSON object", method=method, path=path, status=200
        )
    return payload


async def call_json(
    method: str,
    path: str,
    *,
    credential: Credential | None = None,
    params: QueryParams | None = None,
    json: Any = None,
    form: Mapping[str, str] | None = None,
    accept_language: str | None = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """One JSON call: the decoded object, or a typed `CrmError`."""
    call = _Call(
        method, path, credential, params, json, form, accept_language, None, False, deadline
    )
    response, body = await _send(call)
    return _decode_json(response, body, method.upper(), path)


async def upload_json(
    path: str,
    *,
    credential: Credential,
    content: Callable[[], AsyncIterator[bytes]],
    headers: Mapping[str, str],
) -> dict[str, Any]:
    """A POST whose raw body is streamed from `content()` (`/files/upload`): never held
    whole in memory, never retried for a fault (only resent once after a 401)."""
    call = _Call("POST", path, credential, None, None, None, None, headers, False, content=content)
    response, body = await _send(call)
    return _decode_json(response, body, "POST", path)


@contextlib.asynccontextmanager
async def open_stream(
    method: str,
    path: str,
    *,
    credential: Credential | None = None,
    params: QueryParams | None = None,
    accept_language: str | None = None,
) -> AsyncIterator[CrmStream]:
    """Raw bytes, chunk by chunk; the upstream response is closed when the block ends."""
    from crm_gateway.streaming import CrmStream

    call = _Call(method, path, credential, params, None, None, accept_language, None, True)
    response, _ = await _send(call)
    stream = CrmStream(response, method=method.upper(), path=path)
    try:
        yield stream
    finally:
        await stream.aclose()
