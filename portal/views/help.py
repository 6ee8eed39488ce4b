"""The knowledge base's pages (issue 14): `/help/`, a category, an article, an article's
attachment, and the suggestions the new-case form shows while a subject is typed.

Staff switch it on or off and choose whether visitors who are not signed in may read it
(`help_public`); everything comes through `crm_gateway.knowledge.KnowledgeBase`, which
returns published records only. An article or a category that is not published, or sits
in a category that is not, is the 404 page.

CRM calls: `/help/` two (categories, then the articles to count, or the search); a
category two; an article four (the article, then categories, related articles and
attachments concurrently); an attachment three (article, note, bytes); suggestions one.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from crm_gateway import PAGE_LIMIT, KnowledgeBase, NotFound, Page
from portal.downloads import download_response
from portal.rendering import render_page
from portal.sections.help import Tree, safe_article_html, visible_articles
from portal.signin.session import contact_required
from portal.site_settings import aget_portal_settings

SEARCH_MAX = 200
SUGGESTIONS = 5


def knowledge_base() -> KnowledgeBase:
    return KnowledgeBase(accept_language=translation.get_language() or None)


def help_page(view: Any) -> Any:
    """On when staff switch it on; signed-in contacts only unless staff open it."""
    signed_in = contact_required(view)

    @wraps(view)
    async def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        site = await aget_portal_settings()
        if not site.section_help:
            raise NotFound("the knowledge base is off")
        if site.help_public:
            return await view(request, *args, **kwargs)
        return await signed_in(request, *args, **kwargs)

    return require_GET(guarded)


def _query(request: HttpRequest) -> str:
    text = " ".join(request.GET.get("q", "").split())
    return text[:SEARCH_MAX]


@help_page
async def help_index(request: HttpRequest) -> HttpResponse:
    kb = knowledge_base()
    q = _query(request)
    tree = Tree.of(await kb.categories())
    if q:
        found = await kb.articles(text=q, limit=50)
        results = visible_articles(tree, found.records)
        context = {"page_title": _("Knowledge base"), "q": q, "results": results, "tree": tree}
        return render_page(request, "portal/help/index.html", context, partial="results")
    everything = await kb.articles(limit=PAGE_LIMIT)
    counts = Counter(tree.top_of(a.category_id) for a in visible_articles(tree, everything.records))
    tops = [(category, counts.get(category.id, 0)) for category in tree.top()]
    context = {"page_title": _("Knowledge base"), "q": "", "tops": tops, "tree": tree}
    return render_page(request, "portal/help/index.html", context)


@help_page
async def help_category(request: HttpRequest, category_id: str) -> HttpResponse:
    kb = knowledge_base()
    categories, articles = await asyncio.gather(
        kb.categories(), kb.articles(category_id=category_id, limit=PAGE_LIMIT)
    )
    tree = Tree.of(categories)
    category = tree.categories.get(category_id)
    if category is None:
        raise NotFound("not a published category")
    context = {
        "page_title": category.name or _("Category"),
        "category": category,
        "breadcrumbs": tree.path(category.id)[:-1],
        "children": tree.children(category.id),
        "articles": visible_articles(tree, articles.records),
    }
    return render_page(request, "portal/help/category.html", context)


@help_page
async def help_article(request: HttpRequest, article_id: str) -> HttpResponse:
    kb = knowledge_base()
    article = await kb.article(article_id)
    categories, related, attachments = await asyncio.gather(
        kb.categories(),
        kb.articles(category_id=article.category_id, limit=6)
        if article.category_id
        else _no_articles(),
        kb.attachments(article),
    )
    tree = Tree.of(categories)
    if article.category_id not in tree.categories:
        raise NotFound("an article in a category that is not published")
    context = {
        "page_title": article.name or _("Article"),
        "article": article,
        "body": safe_article_html(article.description),
        "breadcrumbs": tree.path(article.category_id or ""),
        "related": [a for a in related.records if a.id != article.id][:5],
        "attachments": attachments,
    }
    return render_page(request, "portal/help/article.html", context)


async def _no_articles() -> Any:
    return Page([], 0, 0, 1)


@help_page
async def help_attachment(request: HttpRequest, article_id: str, note_id: str) -> HttpResponseBase:
    kb = knowledge_base()
    article = await kb.article(article_id)
    note = await kb.attachment(article, note_id)
    return await download_response(
        request, kb.download(article, note), filename=note.filename or "attachment"
    )


@help_page
async def help_suggest(request: HttpRequest) -> HttpResponse:
    """Articles matching a case's subject, as the new-case form's htmx fragment (and, as
    a full page, a plain link target without JavaScript)."""
    text = " ".join(request.GET.get("subject", "").split())[:SEARCH_MAX]
    results = []
    if len(text) >= 3:
        found = await knowledge_base().articles(text=text, limit=SUGGESTIONS)
        results = found.records
    return render(request, "portal/help/suggestions.html", {"results": results, "q": text})
