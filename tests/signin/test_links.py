"""Sign-in links: stored only as a hash, single use, valid 15 minutes."""

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.models import SignInLink
from portal.signin import links

pytestmark = pytest.mark.django_db(transaction=True)


async def test_only_the_hash_is_stored():
    token = await links.create_link("contact-1", "ann@example.com")
    stored = await SignInLink.objects.aget()
    assert stored.token_hash == links.hash_token(token)
    assert token not in stored.token_hash
    assert len(token) >= 40


async def test_a_link_works_once():
    token = await links.create_link("contact-1", "ann@example.com")
    first = await links.consume_link(token)
    assert first is not None and first.contact_id == "contact-1"
    assert await links.consume_link(token) is None


async def test_concurrent_clicks_sign_in_once():
    token = await links.create_link("contact-1", "ann@example.com")
    results = await asyncio.gather(*(links.consume_link(token) for _ in range(5)))
    assert sum(result is not None for result in results) == 1


async def test_an_expired_link_does_not_work():
    token = await links.create_link("contact-1", "ann@example.com")
    await SignInLink.objects.aupdate(expires_at=timezone.now() - timedelta(seconds=1))
    assert await links.find_usable_link(token) is None
    assert await links.consume_link(token) is None


@pytest.mark.parametrize("token", ["", "short", "x" * 500, "../../etc/passwd"])
async def test_malformed_tokens_are_refused(token):
    assert await links.consume_link(token) is None
