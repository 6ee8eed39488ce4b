"""Errors, retries, deadlines and headers of every CRM call (scripted CRM on MockTransport:
these are the faults and timings the emulator cannot produce exactly)."""

from __future__ import annotations

import asyncio
import logging

import httpx2 as httpx
import pytest

from crm_gateway import errors
from crm_gateway.calllog import CallLog
from crm_gateway.credentials import BasicCredential, staff_credential
from crm_gateway.rest import call_json, scrub
from tests.gateway.conftest import LongestBackoff, reply, token_reply

SECRET_TOKEN = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXN0YWZmLXRva2Vu.c2lnbmF0dXJl"


def raise_(exc: Exception):
    def handler(request):
        raise exc

    return handler


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequest),
        (401, errors.Unauthorized),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (409, errors.Conflict),
        (413, errors.PayloadTooLarge),
        (429, errors.RateLimited),
        (500, errors.ServerError),
        (503, errors.ServerError),
        (418, errors.CrmStatusError),
    ],
)
async def test_status_errors_by_class_carry_error_message_hint(scripted, status, cls):
    scripted.on("POST", "/x", reply(status, {"error": "e1", "message": "m1", "hint": "h1"}))
    with pytest.raises(cls) as caught:
        await call_json("POST", "/x")
    error = caught.value
    assert type(error) is cls and isinstance(error, errors.CrmError)
    assert (error.status, error.error, error.message, error.hint) == (status, "e1", "m1", "h1")
    assert scripted.count("POST", "/x") == 1  # a POST is never retried


async def test_non_json_error_body_is_unexpected_reply(scripted):
    scripted.on("GET", "/x", reply(500, b"<html>Fatal error</html>"))
    with pytest.raises(errors.ServerError) as caught:
        await call_json("GET", "/x")
    assert caught.value.error == "unexpected_reply"


@pytest.mark.parametrize(
    "body", [b"{not json", b"<html><body>Maintenance</body></html>", b'["a list"]', b""]
)
async def test_malformed_success_body_is_bad_reply(scripted, body):
    scripted.on("GET", "/x", reply(200, body))
    with pytest.raises(errors.BadReply):
        await call_json("GET", "/x")


async def test_connection_refused_is_connection_error_after_retries(scripted):
    scripted.on("GET", "/x", raise_(httpx.ConnectError("refused")))
    with pytest.raises(errors.CrmConnectionError) as caught:
        await call_json("GET", "/x")
    # No raw httpx exception rides along (its request holds the headers).
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert scripted.count("GET", "/x") == 4


async def test_connection_reset_is_retried_for_get_then_succeeds(scripted):
    scripted.on("GET", "/x", raise_(httpx.ReadError("reset by peer")), reply(200, {"ok": True}))
    assert await call_json("GET", "/x") == {"ok": True}
    assert scripted.count("GET", "/x") == 2


async def test_post_is_never_retried_even_on_connection_error(scripted):
    scripted.on("POST", "/x", raise_(httpx.ConnectError("refused")), reply(200, {}))
    with pytest.raises(errors.CrmConnectionError):
        await call_json("POST", "/x")
    assert scripted.count("POST", "/x") == 1


async def test_502_retried_then_success(scripted):
    scripted.on("GET", "/x", reply(502, {"error": "bad_gateway"}), reply(200, {"ok": 1}))
    with CallLog() as log:
        assert await call_json("GET", "/x") == {"ok": 1}
    assert [call.status for call in log.calls] == [502, 200]


@pytest.mark.parametrize("status", [500, 501, 400, 404])
async def test_other_statuses_are_not_retried(scripted, status):
    scripted.on("GET", "/x", reply(status, {"error": "e"}), reply(200, {}))
    with pytest.raises(errors.CrmStatusError):
        await call_json("GET", "/x")
    assert scripted.count("GET", "/x") == 1


async def test_429_waits_for_retry_after(scripted, fake_clock):
    scripted.on(
        "GET",
        "/x",
        reply(429, {"error": "rate_limited"}, headers={"Retry-After": "1"}),
        reply(200, {"ok": 1}),
    )
    assert await call_json("GET", "/x") == {"ok": 1}
    assert fake_clock.waits == [1.0]  # the wait the CRM asked for, then the second attempt
    assert scripted.count("GET", "/x") == 2


