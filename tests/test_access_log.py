"""The access log never holds a sign-in link's token or an OAuth code."""

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
