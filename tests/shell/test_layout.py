"""base.html: one accessible layout, strict CSP (no inline script or style at all)."""

import re
from pathlib import Path

import pytest
from django.test import Client

from portal.models import PortalSettings
from tests.shell.html import parse

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.shell.urls")]

ROOT = Path(__file__).resolve().parents[2]


def csp_nonce(response) -> str:
    match = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert match, response["Content-Security-Policy"]
    return match.group(1)


def assert_no_inline_code(response):
    page = parse(response.content)
    nonce = csp_nonce(response)
    scripts = page.find_all("script")
    assert scripts, "the layout loads htmx and portal.js"
    for script in scripts:
        assert script.attrs.get("src"), "inline <script> found"
        assert script.text.strip() == ""
        assert script.attrs.get("nonce") == nonce
    assert page.find_all("style") == [], "inline <style> found"
    for element in page.elements:
        for name in element.attrs:
            assert name != "style", f"style= attribute on <{element.tag}>"
            assert not name.startswith("on"), f"{name}= handler on <{element.tag}>"
            assert not name.startswith(("hx-on", "data-hx-on")), f"{name} on <{element.tag}>"
    return page


def test_layout_has_landmarks_skip_link_and_no_inline_code(client: Client):
    response = client.get("/__test__/page/")
    assert response.status_code == 200
    page = assert_no_inline_code(response)
    assert "script-src 'self' 'nonce-" in response["Content-Security-Policy"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]

    first_link = page.find("a")
    assert first_link.attrs["href"] == "#main" and "Skip" in first_link.text
    assert page.find("main", id="main") is not None
    assert page.find("header") is not None and page.find("footer") is not None
    nav = page.find("nav")
    assert nav is not None and nav.attrs.get("aria-label")
    assert page.find("html").attrs.get("lang") == "en"
    assert page.find("meta", name="viewport") is not None
    assert page.find("title").text.strip() == "Dashboard · Customer portal"


def test_header_shows_the_contact_and_a_sign_out_post_form(client: Client):
    page = parse(client.get("/__test__/page/").content)
    header_text = page.find("header").text
    assert "Ada Lovelace" in header_text and "Analytical Engines Ltd" in header_text
    form = page.find("form", action="/logout/")
    assert form is not None and form.attrs["method"] == "post"
    assert page.find("input", name="csrfmiddlewaretoken") is not None
    assert page.find("button", type="submit") is not None


def test_anonymous_page_has_no_nav_and_no_sign_out(client: Client):
    page = parse(client.get("/__test__/anonymous/").content)
    assert page.find("form", action="/logout/") is None
    assert page.find("nav") is None
    assert page.find("main", id="main") is not None


def test_nav_follows_the_enabled_sections_and_marks_the_current_page(client: Client):
    row = PortalSettings.objects.get(pk=1)
    row.section_quotes = False
    row.save()
    page = parse(client.get("/invoices/").content)
    links = {
        a.attrs["href"]: a for a in page.find_all("a") if a.attrs.get("class") == "site-nav__link"
    }
    # The profile is every contact's, whatever the sections (issue 16); the statement sits
    # beside the invoices it is made of (issue 15).
    assert set(links) == {
        "/", "/invoices/", "/statement/", "/documents/", "/cases/", "/help/", "/profile/"
    }  # fmt: skip
    assert links["/invoices/"].attrs.get("aria-current") == "page"
    assert "aria-current" not in links["/"].attrs
    assert "aria-current" not in links["/profile/"].attrs


def test_footer_shows_support_contacts_from_settings(client: Client):
    row = PortalSettings.objects.get(pk=1)
    row.support_email = "help@example.com"
    row.support_phone = "+49 30 1234"
    row.portal_name = "Acme portal"
    row.save()
    page = parse(client.get("/__test__/page/").content)
    footer = page.find("footer").text
    assert "help@example.com" in footer and "+49 30 1234" in footer
    assert page.find("a", href="mailto:help@example.com") is not None
    assert page.find("a", href="tel:+49301234") is not None
    assert "Acme portal" in page.find("header").text


def test_async_view_renders_the_layout_without_touching_the_database(client: Client):
    from django.core.cache import cache

    cache.clear()  # cold cache: the middleware reads the settings asynchronously
    response = client.get("/__test__/async-page/")
    assert response.status_code == 200
    assert_no_inline_code(response)


def test_htmx_is_vendored_pinned_with_its_licence_and_configured_safely(client: Client):
    page = parse(client.get("/__test__/page/").content)
    sources = [s.attrs["src"] for s in page.find_all("script")]
    htmx_src = next(src for src in sources if "/vendor/htmx/" in src)
    version = re.search(r"/vendor/htmx/([\d.]+)/htmx\.min\.js$", htmx_src).group(1)
    folder = ROOT / "static" / "vendor" / "htmx" / version
    assert (folder / "htmx.min.js").read_bytes().startswith(b"var htmx=")
    assert "Zero-Clause BSD" in (folder / "LICENSE").read_text()
    import json

    config = json.loads(page.find("meta", name="htmx-config").attrs["content"])
    assert config["allowEval"] is False
    assert config["includeIndicatorStyles"] is False
    assert config["selfRequestsOnly"] is True
    assert page.find("div", id="portal-loading") is not None


def test_static_assets_exist_with_focus_print_and_indicator_styles():
    css = (ROOT / "static" / "portal" / "portal.css").read_text()
    assert ":focus-visible" in css and ".htmx-request" in css and "@media (max-width" in css
    assert (ROOT / "static" / "portal" / "print.css").read_text().strip()
    js = (ROOT / "static" / "portal" / "portal.js").read_text()
    assert "eval(" not in js and "innerHTML" not in js


def test_default_language_from_settings_applies_when_the_browser_states_none(client: Client):
    row = PortalSettings.objects.get(pk=1)
    row.default_language = "de"
    row.save()
    page = parse(client.get("/__test__/anonymous/", headers={"Accept-Language": ""}).content)
    assert page.find("html").attrs["lang"] == "de"
    # The browser's own preference wins.
    page = parse(client.get("/__test__/anonymous/", headers={"Accept-Language": "fr"}).content)
    assert page.find("html").attrs["lang"] == "fr"
