"""The API's protocol layer: request log, injected faults, edition and HTTPS checks,
`X-HTTP-Method-Override`, and the CRM's JSON error shape for every error.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse

from crm_emulator import auth, control, store
from crm_emulator.errors import ApiError, api_error

logger = logging.getLogger(__name__)

API_PREFIX = "/1crm/api.php"
OVERRIDABLE = {"PUT", "PATCH", "DELETE"}
DROPPED = 599  # internal marker: the connection was closed, nothing reaches the client


def api_path(request: HttpRequest) -> str | None:
    if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
        return request.path[len(API_PREFIX) :] or "/"
    return None


def _socket(request: HttpRequest) -> socket.socket | None:
    sock = request.META.get("gunicorn.socket")
    return sock if isinstance(sock, socket.socket) else None


def drop_connection(request: HttpRequest) -> None:
    """Close the TCP connection under gunicorn's feet: the client sees no HTTP answer.

    SO_LINGER 0 makes the final close a reset (RST); the shutdown makes the peer see the
    end of the stream at once, before gunicorn tries to write anything.
    """
    sock = _socket(request)
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _body_chunks(response: HttpResponseBase) -> Iterator[bytes]:
    if isinstance(response, StreamingHttpResponse):
        yield from response.streaming_content  # type: ignore[misc]
    else:
        assert isinstance(response, HttpResponse)
        yield response.content


def _rewrap(
    request: HttpRequest,
    response: HttpResponseBase,
    kind: str,
    ms: int,
    released: threading.Event,
) -> StreamingHttpResponse:
    """Stream the real body, then misbehave halfway through it."""
    if isinstance(response, HttpResponse):
        total = len(response.content)
    else:
        total = int(response.get("Content-Length") or 0)
    half = total // 2

    def chunks() -> Iterator[bytes]:
        sent = 0
        for chunk in _body_chunks(response):
            if sent + len(chunk) >= half and sent < half:
                head = chunk[: half - sent]
                if head:
                    yield head
                sent += len(head)
                if kind == "stall_body":
                    released.wait(ms / 1000)  # or until the faults are cleared
                    yield chunk[len(head) :]
                    sent += len(chunk) - len(head)
                    continue
                drop_connection(request)
                return
            if sent >= half and kind != "stall_body":
                drop_connection(request)
                return
            yield chunk
            sent += len(chunk)
        if kind != "stall_body":
            drop_connection(request)

    wrapped = StreamingHttpResponse(chunks(), status=response.status_code)
    for name, value in response.items():
        wrapped[name] = value
    if kind == "truncate_chunked":
        del wrapped["Content-Length"]
    else:
        wrapped["Content-Length"] = str(total)
    return wrapped


_bootstrapped = threading.Event()
_bootstrap_lock = threading.Lock()


def bootstrap() -> None:
    """Once per process: register the API clients given to `run_emulator --client`."""
    if _bootstrapped.is_set():
        return
    with _bootstrap_lock:
        if _bootstrapped.is_set():
            return
        from crm_emulator.control_views import register_client

        for line in getattr(settings, "EMULATOR_CLIENTS", "").splitlines():
            if line.strip():
                client_id, secret, uri = [*line.strip().split(":", 2), "", ""][:3]
                register_client(client_id, secret, [uri] if uri else [])
        _bootstrapped.set()


class ApiMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = api_path(request)
        if path is None:
            response = self.get_response(request)
            return self._json_404(request, response)
        override = request.headers.get("X-HTTP-Method-Override", "").strip().upper()
        if request.method == "POST" and override:
            if override not in OVERRIDABLE:
                return api_error(
                    400,
                    "invalid_request",
                    f"X-HTTP-Method-Override {override!r} is not allowed",
                    hint="Use PUT, PATCH or DELETE",
                )
            request.method = override
        if path.startswith("/auth/"):
            credential, contact_id = "anonymous", ""  # Basic there is client authentication
        else:
            credential, contact_id = auth.claimed_kind(request)
        entry = {
            "method": request.method,
            "path": path,
            "query": request.META.get("QUERY_STRING", ""),
            "credential": credential,
            "contact_id": contact_id or None,
            # What the caller asked the CRM's words in (labels, locale, PDFs).
            "accept_language": request.headers.get("Accept-Language"),
            "status": None,
            # When the call arrived and when its answer was ready (seconds on the
            # emulator's monotonic clock): tests count calls that overlapped.
            "started": time.monotonic(),
            "answered": None,
        }
        control.log_request(entry)
        response = self._answer(request, path)
        entry["answered"] = time.monotonic()
        # A dropped connection has no status: the log says null.
        entry["status"] = None if response.status_code == DROPPED else response.status_code
        # Bytes of the body (not of a streamed file): what the benchmarks' cost tables read.
        entry["bytes"] = len(response.content) if isinstance(response, HttpResponse) else None
        return response

    def _answer(self, request: HttpRequest, path: str) -> HttpResponseBase:
        assert request.method is not None
        after: list[control.Fault] = []
        response: HttpResponseBase
        released = control.stalls_released()  # before the faults: clearing them ends these
        for fault in control.take_faults(request.method, path):
            if fault.kind in {"latency", "stall_headers"}:
                released.wait(fault.ms / 1000)
            elif fault.kind == "status":
                response = api_error(
                    fault.status, "injected_fault", f"Injected fault: HTTP {fault.status}"
                )
                if fault.retry_after is not None:
                    response["Retry-After"] = str(fault.retry_after)
                return response
            elif fault.kind == "malformed":
                return HttpResponse(b'{"records": [{"id": ', content_type="application/json")
            elif fault.kind == "html":
                return HttpResponse(
                    b"<!DOCTYPE html><html><head><title>Maintenance</title></head>"
                    b"<body><h1>Down for maintenance</h1></body></html>",
                    content_type="text/html; charset=utf-8",
                )
            elif fault.kind == "wrong_shape":
                return HttpResponse(b'{"unexpected": []}', content_type="application/json")
            elif fault.kind == "reset":
                drop_connection(request)
                return HttpResponse(b"", status=DROPPED)
            else:
                after.append(fault)
        try:
            bootstrap()
            store.ensure_fresh()
            if control.switch("startup_edition"):
                raise ApiError(
                    403,
                    "forbidden",
                    "REST API is only available in Pro and Enterprise editions of 1CRM",
                )
            if not request.is_secure() and not control.switch("allow_http"):
                raise ApiError(
                    403,
                    "forbidden",
                    "API calls over a non-SSL connection (http://) are disabled",
                    hint="Use https://, or enable plain HTTP in Admin - System Settings",
                )
            response = self._json_404(request, self.get_response(request))
        except ApiError as error:
            response = error.response()
        for fault in after:
            response = self._after(request, response, fault, released)
        return response

    def _after(
        self,
        request: HttpRequest,
        response: HttpResponseBase,
        fault: control.Fault,
        released: threading.Event,
    ) -> HttpResponseBase:
        if fault.kind == "wrong_total":
            if isinstance(response, HttpResponse) and response.status_code == 200:
                try:
                    body = json.loads(response.content)
                except ValueError:
                    return response
                if isinstance(body, dict) and "total_results" in body:
                    body["total_results"] = int(body["total_results"]) + 5
                    new = HttpResponse(json.dumps(body), content_type="application/json")
                    return new
            return response
        return _rewrap(request, response, fault.kind, fault.ms, released)

    def _json_404(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if response.status_code == 404 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            return api_error(404, "not_found", f"No endpoint at {request.path}")
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse:
        if isinstance(exception, ApiError):
            return exception.response()
        logger.exception("emulator error on %s %s", request.method, request.path)
        return api_error(500, "server_error", "Internal error in the emulator")
