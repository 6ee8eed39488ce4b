"""The knowledge base against the emulator (issue 14): published content only, checked on
every record; the hostile article's HTML as the portal sends it; search; staff's switch
for visitors who are not signed in; a bounded number of CRM calls a page.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from crm_emulator.demo_support import (
    GERMAN_ARTICLE_SLUG,
    HOSTILE_ARTICLE_SLUG,
    UNPUBLISHED_ARTICLE_SLUG,
)
from portal.models import PortalSettings
from portal.sections.help import safe_article_html
from portal.site_settings import forget_portal_settings
from tests.pages.conftest import counted_calls, staff_get, staff_token

pytestmark = pytest.mark.django_db


def articles(crm) -> dict[str, dict]:
    params = [
        ("limit", "200"),
        *[("fields[]", f) for f in ("slug", "portal_active", "category_id", "description")],
    ]
    reply = staff_get(crm.api_url, staff_token(crm.api_url), "/data/KBArticle", params)
    return {a["slug"]: a for a in reply["records"]}


def test_the_hostile_article_reaches_the_page_without_anything_active(contact_client, crm_pages):
    hostile = articles(crm_pages)[HOSTILE_ARTICLE_SLUG]
    response = contact_client.get(f"/help/articles/{hostile['id']}/")
    assert response.status_code == 200
    body = response.content.decode()
    article = body[body.index('class="help-article__body"') :]
    article = article[: article.index("</article>")]
    for active in ("<script", "onclick", "onerror", "javascript:", "<iframe", "data:image",
                   "<svg", "<form", "<input", "style="):  # fmt: skip
        assert active not in article.lower(), active
    assert "Safe text stays." in article and "Wipe the housing" in article
    assert "alert(" not in article


def test_links_to_other_articles_become_portal_links():
    html = safe_article_html(
        '<a href="index.php?module=KBArticles&amp;action=DetailView&amp;record=abc-123">x</a>'
        '<a href="https://example.com/a" onclick="x()">y</a><a href="JaVaScRiPt:alert(1)">z</a>'
        '<img src="/static/portal/favicon.svg" alt="ok"><img src="https://evil.example/x.png">'
    )
    assert 'href="/help/articles/abc-123/"' in html
    assert 'href="https://example.com/a"' in html and "onclick" not in html
    assert "javascript" not in html.lower()
    assert 'src="/static/portal/favicon.svg"' in html and "evil.example" not in html


def test_only_published_articles_and_categories(contact_client, crm_pages):
    found = articles(crm_pages)
    hidden = found[UNPUBLISHED_ARTICLE_SLUG]
    assert contact_client.get(f"/help/articles/{hidden['id']}/").status_code == 404
    # Published, but in a category staff did not publish: also a 404.
    pricing = found["pricing-rules"]
    assert pricing["portal_active"] in (True, 1, "1")
    assert contact_client.get(f"/help/articles/{pricing['id']}/").status_code == 404
    index = contact_client.get("/help/")
    assert index.status_code == 200 and b"Staff only" not in index.content
    assert b"Getting started" in index.content


def test_search_and_non_ascii(contact_client, crm_pages):
    response = contact_client.get("/help/", {"q": "Große Grüße"})
    assert response.status_code == 200
    german = articles(crm_pages)[GERMAN_ARTICLE_SLUG]
    assert f"/help/articles/{german['id']}/".encode() in response.content
    page = contact_client.get(f"/help/articles/{german['id']}/")
    assert "Schöne Grüße" in page.content.decode()
    htmx = contact_client.get("/help/", {"q": "batteries"}, headers={"HX-Request": "true"})
    assert b"<html" not in htmx.content and b"/help/articles/" in htmx.content
    unpublished = articles(crm_pages)[UNPUBLISHED_ARTICLE_SLUG]
    assert unpublished["id"].encode() not in contact_client.get("/help/", {"q": "price"}).content


def test_every_page_makes_a_bounded_number_of_calls(contact_client, crm_pages):
    article = articles(crm_pages)["charging-drill-batteries"]
    contact_client.get("/help/")  # warm the locale
    with counted_calls() as index:
        contact_client.get("/help/")
    with counted_calls() as one:
        contact_client.get(f"/help/articles/{article['id']}/")
    with counted_calls() as category:
        contact_client.get(f"/help/{article['category_id']}/")
    assert [c.path for c in index.calls] == ["/data/KBCategory", "/data/KBArticle"]
    assert len(one.calls) == 4 and len(category.calls) == 2


def test_the_knowledge_base_is_for_signed_in_contacts_unless_staff_open_it(
    crm_pages, client: Client
):
    assert client.get("/help/")["Location"].startswith("/login/")
    PortalSettings.objects.filter(pk=1).update(help_public=True)
    forget_portal_settings()
    assert client.get("/help/").status_code == 200
    PortalSettings.objects.filter(pk=1).update(section_help=False)
    forget_portal_settings()
    assert client.get("/help/").status_code == 404


def test_the_new_case_form_suggests_articles(contact_client, crm_pages):
    response = contact_client.get("/help/suggest", {"subject": "batteries"})
    assert response.status_code == 200
    assert re.search(rb'href="/help/articles/[0-9a-f-]+/"', response.content)
    form = contact_client.get("/cases/new/")
    assert b'hx-get="/help/suggest"' in form.content and b'href="/help/"' in form.content
