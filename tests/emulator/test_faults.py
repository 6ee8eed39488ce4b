"""Injected faults (POST /__emulator__/faults): every kind does what the contract says."""

import json
import threading
import time

import httpx2 as httpx
import pytest

from tests.emulator.conftest import Api


def fault(api: Api, **spec) -> None:
    api.server.control("POST", "faults", json=spec)


def test_status_fault_with_retry_after_and_times(api: Api):
    fault(api, path=r"^/version$", kind="status", status=503, retry_after=7, times=2)
    for _ in range(2):
        response = api.get("/version")
        body = api.error(response, 503)
        assert response.headers["Retry-After"] == "7" and body["error"]
    assert api.get("/version").status_code == 200


def test_method_restricts_a_fault(api: Api):
    fault(api, path="/data/aCase", method="POST", kind="status", status=500)
    token = api.staff()
    assert api.get("/data/aCase", token).status_code == 200
    api.error(api.call("POST", "/data/aCase", token, json={"data": {"name": "x"}}), 500)


def test_faults_last_forever_until_deleted(api: Api):
    fault(api, path="^/version", kind="status", status=502, times=None)
    assert [api.get("/version").status_code for _ in range(3)] == [502, 502, 502]
    listed = api.server.control("GET", "faults").json()["faults"]
    assert listed[0]["kind"] == "status" and listed[0]["times"] is None
    api.server.control("DELETE", "faults")
    assert api.get("/version").status_code == 200


def test_latency_and_stall_headers_delay_the_answer(api: Api):
    for kind in ("latency", "stall_headers"):
        fault(api, path="^/version", kind=kind, ms=300, times=1)
        started = time.monotonic()
        assert api.get("/version").status_code == 200
        assert time.monotonic() - started >= 0.3


def test_malformed_html_and_wrong_shape_bodies(api: Api):
    fault(api, path="^/version", kind="malformed", times=1)
    response = api.get("/version")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    fault(api, path="^/version", kind="html", times=1)
    response = api.get("/version")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    fault(api, path="^/version", kind="wrong_shape", times=1)
    assert api.get("/version").json() == {"unexpected": []}


def test_wrong_total(api: Api):
    token = api.staff()
    real = api.ok("GET", "/data/Invoice", token)["total_results"]
    fault(api, path="^/data/Invoice$", kind="wrong_total", times=1)
    body = api.ok("GET", "/data/Invoice", token)
    assert body["total_results"] != real and len(body["records"]) == 20


def test_reset_drops_the_connection_without_an_answer(api: Api):
    fault(api, path="^/version", kind="reset", times=1)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{api.url}/version", timeout=5)
    log = api.server.control("GET", "requests").json()["requests"]
    assert log[-1]["path"] == "/version" and log[-1]["status"] is None
    assert api.get("/version").status_code == 200


def _document(api: Api, token: str) -> tuple[str, bytes]:
    content = bytes(range(256)) * 2000
    file_id = api.ok(
        "POST", "/files/upload", token, content=content, headers={"X-OneCRM-Filename": "fault.bin"}
    )["id"]
    doc = api.ok(
        "POST",
        "/data/Document",
        token,
        json={"data": {"document_name": "Fault", "filename": file_id}},
    )
    return doc["id"], content


