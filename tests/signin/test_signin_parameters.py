"""Every parameter a visitor can send to sign-in gets a clear answer, never a 500.

The contact and staff OAuth callbacks (`state`, `code`, `error`), `next` wherever it is
read, the e-mail form field and the e-mailed link's token in the path. Django's test
client re-raises any exception a view lets through, so a 500 fails the test with its
traceback. For the callbacks a flow is started first, so `state` really reaches the
comparison (without a pending flow it is refused before being compared).
"""

from urllib.parse import quote

import pytest
from django.core.cache import cache
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from portal.signin.oauth import states_match
from portal.signin.session import SESSION_KEY
from tests.signin.crm_signin import query_of, register_test_redirect_uri

pytestmark = pytest.mark.django_db

FUZZ = hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Printable and control characters, every plane; surrogates cannot travel in a URL.
TEXT = st.text(max_size=200)
ODD = st.sampled_from(["é", "ü" * 43, "\x00", "%", "%ff", "\u202e", "😀", " ", "a" * 5000])
VALUES = TEXT | ODD
OPTIONAL = st.none() | VALUES
PASSED = (200, 302, 400, 403, 404, 405, 429, 503)


def params_of(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value is not None}


@pytest.fixture
def visitor(crm, settings) -> Client:
    register_test_redirect_uri(crm)
    settings.STAFF_ONECRM_SIGNIN = True  # off by default; on, its callback is reachable
    return Client()


def test_states_are_compared_as_bytes():
    assert states_match("abc", "abc")
    assert not states_match("abc", "abd")
    assert not states_match("abc", "é")
    assert states_match("é-state", "é-state")
    assert not states_match("", "")
    assert not states_match("abc", "")


def test_a_non_ascii_state_is_refused_on_the_contact_callback(visitor):
    assert visitor.get("/login/oauth/").status_code == 302
    response = visitor.get("/login/oauth/callback/", {"state": "é", "code": "x"})
    assert response.status_code == 400
    assert b"could not be completed" in response.content
    assert SESSION_KEY not in visitor.session


def test_a_non_ascii_state_is_refused_on_the_staff_callback(visitor):
    assert visitor.get("/admin/oauth/start/").status_code == 302
    response = visitor.get("/admin/oauth/callback/", {"state": "é", "code": "x"})
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/"
    assert "_auth_user_id" not in visitor.session


@FUZZ
@given(state=OPTIONAL, code=OPTIONAL, error=OPTIONAL, keep_state=st.booleans())
def test_any_contact_callback_is_answered_plainly(visitor, state, code, error, keep_state):
    cache.clear()  # rate limits would otherwise answer 429 before the callback is reached
    started = query_of(visitor.get("/login/oauth/")["Location"])
    sent = params_of(state=started["state"] if keep_state else state, code=code, error=error)
    response = visitor.get("/login/oauth/callback/", sent)
    assert response.status_code in PASSED
    assert SESSION_KEY not in visitor.session


@FUZZ
@given(state=OPTIONAL, code=OPTIONAL, error=OPTIONAL, keep_state=st.booleans())
def test_any_staff_callback_is_answered_plainly(visitor, state, code, error, keep_state):
    started = query_of(visitor.get("/admin/oauth/start/")["Location"])
    sent = params_of(state=started["state"] if keep_state else state, code=code, error=error)
    response = visitor.get("/admin/oauth/callback/", sent)
    assert response.status_code in PASSED
    assert "_auth_user_id" not in visitor.session


@FUZZ
@given(
    next_url=VALUES,
    path=st.sampled_from(["/login/", "/login/oauth/", "/admin/oauth/start/"]),
)
def test_any_next_is_answered_plainly(visitor, next_url, path):
    cache.clear()
    response = visitor.get(path, {"next": next_url})
    assert response.status_code in PASSED
    location = response.get("Location", "")
    assert not location.startswith(("//", "/\\")), location


@FUZZ
@given(email=VALUES | st.emails(), next_url=OPTIONAL)
def test_any_e_mail_form_is_answered_plainly(visitor, email, next_url):
    cache.clear()
    response = visitor.post("/login/email/", params_of(email=email, next=next_url))
    assert response.status_code in PASSED


@FUZZ
@given(token=VALUES.filter(bool), method=st.sampled_from(["get", "post"]))
def test_any_link_token_is_answered_plainly(visitor, token, method):
    response = getattr(visitor, method)(f"/login/email/{quote(token, safe='')}/")
    assert response.status_code in PASSED
    assert SESSION_KEY not in visitor.session
