"""A load balancer for tests: a small HTTP/1.1 forwarder on loopback.

Like nginx with `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`, it
appends the address of the client it saw to whatever X-Forwarded-For the client sent,
and passes the request on to the portal from 127.0.0.1. Clients that bind other loopback
addresses (127.0.0.2, 127.0.0.3...) are therefore different visitors behind one proxy.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2 as httpx

# Headers that belong to one connection, or that the proxy sets itself.
NOT_PASSED_ON = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "content-encoding",
    "x-forwarded-for",
    "server",
    "date",
}


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        chain = [*self.headers.get_all("X-Forwarded-For", []), self.client_address[0]]
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in NOT_PASSED_ON]
        headers.append(("X-Forwarded-For", ", ".join(chain)))
        upstream = self.server.upstream
        answer = upstream.request(self.command, self.path, headers=headers, content=body)
        self.send_response(answer.status_code)
        for name, value in answer.headers.multi_items():
            if name.lower() not in NOT_PASSED_ON:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer.content)
        self.close_connection = True

    do_GET = do_POST = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass  # the portal's own access log is what the tests read


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    upstream: httpx.Client


@contextlib.contextmanager
def forwarding_proxy(upstream_url: str) -> Iterator[str]:
    """Run the proxy in front of `upstream_url`; yields the proxy's own URL."""
    server = _ProxyServer(("127.0.0.1", 0), _Forward)
    server.upstream = httpx.Client(base_url=upstream_url, timeout=30, trust_env=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        server.upstream.close()
        thread.join(timeout=10)
