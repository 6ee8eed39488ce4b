"""Which language a page is in: the contact's own choice (kept by CRM contact id, across
sign-out, sign-in and devices), else the browser's Accept-Language among the languages
staff offer, else the staff default; and the CRM is asked in that language."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from portal.models import ContactLanguage, PortalSettings
from portal.signin.session import SESSION_KEY
from tests.pages.conftest import Demo, crm_requests, sign_in
from tests.shell.html import parse

pytestmark = pytest.mark.django_db


def lang_of(response) -> str:
    return parse(response.content).find("html").attrs["lang"]


def staff_set(**values) -> None:
    row = PortalSettings.objects.get(pk=PortalSettings.SINGLETON_ID)
    for name, value in values.items():
        setattr(row, name, value)
    row.full_clean()
    row.save()


def choose(client: Client, language: str, next_url: str = "/"):
    return client.post("/language/", {"language": language, "next": next_url})


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-AT,de;q=0.9,en;q=0.5", "de"),
        ("es-ES, fr;q=0.7, de;q=0.3", "fr"),  # Spanish is not offered: the next preference
        ("en-GB", "en"),
        ("es, it;q=0.5", "en"),  # nothing offered: the staff default
        ("", "en"),
    ],
)
def test_sign_in_pages_follow_the_browser_among_the_offered_languages(db, header, expected):
    response = Client().get("/login/", headers={"Accept-Language": header})
    assert lang_of(response) == expected
    assert response["Content-Language"] == expected
    assert "Accept-Language" in response["Vary"]


def test_the_staff_default_applies_when_the_browser_names_nothing_offered(db):
    staff_set(default_language="fr")
    assert lang_of(Client().get("/login/", headers={"Accept-Language": "es"})) == "fr"
    assert lang_of(Client().get("/login/", headers={"Accept-Language": ""})) == "fr"


def test_only_the_languages_staff_offer_are_used_or_shown(db):
    staff_set(languages=["en", "de"])
    client = Client()
    response = client.get("/login/", headers={"Accept-Language": "fr"})
    assert lang_of(response) == "en"
    options = [o.attrs["value"] for o in parse(response.content).find_all("option")]
    assert options == ["en", "de"]
    # A language staff do not offer cannot be chosen either.
    choose(client, "fr", "/login/")
    assert settings.LANGUAGE_COOKIE_NAME not in client.cookies
    assert lang_of(client.get("/login/", headers={"Accept-Language": "fr"})) == "en"


def test_with_one_language_offered_there_is_no_menu(db):
    staff_set(languages=["de"], default_language="de")
    response = Client().get("/login/", headers={"Accept-Language": "fr"})
    assert lang_of(response) == "de"
    assert not parse(response.content).find_all("form", action="/language/")


def test_staff_cannot_offer_languages_without_the_default_or_without_a_catalogue(db):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="default language"):
        staff_set(languages=["de", "fr"], default_language="en")
    with pytest.raises(ValidationError, match="no translation"):
        staff_set(languages=["en", "es"])


def test_the_menu_is_a_csrf_protected_form_that_works_without_javascript(db):
    body = Client().get("/login/").content.decode()
    menu = body[
        body.index('action="/language/"') : body.index("</form>", body.index('action="/language/"'))
    ]
    page = parse(body)
    assert page.find("form", action="/language/").attrs["method"] == "post"
    assert 'name="csrfmiddlewaretoken"' in menu
    assert page.find("label", **{"for": "header-language-select"}) is not None
    select = page.find("select", id="header-language-select")
    assert select.attrs["name"] == "language"
    assert [o.attrs["lang"] for o in page.find_all("option")] == ["en", "de", "fr"]
    assert '<button type="submit"' in menu
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/language/", {"language": "de", "next": "/"}).status_code == 403


def test_an_anonymous_choice_is_kept_on_this_browser_and_returns_to_the_page(db):
    client = Client()
    response = choose(client, "fr", "/login/?next=/invoices/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/invoices/"
    assert lang_of(client.get("/login/", headers={"Accept-Language": "de"})) == "fr"
    # Never off the site.
    assert choose(client, "de", "https://evil.example/")["Location"] == "/"


def test_the_chosen_language_sticks_across_sign_out_sign_in_and_devices(crm_pages, demo: Demo, db):
    laptop = Client()
    sign_in(laptop, crm_pages.api_url, demo.main)
    assert lang_of(laptop.get("/", headers={"Accept-Language": "en"})) == "en"
    choose(laptop, "de", "/invoices/")
    stored = ContactLanguage.objects.get(contact_id=demo.main.contact_id)
    assert stored.language == "de"
    assert lang_of(laptop.get("/invoices/", headers={"Accept-Language": "en"})) == "de"
    laptop.post("/logout/")
    assert SESSION_KEY not in laptop.session
    # Signed out, this browser keeps the choice (the sign-in page is in German).
    assert lang_of(laptop.get("/login/", headers={"Accept-Language": "en"})) == "de"
    # Another device, a French browser: the sign-in page follows the browser ...
    phone = Client()
    assert lang_of(phone.get("/login/", headers={"Accept-Language": "fr"})) == "fr"
    # ... and once the contact signs in, their own choice.
    sign_in(phone, crm_pages.api_url, demo.main)
    assert lang_of(phone.get("/", headers={"Accept-Language": "fr"})) == "de"
    # A new choice on the phone is what the laptop's next session shows.
    choose(phone, "fr", "/")
    sign_in(laptop, crm_pages.api_url, demo.main)
    assert lang_of(laptop.get("/", headers={"Accept-Language": "en"})) == "fr"


def test_a_stored_choice_staff_no_longer_offer_falls_back_to_the_browser(crm_pages, demo: Demo, db):
    ContactLanguage.objects.create(contact_id=demo.main.contact_id, language="fr")
    staff_set(languages=["en", "de"])
    client = Client()
    sign_in(client, crm_pages.api_url, demo.main)
    assert lang_of(client.get("/", headers={"Accept-Language": "de"})) == "de"


def test_the_crm_is_asked_in_the_chosen_language(crm_pages, demo: Demo, db):
    client = Client()
    sign_in(client, crm_pages.api_url, demo.main)
    choose(client, "de", "/")
    crm_pages.control("DELETE", "requests")
    response = client.get(f"/invoices/{demo.own['Invoice']}/", headers={"Accept-Language": "fr"})
    assert lang_of(response) == "de"
    asked = {r["path"]: r for r in crm_requests(crm_pages)}
    invoice = next(
        r for p, r in asked.items() if p.endswith(f"/data/Invoice/{demo.own['Invoice']}")
    )
    assert invoice["accept_language"] == "de", invoice
    locale = [r for p, r in asked.items() if p == "/meta/locale"]
    assert all(r["accept_language"] == "de" for r in locale)
    # The CRM's German locale formats the money: "1.234,50 €", never the French browser's.
    assert "\u00a0€" in response.content.decode()


def test_the_profile_page_offers_the_same_menu(crm_pages, demo: Demo, db):
    client = Client()
    sign_in(client, crm_pages.api_url, demo.main)
    page = parse(client.get("/profile/", headers={"Accept-Language": "de"}).content)
    assert page.find("select", id="header-language-select") is not None
    profile_menu = page.find("select", id="profile-language-select")
    assert profile_menu is not None and profile_menu.attrs["name"] == "language"
    assert page.find("label", **{"for": "profile-language-select"}) is not None
    assert len(page.find_all("form", action="/language/")) == 2


@pytest.mark.django_db(transaction=True)  # the link is made on the mail thread's connection
def test_the_choice_survives_a_real_sign_out_and_an_e_mailed_link_sign_in(crm_pages, demo: Demo):
    """Not only a session put in place by the test: the contact signs out, then in again
    with the e-mailed link on a new, English browser, and the portal is in their language
    from the link's own page on (the link page knows nobody yet: the browser decides it)."""
    import re

    from django.core import mail

    from portal.signin_links import finish_queued_links

    laptop = Client()
    sign_in(laptop, crm_pages.api_url, demo.main)
    choose(laptop, "fr", "/")
    laptop.post("/logout/")
    assert SESSION_KEY not in laptop.session

    browser = Client()
    english = {"Accept-Language": "en"}
    mail.outbox.clear()
    browser.post("/login/email/", {"email": demo.main.email}, headers=english)
    finish_queued_links()
    [message] = mail.outbox
    assert message.subject.startswith("Votre lien de connexion")  # the contact's language
    link = re.search(r"http://testserver(/login/email/[^/\s]+/)", message.body).group(1)
    assert lang_of(browser.get(link, headers=english)) == "en"  # nobody known yet
    signed_in = browser.post(link, headers=english, follow=True)
    assert signed_in.status_code == 200
    assert browser.session[SESSION_KEY]["contact_id"] == demo.main.contact_id
    assert lang_of(signed_in) == "fr"
    assert lang_of(browser.get("/invoices/", headers=english)) == "fr"
