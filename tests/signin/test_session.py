"""Contact sessions: lifetimes, blocking, revoked tokens, and htmx-aware redirects."""

import time
from dataclasses import asdict

import pytest
from django.contrib.sessions.backends.cache import SessionStore
from django.http import HttpResponse
from django.test import AsyncRequestFactory

from crm_gateway import errors
from portal.models import ContactAccess
from portal.signin.session import (
    ENDED_KEY,
    SESSION_KEY,
    SignedInContact,
    contact_required,
)

pytestmark = pytest.mark.django_db(transaction=True)


def a_contact(**changes) -> SignedInContact:
    contact = SignedInContact(
        contact_id="c-1",
        account_id="a-1",
        name="Ann Example",
        account_name="Example Ltd",
        email="ann@example.com",
        data_access="portal_auth",
    )
    for key, value in changes.items():
        setattr(contact, key, value)
    return contact


async def make_request(contact: SignedInContact | None, path="/invoices/?page=2", htmx=False):
    headers = {"HX-Request": "true"} if htmx else {}
    request = AsyncRequestFactory().get(path, headers=headers)
    request.session = SessionStore()
    if contact is not None:
        await request.session.aset(SESSION_KEY, asdict(contact))
    request.htmx = htmx
    return request


@contact_required
async def private_page(request):
    return HttpResponse(f"hello {request.contact.name}")


@contact_required
async def revoked_page(request):
    raise errors.ReauthenticationRequired("refresh refused")


async def test_a_signed_in_contact_gets_the_page_and_it_is_not_cached():
    response = await private_page(await make_request(a_contact()))
    assert response.status_code == 200
    assert response.content == b"hello Ann Example"
    assert response["Cache-Control"] == "no-store"


async def test_anonymous_visitors_are_sent_to_sign_in_with_next():
    response = await private_page(await make_request(None))
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=%2Finvoices%2F%3Fpage%3D2"


async def test_htmx_requests_get_hx_redirect_not_a_sign_in_fragment():
    response = await private_page(await make_request(None, htmx=True))
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith("/login/?next=")
    assert response.content == b""


async def test_an_idle_session_ends(settings):
    stale = a_contact(last_seen=time.time() - settings.SESSION_IDLE_TIMEOUT - 5)
    request = await make_request(stale)
    response = await private_page(request)
    assert response.status_code == 302
    assert await request.session.aget(SESSION_KEY) is None
    assert await request.session.aget(ENDED_KEY) == "idle"


async def test_a_session_ends_after_its_absolute_lifetime_even_when_active(settings):
    old = a_contact(signed_in_at=time.time() - settings.SESSION_COOKIE_AGE - 5)
    request = await make_request(old)
    assert (await private_page(request)).status_code == 302
    assert await request.session.aget(ENDED_KEY) == "expired"


async def test_a_contact_blocked_by_staff_is_signed_out_on_the_next_request():
    request = await make_request(a_contact())
    assert (await private_page(request)).status_code == 200
    await ContactAccess.objects.acreate(contact_id="c-1", blocked=True)
    response = await private_page(request)
    assert response.status_code == 302
    assert await request.session.aget(SESSION_KEY) is None
    assert await request.session.aget(ENDED_KEY) == "revoked"


async def test_tokens_the_crm_will_not_renew_end_the_session():
    request = await make_request(a_contact(), htmx=True)
    response = await revoked_page(request)
    assert response.status_code == 204
    assert "HX-Redirect" in response
    assert await request.session.aget(SESSION_KEY) is None
    assert await request.session.aget(ENDED_KEY) == "revoked"


def test_the_contact_repr_never_shows_tokens():
    contact = a_contact(tokens={"access_token": "secret-access-token-value"})
    assert "secret-access-token-value" not in repr(contact)
