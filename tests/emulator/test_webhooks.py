"""/webhooks CRUD and delivery (with retries) to a receiver on the loopback."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.emulator.conftest import Api


class Receiver:
    def __init__(self, statuses: list[int]):
        self.statuses = statuses
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/secret-123"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.bodies


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None) -> Receiver:
        made.append(Receiver(list(statuses or [])))
        return made[-1]

    yield make
    for r in made:
        r.server.shutdown()


def test_webhook_crud(api: Api):
    token = api.staff()
    created = api.ok(
        "POST",
        "/webhooks",
        token,
        json={"type": "create", "url": "http://127.0.0.1:9/hook", "model": "aCase"},
    )
    assert created["id"] and created["type"] == "create" and created["model"] == "aCase"
    listed = api.ok("GET", "/webhooks", token)
    assert created["id"] in [w["id"] for w in listed["records"]] and listed["total_results"] >= 1
    assert api.ok("GET", f"/webhooks/{created['id']}", token)["url"] == "http://127.0.0.1:9/hook"
    updated = api.ok("PUT", f"/webhooks/{created['id']}", token, json={"type": "update"})
    assert updated["type"] == "update"
    deleted = api.ok("DELETE", f"/webhooks/{created['id']}", token)
    assert deleted["id"] == created["id"]
    api.error(api.get(f"/webhooks/{created['id']}", token), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"type": "sometimes", "url": "http://127.0.0.1/x", "model": "aCase"},
        {"type": "create", "url": "ftp://x", "model": "aCase"},
        {"type": "create", "model": "aCase"},
        {
            "type": "create",
            "url": "http://127.0.0.1/x",
            "model": "aCase",
            "filters": {"glue": "xor", "conditions": []},
        },
    ],
)
def test_invalid_webhooks_are_400(api: Api, body):
    api.error(api.call("POST", "/webhooks", api.staff(), json=body), 400)


def test_delivery_with_filters_and_retries(api: Api, receiver):
    token = api.staff()
    target = receiver([500])
    hook = api.ok(
        "POST",
        "/webhooks",
        token,
        json={
            "type": "create_update",
            "url": target.url,
            "model": "aCase",
            "filters": {
                "glue": "and",
                "conditions": [
                    {
                        "field": "status",
                        "filter": "eq",
                        "value": "Closed - Complete",
                        "when": "changed_to",
                    }
                ],
            },
        },
    )
    case = api.ok(
        "POST", "/data/aCase", token, json={"data": {"name": "Hooked", "status": "Active - New"}}
    )
    api.ok(
        "PATCH", f"/data/aCase/{case['id']}", token, json={"data": {"status": "Closed - Complete"}}
    )
    bodies = target.wait_for(2)
    assert len(bodies) == 2, "the first attempt answered 500 and was retried"
    assert bodies[-1]["model"] == "aCase" and bodies[-1]["type"] == "update"
    assert bodies[-1]["id"] == case["id"] and bodies[-1]["record"]["status"] == "Closed - Complete"
    log = api.server.control("GET", "deliveries").json()["deliveries"]
    mine = [entry for entry in log if entry["webhook_id"] == hook["id"]]
    assert [entry["status_code"] for entry in mine] == [500, 200]
    assert all("secret-123" not in json.dumps(entry) for entry in mine)
    api.ok("DELETE", f"/webhooks/{hook['id']}", token)
    api.ok("DELETE", f"/data/aCase/{case['id']}", token)