async def test_429_retry_after_is_capped_and_reported(scripted, settings, fake_clock):
    # An hour asked for: the wait is capped (max_retry_after, 1 s here), then retried.
    scripted.on(
        "GET",
        "/x",
        reply(429, {"error": "slow"}, headers={"Retry-After": "3600"}),
        reply(200, {"ok": 1}),
    )
    assert await call_json("GET", "/x") == {"ok": 1}
    assert fake_clock.waits == [1.0]
    # When even the capped wait does not fit in the deadline: no wait, the 429 at once.
    settings.ONECRM_DEADLINE = 0.5
    scripted.on("GET", "/x", reply(429, {"error": "slow"}, headers={"Retry-After": "3600"}))
    scripted.requests.clear()
    with pytest.raises(errors.RateLimited) as caught:
        await call_json("GET", "/x")
    assert fake_clock.waits == [1.0]  # no second wait
    assert scripted.count("GET", "/x") == 1
    assert caught.value.retry_after == 3600


async def test_read_timeout_is_typed_and_not_retried(scripted):
    scripted.on("GET", "/x", raise_(httpx.ReadTimeout("slow")))
    with pytest.raises(errors.CrmTimeout):
        await call_json("GET", "/x")
    assert scripted.count("GET", "/x") == 1


async def test_overall_deadline_bounds_a_slow_answer(scripted, settings):
    settings.ONECRM_DEADLINE = 0.3
    cut: list[bool] = []

    async def slow(request):
        try:
            await asyncio.sleep(30)  # a hundred times the deadline (and the read timeout)
        except asyncio.CancelledError:
            cut.append(True)
            raise
        return httpx.Response(200, json={})

    scripted.on("GET", "/x", slow)
    with pytest.raises(errors.CrmTimeout):
        await call_json("GET", "/x")
    # Cut by the deadline while the CRM was still busy, not answered late: had the
    # deadline not held, the answer would have come after 30 s, and no error at all.
    assert cut == [True]
    assert scripted.count("GET", "/x") == 1


async def test_retries_stay_inside_the_deadline(scripted, settings, monkeypatch, fake_clock):
    from crm_gateway import rest

    settings.ONECRM_DEADLINE = 0.4
    monkeypatch.setattr(rest, "retry_policy", LongestBackoff(attempts=50, base_delay=0.1))
    scripted.on("GET", "/x", reply(503, {"error": "down"}))
    # The waits between attempts on the gateway's clock, not the wall clock (which a
    # loaded machine stretches): 0.1 and 0.2 fit in 0.4 s, the next (0.4) would not, so
    # the third 503 is the answer, long before the 50 attempts the policy allows.
    with pytest.raises(errors.ServerError):
        await call_json("GET", "/x")
    assert fake_clock.waits == [0.1, 0.2]
    assert scripted.count("GET", "/x") == 3


async def test_method_override_sends_post_with_header(scripted, settings):
    settings.ONECRM_METHOD_OVERRIDE = True
    scripted.on("POST", "/data/Note/1", reply(200, {"result": True}))
    for method in ("PUT", "PATCH", "DELETE"):
        await call_json(method, "/data/Note/1", json={"data": {}})
    assert [r.headers["X-HTTP-Method-Override"] for r in scripted.requests] == [
        "PUT",
        "PATCH",
        "DELETE",
    ]
    settings.ONECRM_METHOD_OVERRIDE = False
    scripted.on("DELETE", "/data/Note/1", reply(200, {"result": True}))
    await call_json("DELETE", "/data/Note/1")
    assert "X-HTTP-Method-Override" not in scripted.requests[-1].headers


async def test_accept_language_passed_through_and_sanitised(scripted):
    scripted.on("GET", "/x", reply(200, {}))
    await call_json("GET", "/x", accept_language="de-DE,de;q=0.9,en;q=0.5")
    assert scripted.requests[-1].headers["Accept-Language"] == "de-DE,de;q=0.9,en;q=0.5"
    await call_json("GET", "/x", accept_language="de\r\nX-Evil: 1")
    assert "Accept-Language" not in scripted.requests[-1].headers


async def test_staff_token_is_fetched_once_cached_and_renewed_on_401(scripted):
    scripted.on("POST", "/auth/user/access_token", token_reply("staff-1"), token_reply("staff-2"))

    def data(request):
        if (
            request.headers["Authorization"] == "Bearer staff-1"
            and scripted.count("GET", "/me") > 2
        ):
            return httpx.Response(401, json={"error": "invalid_token"})
        return httpx.Response(200, json={"id": "Users:1"})

    scripted.on("GET", "/me", data)
    for _ in range(3):
        await call_json("GET", "/me", credential=staff_credential())
    assert scripted.count("POST", "/auth/user/access_token") == 2
    assert scripted.requests[-1].headers["Authorization"] == "Bearer staff-2"
    body = scripted.requests[0].content
    assert b'"grant_type":"client_credentials"' in body.replace(b" ", b"")


