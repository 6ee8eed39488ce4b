"""The access log never holds a sign-in link's token or an OAuth code, and tells a
request its client left from one the portal failed."""

import socket
import time

import httpx2 as httpx

from portal.access_log import redact
from tests.portal_server import portal_env, start_portal


def test_secrets_in_urls_are_redacted():
    line = (
        "GET /login/email/AbC-123_xyz/ HTTP/1.1 "
        "GET /login/oauth/callback/?code=s3cr3t&state=st4te&x=1 "
        "GET /invoices/?status=open&page=2"
    )
    redacted = redact(line)
    assert "AbC-123_xyz" not in redacted and "s3cr3t" not in redacted
    assert "st4te" not in redacted
    assert "/login/email/…/" in redacted
    assert "code=…&state=…&x=1" in redacted
    assert "/invoices/?status=open&page=2" in redacted


def test_the_portal_server_access_log_leaves_secrets_out(tmp_path):
    env = portal_env(tmp_path, "http://127.0.0.1:9/1crm/api.php")
    server = start_portal(env, log_path=tmp_path / "server.log")
    try:
        token = "a-sign-in-link-token-that-must-not-be-logged-0123456789"
        httpx.get(f"{server.url}/login/email/{token}/", timeout=10)
        httpx.get(f"{server.url}/login/oauth/callback/?code=secret-code-42&state=abc", timeout=10)
    finally:
        server.stop()
    log = server.log_text()
    assert "/login/email/…/" in log, log[-2000:]
    assert token not in log
    assert "secret-code-42" not in log


def access_lines(server, path: str, seconds: float = 30) -> list[str]:
    """The access log's lines for `path`, once there is one (gunicorn writes a line when
    the application has returned, which after a client left takes a moment)."""
    deadline = time.monotonic() + seconds
    while True:
        lines = [line for line in server.log_text().splitlines() if f'"GET {path} ' in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_a_request_its_client_left_is_logged_as_499_not_500(tmp_path):
    """The client hangs up while the portal waits for a CRM that accepts connections and
    never answers: gunicorn would log 500 (no response was started); ours says 499."""
    with socket.socket() as silent_crm:
        silent_crm.bind(("127.0.0.1", 0))
        silent_crm.listen(16)  # connections are accepted by the kernel, never answered
        port = silent_crm.getsockname()[1]
        env = portal_env(tmp_path, f"http://127.0.0.1:{port}/1crm/api.php")
        server = start_portal(env, log_path=tmp_path / "server.log")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
                client.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                time.sleep(1)  # the probe is waiting for the CRM
            (left,) = access_lines(server, "/readyz")
            # An answered request keeps its status.
            assert httpx.get(f"{server.url}/healthz?after", timeout=10).status_code == 200
            (answered,) = access_lines(server, "/healthz?after")
        finally:
            server.stop()
    assert '"GET /readyz HTTP/1.1" 499 0' in left, left
    assert '"GET /healthz?after HTTP/1.1" 200 ' in answered, answered


def test_only_gunicorns_own_500_for_a_client_that_left_becomes_499():
    import contextvars
    import datetime as dt
    from types import SimpleNamespace

    from gunicorn.config import Config

    from portal import access_log

    logger = access_log.RedactingLogger(Config())
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/", "SERVER_PROTOCOL": "HTTP/1.1"}
    request = SimpleNamespace(headers=[])

    def status(resp, left: bool):
        def logged():
            if left:
                access_log._client_left.set(True)
            return logger.atoms(resp, request, environ, dt.timedelta(seconds=1))["s"]

        return contextvars.copy_context().run(logged)

    no_answer = SimpleNamespace(status=500, headers=[], sent=0)
    answered = SimpleNamespace(status=500, headers=[("Content-Type", "text/html")], sent=120)
    assert status(no_answer, left=True) == 499
    assert status(no_answer, left=False) == 500  # a crash before any answer stays 500
    assert status(answered, left=True) == 500  # the portal's own error page
    assert status(SimpleNamespace(status=200, headers=[], sent=0), left=True) == 200
