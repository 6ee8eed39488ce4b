"""Every customer page, partial, error page and e-mail in German and French shows no
customer-facing English: checked against the catalogues (tests/i18n/untranslated.py),
not against a list of words kept here."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from portal.models import PortalSettings
from portal.signin_links import finish_queued_links, finish_queued_mail
from tests.i18n.untranslated import untranslated
from tests.pages.conftest import Demo, new_awaiting_quote, sign_in
from tests.shell.html import parse

pytestmark = pytest.mark.django_db

LANGUAGES = ["de", "fr"]
HTMX = {"HX-Request": "true"}


def page_in(client: Client, url: str, language: str, *, status: int = 200, **headers) -> str:
    response = client.get(url, headers={"Accept-Language": language, **headers})
    assert response.status_code == status, (url, response.status_code)
    body = response.content.decode()
    return body


def assert_translated(body: str, language: str, what: str, *, full_page: bool = True) -> None:
    if full_page:
        assert parse(body).find("html").attrs["lang"] == language, what
    leaks = untranslated(body, language)
    assert not leaks, f"{what} in {language} shows English: {leaks}"


def customer_urls(demo: Demo, awaiting_quote_id: str) -> list[str]:
    own = demo.own
    return [
        "/",
        "/invoices/",
        "/invoices/?status=overdue",
        "/invoices/?q=no-such-words-anywhere",
        f"/invoices/{own['Invoice']}/",
        "/quotes/",
        "/quotes/?q=no-such-words-anywhere",
        f"/quotes/{own['Quote']}/",
        f"/quotes/{awaiting_quote_id}/",
        "/documents/",
        "/documents/?q=no-such-words-anywhere",
        f"/documents/{own['Document']}/",
        "/profile/",
    ]


@pytest.fixture
def decidable(db):
    PortalSettings.objects.filter(pk=PortalSettings.SINGLETON_ID).update(quotes_can_decide=True)
    from portal.site_settings import forget_portal_settings

    forget_portal_settings()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_customer_page_and_partial_is_translated(
    contact_client: Client, crm_pages, demo: Demo, decidable, language: str
):
    quote = new_awaiting_quote(crm_pages, demo.main.account_id, demo.main.contact_id)
    for url in customer_urls(demo, quote["id"]):
        assert_translated(page_in(contact_client, url, language), language, url)
    for url in ("/invoices/?page=2", "/quotes/", "/documents/"):
        body = page_in(contact_client, url, language, **HTMX)
        assert_translated(body, language, f"{url} (htmx)", full_page=False)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_declined_quote_and_its_messages_are_translated(
    contact_client: Client, crm_pages, demo: Demo, decidable, language: str
):
    quote = new_awaiting_quote(crm_pages, demo.main.account_id, demo.main.contact_id)
    headers = {"Accept-Language": language}
    url = f"/quotes/{quote['id']}/decline"
    refused = contact_client.post(url, {"reason": ""}, headers=headers, follow=True)
    assert_translated(refused.content.decode(), language, "a decline without a reason")
    done = contact_client.post(url, {"reason": "Too dear"}, headers=headers, follow=True)
    assert_translated(done.content.decode(), language, "a declined quote")


@pytest.mark.parametrize("language", LANGUAGES)
def test_sign_in_pages_and_their_messages_are_translated(crm, db, language: str):
    client = Client()
    assert_translated(page_in(client, "/login/", language), language, "/login/")
    headers = {"Accept-Language": language}
    wrong = client.post("/login/email/", {"email": "not an address"}, headers=headers)
    assert_translated(wrong.content.decode(), language, "a wrong address")
    sent = client.post("/login/email/", {"email": "nobody@example.org"}, headers=headers)
    assert_translated(sent.content.decode(), language, "the link-sent answer")
    invalid = page_in(client, "/login/email/no-such-token/", language, status=400)
    assert_translated(invalid, language, "an invalid link")
    ended = client.post("/logout/", headers=headers, follow=True)
    assert_translated(ended.content.decode(), language, "signed out")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_sign_in_e_mail_and_its_link_page_are_translated(
    crm, demo: Demo, transactional_db, language
):
    # Transactional: the link is made on the mail thread's own database connection, whose
    # rows would otherwise outlive this test and show up in other tests' counts.
    client = Client()
    client.post("/login/email/", {"email": demo.main.email}, headers={"Accept-Language": language})
    finish_queued_links()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert not untranslated(message.subject, language, text=True), message.subject
    assert not untranslated(message.body, language, text=True), message.body
    assert demo.main.name.split()[0] in message.body
    link = re.search(r"http://testserver(/login/email/[^/\s]+/)", message.body).group(1)
    assert_translated(page_in(client, link, language), language, "the link's confirm page")


@pytest.mark.parametrize("language", LANGUAGES)
def test_error_pages_are_translated(contact_client: Client, crm_pages, demo: Demo, language):
    body = page_in(contact_client, "/no-such-page/", language, status=404)
    assert_translated(body, language, "404")
    body = page_in(contact_client, "/invoices/no-such-invoice/", language, status=404)
    assert_translated(body, language, "a record that is not there")
    body = page_in(contact_client, "/no-such-page/", language, status=404, **HTMX)
    assert_translated(body, language, "404 (htmx)", full_page=False)
    strict = Client(enforce_csrf_checks=True)
    sign_in(strict, crm_pages.api_url, demo.main)
    refused = strict.post("/logout/", headers={"Accept-Language": language})
    assert refused.status_code == 403
    assert_translated(refused.content.decode(), language, "403 (CSRF)")
    crm_pages.control(
        "POST", "faults", json={"path": "^/data/Invoice$", "kind": "status", "status": 503}
    )
    body = page_in(contact_client, "/invoices/", language, status=503)
    assert_translated(body, language, "CRM unavailable")


@pytest.mark.urls("tests.shell.urls")
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_400_and_500_pages_are_translated(db, language):
    from django.template.loader import render_to_string
    from django.test import RequestFactory
    from django.utils import translation

    client = Client(raise_request_exception=False)
    body = page_in(client, "/__test__/crash/", language, status=500)
    assert_translated(body, language, "500")
    body = page_in(client, "/__test__/crash/", language, status=500, **HTMX)
    assert_translated(body, language, "500 (htmx)", full_page=False)
    with translation.override(language):
        body = render_to_string("400.html", {}, RequestFactory().get("/"))
    assert_translated(body, language, "400")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_emulators_sign_in_page_follows_the_browser(crm, language):
    import httpx2 as httpx

    params = {
        "response_type": "code",
        "client_id": "demo-portal",
        "redirect_uri": "http://127.0.0.1:8000/login/oauth/callback/",
    }
    reply = httpx.get(
        f"{crm.api_url}/auth/contact/authorize",
        params=params,
        headers={"Accept-Language": language},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    assert_translated(reply.text, language, "the CRM's sign-in page")


def test_the_sign_in_e_mail_is_in_the_contacts_own_language(crm, demo: Demo, transactional_db):
    """A contact who chose French gets French mail, even from a German browser (or from
    a staff member's invite in the admin). Committed: the mail goes out from a worker
    thread, with its own database connection."""
    from portal.models import ContactLanguage

    ContactLanguage.objects.create(contact_id=demo.main.contact_id, language="fr")
    Client().post("/login/email/", {"email": demo.main.email}, headers={"Accept-Language": "de"})
    finish_queued_links()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.startswith("Votre lien de connexion")
    assert not untranslated(mail.outbox[0].body, "fr", text=True)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_profile_pages_and_mails_are_translated(crm_pages, demo: Demo, client, language):
    """The profile with its form messages, the e-mail change (both mails and the link's
    pages), an invalid link and the erasure steps, for a contact of the test's own (the
    change and the erasure request write to the CRM)."""
    from tests.pages.test_profile import new_person

    person = new_person(crm_pages, demo.main.account_id, demo.main.account_name)
    sign_in(client, crm_pages.api_url, person)
    headers = {"Accept-Language": language}

    def translated(response, what: str, status: int = 200) -> None:
        assert response.status_code == status, (what, response.status_code)
        assert_translated(response.content.decode(), language, what)

    unchanged = client.post("/profile/", {}, headers=headers, follow=True)
    translated(unchanged, "the profile, nothing changed")
    wrong = client.post(
        "/profile/", {"last_name": "", "phone_work": "call me", "title": "x" * 101}, headers=headers
    )
    translated(wrong, "the profile with errors", 400)
    bad_address = client.post("/profile/email/", {"email": "not an address"}, headers=headers)
    translated(bad_address, "a bad new address", 400)
    taken = client.post("/profile/email/", {"email": demo.other.email}, headers=headers)
    translated(taken, "another contact's address", 400)

    mail.outbox.clear()
    new_email = f"neu.{person.contact_id[:8]}@example.com"
    sent = client.post("/profile/email/", {"email": new_email}, headers=headers, follow=True)
    translated(sent, "the link-sent message")
    finish_queued_mail()  # the mail queue has no database work to do: no transaction needed
    [confirmation] = mail.outbox
    for text in (confirmation.subject, confirmation.body):
        assert not untranslated(text, language, text=True), text
    link = re.search(r"http://testserver(/profile/email/[^/\s]+/)", confirmation.body).group(1)
    translated(client.get(link, headers=headers), "the e-mail link's confirm page")
    mail.outbox.clear()
    changed = client.post(link, headers=headers, follow=True)
    translated(changed, "the address changed")
    finish_queued_mail()
    [notice] = mail.outbox
    assert notice.to == [person.email]
    for text in (notice.subject, notice.body):
        assert not untranslated(text, language, text=True), text
    translated(client.post(link, headers=headers), "a used e-mail link", 400)

    translated(client.post("/profile/erasure", headers=headers), "the erasure's confirmation")
    done = client.post("/profile/erasure", {"confirm": "yes"}, headers=headers)
    translated(done, "the erasure request received")


# An article's text is the CRM's content, in whatever language staff wrote it.
ARTICLE_BODY = '<div class="help-article__body">'


def without_element(body: str, opening: str) -> str:
    """The page without the element `opening` starts (and whatever it holds)."""
    start = body.find(opening)
    if start < 0:
        return body
    depth = 0
    for tag in re.finditer(r"<(/?)div\b[^>]*>", body[start:]):
        depth += -1 if tag.group(1) else 1
        if depth == 0:
            return body[:start] + body[start + tag.end() :]
    return body[:start]


@pytest.mark.parametrize("language", LANGUAGES)
def test_support_cases_and_the_knowledge_base_are_translated(
    contact_client: Client, crm_pages, demo: Demo, language: str
):
    cases = page_in(contact_client, "/cases/?status=all", language)
    case = re.search(r'href="(/cases/[0-9a-f-]+/)"', cases)
    assert case, "the demo's main contact has cases"
    knowledge = page_in(contact_client, "/help/", language)
    category = re.search(r'href="(/help/(?!articles/)[0-9a-f-]+/)"', knowledge)
    assert category, "the demo's knowledge base has categories"
    in_category = page_in(contact_client, category.group(1), language)
    article = re.search(r'href="(/help/articles/[^/"]+/)"', in_category)
    assert article, "the demo's knowledge base has categories and articles"
    for url in (
        "/cases/",
        "/cases/?status=all",
        "/cases/?status=closed&q=no-such-words-anywhere",
        case.group(1),
        "/cases/new/",
        "/help/",
        "/help/?q=no-such-words-anywhere",
        category.group(1),
        article.group(1),
    ):
        body = without_element(page_in(contact_client, url, language), ARTICLE_BODY)
        assert_translated(body, language, url)
    body = page_in(contact_client, "/cases/", language, **HTMX)
    assert_translated(body, language, "/cases/ (htmx)", full_page=False)
    refused = contact_client.post(
        "/cases/new/", {"subject": "", "description": ""}, headers={"Accept-Language": language}
    )
    assert refused.status_code == 400
    assert_translated(refused.content.decode(), language, "a case form with errors")