@pytest.mark.parametrize("kind", ["truncate", "truncate_chunked"])
def test_truncated_downloads(api: Api, kind: str):
    token = api.staff()
    doc_id, content = _document(api, token)
    fault(api, path="^/files/download/", kind=kind, times=1)
    received = b""
    with (
        pytest.raises(httpx.TransportError),
        httpx.stream(
            "GET",
            f"{api.url}/files/download/Document/{doc_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ) as response,
    ):
        assert response.status_code == 200
        if kind == "truncate":
            assert response.headers["Content-Length"] == str(len(content))
        else:
            assert response.headers["Transfer-Encoding"] == "chunked"
        for chunk in response.iter_bytes():
            received += chunk
    assert 0 < len(received) < len(content)
    assert content.startswith(received)
    # The next download is whole again.
    assert api.get(f"/files/download/Document/{doc_id}", token).content == content


def test_truncated_pdf(api: Api):
    token = api.staff()
    invoice = api.ok("GET", "/data/Invoice", token, params={"limit": 1})["records"][0]
    fault(api, path="^/printer/pdf/", kind="truncate", times=1)
    with pytest.raises(httpx.TransportError):
        api.get(f"/printer/pdf/Invoice/{invoice['id']}", token)


def test_stall_body_sends_half_then_waits(api: Api):
    token = api.staff()
    doc_id, content = _document(api, token)
    fault(api, path="^/files/download/", kind="stall_body", ms=1000, times=1)
    url = f"{api.url}/files/download/Document/{doc_id}"
    with httpx.stream(
        "GET", url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as response:
        headers_at = time.monotonic()  # the stall comes after the headers and half the body
        body = response.read()
    # The stall starts as the server sends the headers, a moment before they arrive here.
    assert time.monotonic() - headers_at >= 0.8
    assert body == content


def test_stall_body_trips_a_read_timeout(api: Api):
    token = api.staff()
    doc_id, _ = _document(api, token)
    fault(api, path="^/files/download/", kind="stall_body", ms=1500, times=1)
    with pytest.raises(httpx.ReadTimeout):
        api.http.get(
            f"{api.url}/files/download/Document/{doc_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(10.0, read=0.5),
        )


@pytest.mark.parametrize("kind", ["latency", "stall_body"])
@pytest.mark.parametrize("clearing", ["delete", "reset"])
def test_clearing_the_faults_ends_a_stall_under_way(api: Api, kind, clearing):
    """A test may hang a call far longer than the timeout it tests (30 s here): the hang
    ends when the faults are cleared, so it never outlives its test."""
    token = api.staff()
    doc_id, content = _document(api, token)
    fault(api, path="^/files/download/", kind=kind, ms=30_000, times=1)
    api.server.control("DELETE", "requests")
    answers: list[httpx.Response] = []
    url = f"{api.url}/files/download/Document/{doc_id}"
    fetch = threading.Thread(
        target=lambda: answers.append(
            httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        ),
        daemon=True,
    )
    fetch.start()
    deadline = time.monotonic() + 30
    while not api.server.control("GET", "requests").json()["requests"]:
        assert time.monotonic() < deadline, "the call never arrived"
        time.sleep(0.02)
    if clearing == "delete":
        api.server.control("DELETE", "faults")
    else:
        api.server.reset_controls()
    fetch.join(timeout=15)  # a safe bound: half the hang
    assert not fetch.is_alive(), "the stall went on after the faults were cleared"
    assert answers[0].status_code == 200 and answers[0].content == content


def test_invalid_fault_specs_are_400(api: Api):
    for spec in (
        {"path": "x", "kind": "nope"},
        {"path": "(", "kind": "latency"},
        {"path": "x", "kind": "status"},
        {"path": "x", "kind": "latency", "ms": "1"},
    ):
        response = httpx.post(
            f"{api.server.base_url}/__emulator__/faults",
            json=spec,
            headers={"X-Emulator-Admin": "emulator-admin-for-tests"},
        )
        assert response.status_code == 400, spec


def test_reset_clears_faults(api: Api):
    fault(api, path=".", kind="status", status=500)
    api.server.reset_controls()
    assert api.get("/version").status_code == 200


def test_after_leaves_the_first_matching_calls_alone(api: Api):
    """`after: N` fails the (N+1)th matching call: a failure in the middle of a series."""
    fault(api, path=r"^/version$", kind="status", status=500, after=2, times=1)
    assert [api.get("/version").status_code for _ in range(4)] == [200, 200, 500, 200]
    listed = api.server.control("GET", "faults").json()["faults"]
    assert listed == []  # used up
    bad = httpx.post(
        f"{api.server.base_url}/__emulator__/faults",
        json={"path": "x", "kind": "latency", "after": -1},
        headers={"X-Emulator-Admin": "emulator-admin-for-tests"},
    )
    assert bad.status_code == 400


def test_the_request_log_says_when_each_call_arrived_and_was_answered(api: Api):
    fault(api, path=r"^/version$", kind="latency", ms=200, times=1)
    api.server.control("DELETE", "requests")
    api.get("/version")
    entry = api.server.control("GET", "requests").json()["requests"][-1]
    assert entry["answered"] - entry["started"] >= 0.2
