"""The knowledge base: published categories and articles, their tree, and article HTML
made safe to show.

Article bodies are HTML from the CRM's editors. `safe_article_html` cleans them with nh3
(the Rust `ammonia` sanitiser) to a small allow-list: no script, style, iframe, form or
event handler survives, links only to http(s) and mailto (never `javascript:` or
`data:`), links to other articles in the CRM's own form become the portal's article
URLs, and images only from the portal itself (the CSP's `img-src 'self'` stays).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import nh3
from django.urls import NoReverseMatch, reverse
from django.utils.safestring import SafeString, mark_safe

from crm_gateway import KBArticle, KBCategory, NotFound, check_record_id

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl",
        "dt", "em", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p",
        "pre", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot",
        "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "abbr": {"title"},
}
# Removed with everything inside them (not just the tags).
DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "object", "embed", "form", "svg", "math", "template", "noscript"}
)
URL_SCHEMES = frozenset({"http", "https", "mailto"})
_CRM_ARTICLE_LINK = re.compile(r"(?:^|/)index\.php$")


def _article_link(href: str) -> str | None:
    """The portal's URL for a link to another article in the CRM's form
    (`index.php?module=KBArticles&action=DetailView&record=<id>`), else None."""
    parts = urlsplit(href)
    if not _CRM_ARTICLE_LINK.search(parts.path):
        return None
    query = parse_qs(parts.query)
    record = (query.get("record") or [""])[0]
    if (query.get("module") or [""])[0] not in {"KBArticles", "KBArticle"}:
        return None
    try:
        check_record_id(record)
    except NotFound:
        return None
    try:
        return reverse("help-article", args=[record])
    except NoReverseMatch:
        return None


def _attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "a" and attribute == "href":
        portal_url = _article_link(value)
        if portal_url is not None:
            return portal_url
        scheme = urlsplit(value).scheme.lower()
        return value if scheme in URL_SCHEMES or (not scheme and value.startswith("#")) else None
    if tag == "img" and attribute == "src":
        # Images only from the portal itself ("/..."), as the CSP allows.
        return value if value.startswith("/") and not value.startswith("//") else None
    return value


def safe_article_html(html: str | None) -> SafeString:
    cleaned = nh3.clean(
        html or "",
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_attribute,
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    # Safe: nh3's output, within the allow-list above (tested with hostile articles).
    return mark_safe(cleaned)  # noqa: S308  # nosec B308 B703


# --- The tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    """The published categories, by id and by parent; a category whose parent is not
    published (or missing) is not reachable, so it is left out."""

    categories: dict[str, KBCategory]

    @classmethod
    def of(cls, categories: Iterable[KBCategory]) -> Tree:
        by_id = {c.id: c for c in categories}

        def reachable(category: KBCategory) -> bool:
            seen: set[str] = set()
            current: KBCategory | None = category
            while current is not None and current.id not in seen and len(seen) < 20:
                if not current.parent_id:
                    return True
                seen.add(current.id)
                current = by_id.get(current.parent_id)
            return False  # a parent that is not published, or a loop

        return cls({c.id: c for c in by_id.values() if reachable(c)})

    def top(self) -> list[KBCategory]:
        return self._ordered(c for c in self.categories.values() if not c.parent_id)

    def children(self, category_id: str) -> list[KBCategory]:
        return self._ordered(c for c in self.categories.values() if c.parent_id == category_id)

    def path(self, category_id: str) -> list[KBCategory]:
        """From the top category down to this one (its breadcrumbs)."""
        chain: list[KBCategory] = []
        current = self.categories.get(category_id)
        while current is not None and len(chain) < 20:
            chain.append(current)
            current = self.categories.get(current.parent_id or "")
        return list(reversed(chain))

    def top_of(self, category_id: str | None) -> str | None:
        chain = self.path(category_id or "")
        return chain[0].id if chain else None

    @staticmethod
    def _ordered(categories: Iterable[KBCategory]) -> list[KBCategory]:
        return sorted(categories, key=lambda c: (c.display_order or 0, (c.name or "").casefold()))


def visible_articles(tree: Tree, articles: Iterable[KBArticle]) -> list[KBArticle]:
    """Published articles in a published (reachable) category."""
    return [a for a in articles if a.category_id in tree.categories]
