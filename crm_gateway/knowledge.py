"""The knowledge base as the portal shows it: published categories and articles only.

Knowledge-base content is the same for every visitor (signed in or, when staff open it,
not), so it is read with the staff credential, never on a contact's behalf. Every list
asks for `portal_active` records only, and every record the CRM returns is checked for
it again (`is_published`): anything else is dropped from lists and is `NotFound` on its
own. An article's attachments are its notes with `portal_flag`, checked to hang off it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from crm_gateway import errors
from crm_gateway.allowlist import DEFAULT_ALLOWLIST, Allowlist
from crm_gateway.credentials import staff_credential
from crm_gateway.models import KBArticle, KBCategory, Note, Page
from crm_gateway.query import PAGE_LIMIT, Filter, ListQuery
from crm_gateway.rest import api_path, call_json, open_stream
from crm_gateway.scope import check_record_id, is_published
from crm_gateway.streaming import CrmStream

logger = logging.getLogger("crm_gateway")

ARTICLE_NOTE_PARENT_TYPES = frozenset({"KBArticles", "KBArticle"})


def _records(reply: dict[str, Any], path: str) -> tuple[list[dict[str, Any]], int]:
    records = reply.get("records")
    if not isinstance(records, list) or not all(isinstance(item, dict) for item in records):
        raise errors.BadReply("a list reply without records", method="GET", path=path)
    total = reply.get("total_results", len(records))
    return records, int(total) if str(total).isdigit() else len(records)


class KnowledgeBase:
    """Published knowledge-base records, in the visitor's language."""

    def __init__(
        self, *, accept_language: str | None = None, allowlist: Allowlist = DEFAULT_ALLOWLIST
    ) -> None:
        self.accept_language = accept_language
        self.allowlist = allowlist

    def _fields(self, model: str) -> list[tuple[str, str]]:
        return [("fields[]", name) for name in sorted(self.allowlist.rule(model).fields)]

    async def _list(self, model: str, path: str, query: ListQuery) -> tuple[list[dict], int]:
        for item in query.filters:
            for name in item.names:
                if name == "portal_active":
                    raise errors.NotAllowed("portal_active is set by the portal")
                self.allowlist.check_filter(model, name)
        scoped = query.with_filters([Filter("portal_active", "1")])
        params = [*self._fields(model), *[p for p in scoped.params() if p[0] != "fields[]"]]
        reply = await call_json(
            "GET",
            path,
            credential=staff_credential(),
            params=params,
            accept_language=self.accept_language,
        )
        raw, total = _records(reply, path)
        kept = [data for data in raw if is_published(data)]
        if len(kept) != len(raw):
            logger.warning(
                "crm returned %d unpublished %s records; dropped", len(raw) - len(kept), model
            )
        return kept, max(0, total - (len(raw) - len(kept)))

    async def _get(self, model: str, record_id: str) -> dict[str, Any]:
        record_id = check_record_id(record_id)
        path = api_path("data", model, record_id)
        reply = await call_json(
            "GET",
            path,
            credential=staff_credential(),
            params=self._fields(model),
            accept_language=self.accept_language,
        )
        data = reply.get("record")
        if not isinstance(data, dict) or data.get("id") != record_id or not is_published(data):
            raise errors.NotFound("no such published record", method="GET", path=path)
        return data

    # --- categories
    async def categories(self) -> list[KBCategory]:
        """Every published category (a knowledge base has few): one call, the tree is
        built by the caller from `parent_id`."""
        query = ListQuery(order="display_order ASC", limit=PAGE_LIMIT)
        kept, _total = await self._list("KBCategory", "/data/KBCategory", query)
        allowed = self.allowlist.rule("KBCategory").fields
        return [KBCategory.from_json(data, allowed) for data in kept]

    async def category(self, category_id: str) -> KBCategory:
        data = await self._get("KBCategory", category_id)
        return KBCategory.from_json(data, self.allowlist.rule("KBCategory").fields)

    # --- articles
    async def articles(
        self,
        *,
        category_id: str | None = None,
        text: str | None = None,
        offset: int = 0,
        limit: int = 20,
        fields: tuple[str, ...] = (),
    ) -> Page[KBArticle]:
        filters = (Filter("category_id", check_record_id(category_id)),) if category_id else ()
        query = ListQuery(
            filters=filters, filter_text=text or None, order="name ASC", offset=offset, limit=limit
        )
        kept, total = await self._list("KBArticle", "/data/KBArticle", query)
        allowed = self.allowlist.rule("KBArticle").fields
        return Page([KBArticle.from_json(d, allowed) for d in kept], total, offset, limit)

    async def article(self, article_id: str) -> KBArticle:
        data = await self._get("KBArticle", article_id)
        return KBArticle.from_json(data, self.allowlist.rule("KBArticle").fields)

    # --- attachments
    async def attachments(self, article: KBArticle) -> list[Note]:
        path = api_path("data", "KBArticle", article.id, "notes")
        params = [
            *[("fields[]", name) for name in sorted(self.allowlist.rule("Note").fields)],
            ("filters[portal_flag]", "1"),
            ("limit", "50"),
        ]
        reply = await call_json("GET", path, credential=staff_credential(), params=params)
        raw, _total = _records(reply, path)
        allowed = self.allowlist.rule("Note").fields
        return [
            Note.from_json(data, allowed) for data in raw if _is_attachment_of(article.id, data)
        ]

    async def attachment(self, article: KBArticle, note_id: str) -> Note:
        note_id = check_record_id(note_id)
        path = api_path("data", "Note", note_id)
        reply = await call_json(
            "GET", path, credential=staff_credential(), params=self._fields("Note")
        )
        data = reply.get("record")
        if not isinstance(data, dict) or not _is_attachment_of(article.id, data):
            raise errors.NotFound("not an attachment of this article", method="GET", path=path)
        return Note.from_json(data, self.allowlist.rule("Note").fields)

    @contextlib.asynccontextmanager
    async def download(self, article: KBArticle, note: Note) -> AsyncIterator[CrmStream]:
        """An attachment's bytes; `note` must come from `attachment(article, ...)`."""
        if (
            note.parent_id != article.id
            or not note.filename
            or not is_published({"portal_active": article.portal_active})
        ):
            raise errors.NotAllowed("only an attachment of a published article")
        path = api_path("files", "download", "Note", note.id)
        async with open_stream("GET", path, credential=staff_credential()) as stream:
            yield stream


def _is_attachment_of(article_id: str, data: dict[str, Any]) -> bool:
    from crm_gateway.scope import _truthy

    return (
        _truthy(data.get("portal_flag"))
        and data.get("parent_id") == article_id
        and data.get("parent_type") in ARTICLE_NOTE_PARENT_TYPES
        and bool(data.get("filename"))
    )