async def test_staff_token_shared_through_django_cache(scripted):
    from crm_gateway import credentials

    scripted.on("POST", "/auth/user/access_token", token_reply("shared-token"))
    scripted.on("GET", "/me", reply(200, {"id": "Users:1"}))
    await call_json("GET", "/me", credential=staff_credential())
    credentials._process_tokens.clear()  # another process: only the cache is shared
    await call_json("GET", "/me", credential=staff_credential())
    assert scripted.count("POST", "/auth/user/access_token") == 1


async def test_basic_credential(scripted, settings):
    settings.ONECRM_BASIC_USERNAME = "admin"
    settings.ONECRM_BASIC_PASSWORD = "pa55word"
    scripted.on("GET", "/me", reply(401, {"error": "unauthorized"}))
    credential = staff_credential()
    assert isinstance(credential, BasicCredential)
    with pytest.raises(errors.Unauthorized):
        await call_json("GET", "/me", credential=credential)
    assert scripted.requests[0].headers["Authorization"] == "Basic YWRtaW46cGE1NXdvcmQ="
    assert scripted.count("GET", "/me") == 1
    assert "pa55word" not in repr(credential) and "YWRt" not in repr(credential)


async def test_no_secret_in_errors_or_logs(scripted, settings, caplog):
    settings.ONECRM_SERVICE_CLIENT_SECRET = "client-secret-value"
    scripted.on("POST", "/auth/user/access_token", token_reply(SECRET_TOKEN))
    # The CRM echoes the token and the header back (worst case).
    echo = {
        "error": f"bad {SECRET_TOKEN}",
        "message": f"Authorization: Bearer {SECRET_TOKEN}",
        "hint": "client-secret-value",
    }
    scripted.on("GET", "/x", reply(403, echo))
    scripted.on("GET", "/y", raise_(httpx.ConnectError(f"failed Bearer {SECRET_TOKEN}")))
    caught = []
    with caplog.at_level(logging.DEBUG):
        for path in ("/x", "/y"):
            with pytest.raises(errors.CrmError) as info:
                await call_json("GET", path, credential=staff_credential())
            caught.append(info.value)
    texts = [str(e) for e in caught] + [repr(e) for e in caught]
    texts += [str(vars(e)) for e in caught] + [caplog.text]
    for text in texts:
        assert SECRET_TOKEN not in text
        assert "c2VjcmV0LXN0YWZmLXRva2Vu" not in text
    assert "client-secret-value" not in caplog.text


def test_scrub_removes_jwts_and_bearer_values():
    assert "abc.def" not in scrub("token eyJabcde.eyJfghij.sig here")
    assert scrub("Bearer abcdefghijkl") == "Bearer [redacted]"
    assert scrub("the value s3cr3t-x is wrong", ["s3cr3t-x"]) == "the value [redacted] is wrong"


async def test_call_log_counts_calls_in_nested_tasks(scripted):
    scripted.on("GET", "/x", reply(200, {}))
    with CallLog() as log:
        await asyncio.gather(*(call_json("GET", "/x") for _ in range(3)))
    assert len(log) == 3 and log.count(method="GET", path_prefix="/x") == 3
    await call_json("GET", "/x")
    assert len(log) == 3  # closed: later calls are not counted


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 429, 500, 502, 503, 504])
async def test_no_error_class_carries_the_token(scripted, status, caplog):
    scripted.on("POST", "/auth/user/access_token", token_reply(SECRET_TOKEN))
    scripted.on(
        "GET",
        "/x",
        reply(
            status,
            {"error": SECRET_TOKEN, "message": f"Bearer {SECRET_TOKEN}", "hint": SECRET_TOKEN},
        ),
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(errors.CrmStatusError) as caught:
        await call_json("GET", "/x", credential=staff_credential())
    error = caught.value
    for text in (str(error), repr(error), error.error, error.message, error.hint, caplog.text):
        assert SECRET_TOKEN not in text


def test_process_token_cache_is_bounded(monkeypatch):
    import time as time_module

    from crm_gateway import credentials

    monkeypatch.setattr(credentials, "MAX_PROCESS_TOKENS", 10)
    fresh = credentials.TokenSet("t", None, time_module.time() + 3600, time_module.time() + 3500)
    for index in range(25):
        credentials._remember(f"key-{index}", fresh)
    assert len(credentials._process_tokens) <= 10
    assert "key-24" in credentials._process_tokens


async def test_lock_registry_forgets_idle_locks():
    from crm_gateway.credentials import _LoopLocks

    locks = _LoopLocks()
    held = locks.get("held")
    async with held:
        for index in range(3000):
            locks.get(f"refresh:{index}")
        per_loop = locks._locks[asyncio.get_running_loop()]
        assert len(per_loop) <= 1002 and per_loop["held"] is held
