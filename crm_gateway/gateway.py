"""`ContactGateway`: the CRM as one signed-in contact may see it, and the contact
sign-in's own calls (the OAuth code exchange, `/me` with the contact's token).

Every contact-facing call goes through the allow-list (refused before any network
call), carries the contact's scope as list filters, and checks every returned record
against the contact's account and contact ids. Which credential reads the data follows
ONECRM_DATA_ACCESS; file and PDF bytes are fetched with the staff credential, and only
from a `CheckedRecord` checked for this same contact. Writes are typed and allow-listed
(`set_quote_stage`, `add_note`) and take only a `CheckedRecord` of the same contact.

What the portal itself asks of the CRM (staff tools, probes, sign-in lookups) is in
crm_gateway.staff.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from django.conf import settings

from crm_gateway import errors, vocabulary
from crm_gateway.allowlist import (
    CASE_CLOSE_STATUS,
    CASE_CREATE_FIELDS,
    CASE_REOPEN_STATUS,
    DEFAULT_ALLOWLIST,
    EMAIL_MAX,
    ERASABLE_CONTACT_FIELDS,
    FILES,
    PDF,
    PERSONAL_PDF,
    PHONE_CHARACTERS,
    PHONE_FIELDS,
    PROFILE_EDITABLE_FIELDS,
    PROFILE_PREFERENCE_FIELDS,
    TALLY,
    Allowlist,
)
from crm_gateway.capabilities import (
    NOT_HERE,
    joined_values_work,
    model_filters,
    note_fallback,
    recall,
    remember,
)
from crm_gateway.credentials import (
    Credential,
    TokenSet,
    exchange_code,
    portal_token_credential,
    staff_credential,
)
from crm_gateway.models import (
    Account,
    Case,
    CaseStatuses,
    Contact,
    Document,
    FileInfo,
    Me,
    ModelFields,
    Note,
    Page,
    Quote,
    Record,
    Tally,
)
from crm_gateway.query import MULTI_SEPARATOR, PAGE_LIMIT, Filter, ListQuery, check_name
from crm_gateway.replies import records_of
from crm_gateway.rest import api_path, call_json, open_stream, upload_json
from crm_gateway.scope import (
    SCOPE_RULES,
    CheckedRecord,
    ContactScope,
    check_record_id,
    is_note_of_case,
    seal,
)
from crm_gateway.streaming import CrmStream

logger = logging.getLogger("crm_gateway")

DATA_ACCESS_MODES = ("contact_token", "portal_auth", "staff")
# Filtering in the portal reads at most this many records (50 calls of 200): beyond it
# the list would be slow for everyone, and a warning says why it is incomplete.
LOCAL_FILTER_LIMIT = 10_000
# A case's conversation reads its newest portal notes, at most this many (one call).
CASE_NOTES_READ = 200


def several_values(query: ListQuery) -> list[Filter]:
    """The filters that give one name several values (one value is sent as it is)."""
    return [
        item
        for item in query.filters
        if isinstance(item, Filter) and not isinstance(item.value, str) and len(item.value) > 1
    ]


def _matches(data: dict[str, Any], wanted: dict[str, set[str]]) -> bool:
    """Whether a record has one of the wanted values in each field (case-insensitively,
    as the CRM compares; a stored multi-select matches on any of its parts)."""
    for name, values in wanted.items():
        stored = data.get(name)
        text = "" if stored is None else str(stored)
        parts = text.split(MULTI_SEPARATOR) if MULTI_SEPARATOR in text else [text]
        if not any(part.strip("^").casefold() in values for part in parts):
            return False
    return True


@functools.lru_cache(maxsize=64)
def _sorted_fields(fields: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(fields))


class ContactGateway:
    """The CRM as one signed-in contact may see it."""

    def __init__(
        self,
        scope: ContactScope,
        *,
        allowlist: Allowlist = DEFAULT_ALLOWLIST,
        data_access: str | None = None,
    ) -> None:
        if not isinstance(scope, ContactScope):
            raise TypeError("ContactGateway needs a ContactScope")
        self.scope = scope
        self.allowlist = allowlist
        self.data_access = data_access or settings.ONECRM_DATA_ACCESS
        if self.data_access not in DATA_ACCESS_MODES:
            raise ValueError(f"data_access must be one of {', '.join(DATA_ACCESS_MODES)}")

    def __repr__(self) -> str:
        return f"<ContactGateway contact={self.scope.contact_id} mode={self.data_access}>"

    # --- credentials
    def data_credential(self) -> Credential:
        """The credential that reads (and may write) this contact's data in this mode."""
        return self._data_credential()

    def _data_credential(self) -> Credential:
        if self.data_access == "staff":
            return staff_credential()
        if self.data_access == "portal_auth":
            return portal_token_credential(self.scope.contact_id)
        if self.scope.credential is None:
            raise errors.ReauthenticationRequired("no contact token in this session")
        return self.scope.credential

    def _bytes_credential(self, record: CheckedRecord[Any]) -> Credential:
        if not isinstance(record, CheckedRecord) or not record.belongs_to(self.scope):
            raise errors.NotAllowed("bytes come only from a record checked for this contact")
        return staff_credential()

    # --- shaping requests and replies
    def _fields_for(self, model: str, wanted: Iterable[str]) -> tuple[str, ...]:
        rule = self.allowlist.rule(model)
        wanted = tuple(wanted)
        self.allowlist.check_fields(model, wanted)
        shown = wanted or _sorted_fields(rule.fields)
        needed = SCOPE_RULES[model].fields
        return tuple(dict.fromkeys(("id", *shown, *needed)))

    def _scoped_query(self, model: str, query: ListQuery) -> ListQuery | None:
        scope_filters = SCOPE_RULES[model].filters(self.scope)
        if scope_filters is None:
            return None
        reserved = {item.name for item in scope_filters}
        for item in query.filters:
            for name in item.names:
                if name in reserved:
                    raise errors.NotAllowed(f"the filter {name} is set by the portal")
                self.allowlist.check_filter(model, name)
        order_field = query.order_field
        if order_field is not None:
            self.allowlist.check_fields(model, [order_field])
        if query.view_closed and model != "aCase":
            raise errors.NotAllowed("view_closed asks only a case list for its closed cases")
        fields = self._fields_for(model, query.fields)
        # Scope filters go last: with PHP-style parsing the last duplicate would win.
        return ListQuery(
            fields=fields,
            filters=query.filters,
            filter_text=query.filter_text,
            order=query.order,
            offset=query.offset,
            limit=query.limit,
            view_closed=query.view_closed,
        ).with_filters(scope_filters)

    def _shown(self, model: str, data: dict[str, Any]) -> dict[str, Any]:
        allowed = self.allowlist.rule(model).fields
        return {key: value for key, value in data.items() if key in allowed or key == "_display"}

    def _check(
        self, cls: type[Any], data: dict[str, Any], *, linked: bool = False
    ) -> CheckedRecord[Any] | None:
        """The record sealed as checked, or None (and a warning) if it is not the contact's.

        `linked`: the record came from the contact's own account (or contact) link list,
        the CRM's statement that it is linked to them (documents have no owner field).
        """
        model = cls.MODEL
        passed = (model == "Document" and linked) or SCOPE_RULES[model].allows(self.scope, data)
        if not passed:
            logger.warning(
                "crm returned a %s outside the contact's scope; dropped (contact %s)",
                model,
                self.scope.contact_id,
            )
            return None
        return seal(cls, data, self.scope, self.allowlist.rule(model).fields)

    async def _list(
        self,
        cls: type[Any],
        path: str,
        query: ListQuery,
        *,
        linked: bool = False,
        owner: Filter | None = None,
        credential: Credential | None = None,
    ) -> Page[CheckedRecord[Any]]:
        """`owner`: a filter the gateway itself adds after the scope (documents listed
        through the CRM's owner filter rather than a link). `credential`: another than
        the data credential (a checked record's link the CRM refuses the contact)."""
        model = cls.MODEL
        scoped = self._scoped_query(model, query)
        if scoped is None:
            return Page([], 0, query.offset, query.limit)
        if owner is not None:
            scoped = scoped.with_filters((owner,))
        several = several_values(scoped)
        if several:
            probes = [
                await joined_values_work(
                    model,
                    item.name,
                    item.value,
                    self._counter(path, scoped, several, item, credential),
                )
                for item in several
            ]
            if None in probes:  # no record at all has any of one filter's values
                return Page([], 0, query.offset, query.limit)
            if not all(probes):
                return await self._list_filtered_here(
                    cls, path, scoped, several, linked=linked, credential=credential
                )
        raw, total = await self._fetch(path, scoped, credential)
        return self._page(cls, raw, total, query, linked=linked)

    def _counter(
        self,
        path: str,
        scoped: ListQuery,
        several: list[Filter],
        item: Filter,
        credential: Credential | None = None,
    ) -> Callable[[str], Awaitable[int]]:
        """How many of the contact's records have `item.name` = a value (limit 1, with the
        contact's scope and credential, like every list call)."""
        others = tuple(other for other in scoped.filters if other not in several)

        async def count(value: str) -> int:
            query = replace(
                scoped,
                fields=("id",),
                filters=(Filter(item.name, value), *others),
                offset=0,
                limit=1,
            )
            return (await self._fetch(path, query, credential))[1]

        return count

    async def _fetch(
        self, path: str, query: ListQuery, credential: Credential | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        reply = await call_json(
            "GET",
            path,
            credential=credential or self._data_credential(),
            params=query.params(),
            accept_language=self.scope.accept_language,
        )
        return records_of(reply, path)

    async def _list_filtered_here(
        self,
        cls: type[Any],
        path: str,
        scoped: ListQuery,
        several: list[Filter],
        *,
        linked: bool,
        credential: Credential | None = None,
    ) -> Page[CheckedRecord[Any]]:
        """The fallback for a CRM that takes `a^,^b` literally: the same query without
        the several-values filters, read in pages of 200 in the CRM's own order, and
        those filters applied here, so totals and paging count only what matches."""
        wanted = {item.name: {str(v).casefold() for v in item.value} for item in several}
        remote = replace(
            scoped,
            fields=tuple(dict.fromkeys((*scoped.fields, *wanted))),
            filters=tuple(item for item in scoped.filters if item not in several),
            offset=0,
            limit=PAGE_LIMIT,
        )
        matching: list[dict[str, Any]] = []
        while True:
            raw, total = await self._fetch(path, remote, credential)
            matching.extend(data for data in raw if _matches(data, wanted))
            read = remote.offset + len(raw)
            if not raw or read >= total:
                break
            if read >= LOCAL_FILTER_LIMIT:
                logger.warning(
                    "filtering %s here stopped after %d records (contact %s): the list is "
                    "incomplete; a CRM that reads a^,^b as 'any of' avoids this",
                    path,
                    read,
                    self.scope.contact_id,
                )
                break
            remote = replace(remote, offset=read)
        page = self._page(cls, matching, len(matching), scoped, linked=linked)
        start = scoped.offset
        records = page.records[start : start + scoped.limit]
        return Page(records, page.total, scoped.offset, scoped.limit, page.total, len(records))

    def _page(
        self,
        cls: type[Any],
        raw: list[dict[str, Any]],
        total: int,
        query: ListQuery,
        *,
        linked: bool,
    ) -> Page[CheckedRecord[Any]]:
        model = cls.MODEL
        if model == "Document":
            checked = [self._check(cls, data, linked=linked) for data in raw]
            kept = [record for record in checked if record is not None]
        else:
            # The common case, hoisted out of the per-record loop (a page has up to 200).
            allows, scope = SCOPE_RULES[model].allows, self.scope
            allowed = self.allowlist.rule(model).fields
            kept = [seal(cls, data, scope, allowed) for data in raw if allows(scope, data)]
        dropped = len(raw) - len(kept)
        if dropped and model != "Document":
            logger.warning(
                "crm returned %d %s records outside the contact's scope; dropped (contact %s)",
                dropped,
                model,
                self.scope.contact_id,
            )
        return Page(kept, max(0, total - dropped), query.offset, query.limit, total, len(raw))

    # --- lists
    async def list_records[T: Record](
        self, cls: type[T], query: ListQuery | None = None
    ) -> Page[CheckedRecord[T]]:
        """One page of the contact's records of `cls` (Invoice, Quote, Document, ...)."""
        query = query or ListQuery()
        if not self.allowlist.rule(cls.MODEL).listable:
            raise errors.NotAllowed(f"the portal does not list {cls.MODEL} records")
        if cls.MODEL == "Document":
            return await self._list_documents(cls, query)
        return await self._list(cls, api_path("data", cls.MODEL), query)

    def _document_ways(self) -> list[tuple[str, str, Filter | None]]:
        """The ways to list the contact's documents, best first: (name, path, filter).

        Documents hang off accounts and contacts by join links. A CRM may refuse the
        contact's token those links; then a `/data/Document` filter `/meta/fields` lists
        (`account_id`, `contact_id`; asked only then), which a CRM that files documents by
        relationship answers with the linked ones; then the contact's own link.
        """
        account, contact = self.scope.account_id, self.scope.contact_id
        documents = api_path("data", "Document")
        contact_link = ("contact link", api_path("data", "Contact", contact, "documents"), None)
        if not account:
            return [contact_link, ("contact filter", documents, Filter("contact_id", contact))]
        return [
            ("account link", api_path("data", "Account", account, "documents"), None),
            ("account filter", documents, Filter("account_id", account)),
            contact_link,
        ]

    async def _list_documents[T: Record](
        self, cls: type[T], query: ListQuery
    ) -> Page[CheckedRecord[T]]:
        """The first way this CRM answers for this credential (what was refused is
        remembered, so later pages go straight to the way that works)."""
        kind = self._data_credential().kind
        refused: list[str] = list(await recall(f"documents-refused:{kind}") or [])
        last: errors.CrmError | None = None
        for name, path, owner in self._document_ways():
            if name in refused:
                continue
            if owner is not None and owner.name not in (await model_filters("Document") or ()):
                continue  # the CRM does not offer this filter
            try:
                # Records from the link, or from the CRM's own owner filter, are the CRM's
                # statement that they are linked to the contact's account or contact.
                page = await self._list(cls, path, query, linked=True, owner=owner)
            except NOT_HERE as exc:
                last = exc
                if isinstance(exc, errors.BadRequest):
                    continue  # perhaps this query, not the way: not remembered
                refused.append(name)
                await remember(f"documents-refused:{kind}", refused)
                continue
            if refused:
                await note_fallback(
                    f"documents ({kind} credential)",
                    f"the CRM refused {', '.join(refused)}: documents are read by {name}",
                )
            return page
        if isinstance(last, errors.BadRequest):
            raise last
        raise errors.NoWayHere(
            f"this CRM refuses every way to list a contact's documents ({', '.join(refused)})",
            method="GET",
            path=last.path if last else "",
        )

    async def related[T: Record](
        self,
        record: CheckedRecord[Any],
        link: str,
        cls: type[T],
        query: ListQuery | None = None,
    ) -> Page[CheckedRecord[T]]:
        """Records linked to a checked record (Invoice.payments, Invoice.notes...)."""
        self._require_checked(record)
        check_name(link, "link name")
        target = self.allowlist.link_target(record.model, link)
        if target != cls.MODEL:
            raise errors.NotAllowed(f"{record.model}.{link} holds {target}, not {cls.MODEL}")
        path = api_path("data", record.model, record.id, link)
        query = query or ListQuery()
        kind = self._data_credential().kind
        if kind == "staff":
            return await self._list(cls, path, query)
        way = f"{record.model}.{link}"
        name = f"link-refused:{kind}:{way}"  # one entry a link: pages read links at once
        if not await recall(name):
            try:
                return await self._list(cls, path, query)
            except (errors.Forbidden, errors.NotFound):
                await remember(name, True)
        # The CRM refuses this contact the link of a record that passed this contact's
        # scope check: read it with the staff credential (as bytes are), and check every
        # linked record against the scope like any other (`_page`).
        await note_fallback(
            f"links ({kind} credential): {way}",
            f"the CRM refused the contact's credential {way}: read with the staff "
            "credential after the record was checked for the contact",
        )
        return await self._list(cls, path, query, credential=staff_credential())

    # --- single records
    async def get_record[T: Record](
        self, cls: type[T], record_id: str, fields: Iterable[str] = ()
    ) -> CheckedRecord[T]:
        """One record, checked: NotFound for anything the contact may not see."""
        model = cls.MODEL
        self.allowlist.rule(model)
        record_id = check_record_id(record_id)
        if model == "Account" and record_id != self.scope.account_id:
            raise errors.NotFound("no such record")
        if model == "Contact" and record_id != self.scope.contact_id:
            raise errors.NotFound("no such record")
        path = api_path("data", model, record_id)
        reply = await call_json(
            "GET",
            path,
            credential=self._data_credential(),
            params=[("fields[]", name) for name in self._fields_for(model, fields)],
            accept_language=self.scope.accept_language,
        )
        data = reply.get("record")
        if not isinstance(data, dict):
            raise errors.BadReply("a record reply without its record", method="GET", path=path)
        if data.get("id") != record_id:
            raise errors.NotFound("no such record", method="GET", path=path)
        linked = False
        if model == "Document" and not SCOPE_RULES[model].allows(self.scope, data):
            linked = await self._document_is_linked(record_id)
        checked = self._check(cls, data, linked=linked)
        if checked is None:
            raise errors.NotFound("no such record", method="GET", path=path)
        return checked

    async def _document_is_linked(self, document_id: str) -> bool:
        """Whether the CRM links the document to the contact's account or the contact:
        by the document's own links, else (a CRM that refuses the contact's token links)
        by finding it among the contact's documents, listed the way that works."""
        owners = [("accounts", self.scope.account_id), ("contacts", self.scope.contact_id)]
        refused = f"document-links-refused:{self._data_credential().kind}"
        try:
            if await recall(refused):
                raise errors.Forbidden("refused before", method="GET")
            for link, owner_id in owners:
                if owner_id is None:
                    continue
                path = api_path("data", "Document", document_id, link)
                reply = await call_json(
                    "GET",
                    path,
                    credential=self._data_credential(),
                    params=[("fields[]", "id"), ("limit", str(PAGE_LIMIT))],
                )
                raw, _ = records_of(reply, path)
                if any(item.get("id") == owner_id for item in raw):
                    return True
            return False
        except (errors.Forbidden, errors.NotFound) as exc:
            if isinstance(exc, errors.Forbidden):
                await remember(refused, True)  # later pages go straight to the list
            await note_fallback(
                f"document ownership ({self._data_credential().kind} credential)",
                "the CRM refused the document's own links: a document is looked up "
                "among the contact's documents",
            )
        offset = 0
        while offset < LOCAL_FILTER_LIMIT:
            page = await self._list_documents(
                Document, ListQuery(fields=("id",), offset=offset, limit=PAGE_LIMIT)
            )
            if any(record.id == document_id for record in page.records):
                return True
            offset += PAGE_LIMIT
            if not page.crm_count or offset >= page.crm_total:
                return False
        return False

    def _require_checked(self, record: CheckedRecord[Any]) -> None:
        if not isinstance(record, CheckedRecord) or not record.belongs_to(self.scope):
            raise errors.NotAllowed("only a record checked for this contact")
        self.allowlist.rule(record.model)

    # --- tally, files, PDF
    async def tally(self, record: CheckedRecord[Any]) -> Tally:
        self._require_checked(record)
        self.allowlist.check_endpoint(record.model, TALLY)
        path = api_path("tally", record.model, record.id)
        reply = await call_json(
            "GET",
            path,
            credential=self._data_credential(),
            accept_language=self.scope.accept_language,
        )
        tally = Tally.from_json(reply)
        # The parent record comes back again: it must still be this contact's.
        if tally.record.get("id") != record.id or not SCOPE_RULES[record.model].allows(
            self.scope, tally.record
        ):
            logger.warning("crm returned a tally outside the contact's scope; refused")
            raise errors.NotFound("no such record", method="GET", path=path)
        return Tally(self._shown(record.model, tally.record), tally.groups, tally.totals)

    async def file_info(self, record: CheckedRecord[Any]) -> FileInfo:
        self._require_checked(record)
        self.allowlist.check_endpoint(record.model, FILES)
        path = api_path("files", "info", record.model, record.id)
        reply = await call_json("GET", path, credential=self._bytes_credential(record))
        return FileInfo.from_json(reply)

    @contextlib.asynccontextmanager
    async def download(self, record: CheckedRecord[Any]) -> AsyncIterator[CrmStream]:
        """The file of a checked Document or Note, as a stream."""
        self._require_checked(record)
        self.allowlist.check_endpoint(record.model, FILES)
        path = api_path("files", "download", record.model, record.id)
        async with open_stream("GET", path, credential=self._bytes_credential(record)) as stream:
            yield stream

    @contextlib.asynccontextmanager
    async def pdf(self, record: CheckedRecord[Any]) -> AsyncIterator[CrmStream]:
        """The printed PDF of a checked Invoice or Quote, as a stream."""
        self._require_checked(record)
        self.allowlist.check_endpoint(record.model, PDF)
        path = api_path("printer", "pdf", record.model, record.id)
        async with self._printed(record, path) as pdf:
            yield pdf

    @contextlib.asynccontextmanager
    async def _printed(self, record: CheckedRecord[Any], path: str) -> AsyncIterator[CrmStream]:
        """A print of a checked record, in the contact's language, with the credential for
        bytes; what the CRM sends must be a PDF."""
        async with open_stream(
            "GET",
            path,
            credential=self._bytes_credential(record),
            accept_language=self.scope.accept_language,
        ) as stream:
            if stream.content_type != "application/pdf":
                # A 200 maintenance page or JSON is not the invoice: an error, not a file.
                raise errors.BadReply("the CRM printed something other than a PDF", path=path)
            yield stream

    # --- writes: typed, allow-listed, only to records checked for this contact
    async def set_quote_stage(self, quote: CheckedRecord[Quote], stage: str) -> None:
        """Set a checked quote's stage (accept or decline it), nothing else."""
        self._require_checked(quote)
        self.allowlist.check_write(quote.model, {"quote_stage": stage})
        key = await self._crm_key(quote.model, "quote_stage", stage)
        path = api_path("data", quote.model, quote.id)
        await self._write(quote, "PATCH", path, {"data": {"quote_stage": key}, "create": False})

    async def _crm_key(self, model: str, name: str, standard: str) -> str:
        """The installation's key for an allow-listed standard value (crm_gateway.vocabulary):
        `Closed Accepted` may be `Angenommen` here. A CRM that lists the field's options
        without one standing for it has no such stage: NotAllowed, nothing written."""
        key = (await vocabulary.learn(model, name)).key_for(standard)
        if key is None:
            raise errors.NotAllowed(f"this CRM has no {model}.{name} option for {standard!r}")
        return key

    async def add_note(self, parent: CheckedRecord[Any], *, name: str, description: str) -> None:
        """A note for the CRM's users on a checked record, linked to this contact (and
        account) and marked for the portal, so the contact sees it as theirs."""
        self._require_checked(parent)
        parent_type = self.allowlist.note_parent_type(parent.model)
        note = {
            "name": name[:250],
            "description": description[:4000],
            "parent_type": parent_type,
            "parent_id": parent.id,
            "contact_id": self.scope.contact_id,
            "account_id": self.scope.account_id or "",
            "portal_flag": True,
        }
        await self._write(parent, "POST", api_path("data", "Note"), {"data": note})

    async def _write(
        self, record: CheckedRecord[Any], method: str, path: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """With the data credential; if the CRM forbids the contact the write, with the
        staff credential: safe, as `record` passed this contact's scope check first.
        The CRM's reply (a create's `id`)."""
        self._require_checked(record)
        credential = self._data_credential()
        if credential.kind != "staff":
            try:
                return await call_json(method, path, credential=credential, json=body)
            except errors.Forbidden:
                logger.info("CRM refused a contact write to %s; using the staff credential", path)
        return await call_json(method, path, credential=staff_credential(), json=body)

    # --- Support cases (issue 14) -------------------------------------------------------
    # Reads: the contact's cases are an ordinary scoped model (list_records/get_record);
    # a case's notes are read and checked through the checked case. Writes: typed,
    # allow-listed, account_id/cust_contact_id/contact_id from the scope, and, for notes
    # and status changes, only on a case checked for this same contact.

    async def case_choices(self) -> ModelFields:
        """`/meta/fields/aCase` in the contact's language (statuses, priorities,
        categories); metadata, read with the staff credential."""
        reply = await call_json(
            "GET",
            api_path("meta", "fields", "aCase"),
            credential=staff_credential(),
            accept_language=self.scope.accept_language,
        )
        return ModelFields.from_json(reply)

    async def case_notes(
        self, case: CheckedRecord[Case], *, limit: int | None = None
    ) -> list[CheckedRecord[Note]]:
        """The case's newest notes marked for the portal (at most `CASE_NOTES_READ`),
        oldest first; each checked to hang off this case (the CRM's own filter is not
        trusted). Newest, not oldest: a long case's latest replies are what matters."""
        self._require_checked(case)
        if case.model != "aCase":
            raise errors.NotAllowed("case notes come only from a checked case")
        self.allowlist.link_target("aCase", "notes")
        query = ListQuery(
            fields=self._fields_for("Note", ()),
            filters=(Filter("portal_flag", "1"),),
            order="date_entered DESC",
            limit=limit or CASE_NOTES_READ,
        )
        path = api_path("data", "aCase", case.id, "notes")
        raw, _total = await self._case_link(path, query)
        raw.reverse()  # oldest first, as the conversation reads
        allowed = self.allowlist.rule("Note").fields
        kept = [
            seal(Note, data, self.scope, allowed) for data in raw if is_note_of_case(case.id, data)
        ]
        if len(kept) != len(raw):
            logger.warning(
                "crm returned %d notes that are not this case's portal notes; dropped",
                len(raw) - len(kept),
            )
        return kept

    async def _case_link(self, path: str, query: ListQuery) -> tuple[list[dict[str, Any]], int]:
        """A checked case's notes link, with the data credential; where the CRM refuses
        the contact's token its links (remembered per credential kind), with the staff
        credential, as the vendor's portal reads notes: the case was checked first, and
        each note is checked to hang off it."""
        credential = self._data_credential()
        refused = f"case-notes-refused:{credential.kind}"
        if credential.kind != "staff" and not await recall(refused):
            try:
                reply = await call_json(
                    "GET",
                    path,
                    credential=credential,
                    params=query.params(),
                    accept_language=self.scope.accept_language,
                )
                return records_of(reply, path)
            except errors.Forbidden:
                await remember(refused, True)
        if credential.kind != "staff":
            await note_fallback(
                f"case notes ({credential.kind} credential)",
                "the CRM refused the case's notes link: they are read with the staff "
                "credential, after the case's own check",
            )
        reply = await call_json(
            "GET",
            path,
            credential=staff_credential(),
            params=query.params(),
            accept_language=self.scope.accept_language,
        )
        return records_of(reply, path)

    async def case_note(self, case: CheckedRecord[Case], note_id: str) -> CheckedRecord[Note]:
        """One note of a checked case (its attachment's download): NotFound unless it is a
        portal note of this very case."""
        self._require_checked(case)
        if case.model != "aCase":
            raise errors.NotAllowed("case notes come only from a checked case")
        note_id = check_record_id(note_id)
        path = api_path("data", "Note", note_id)
        params = [("fields[]", name) for name in self._fields_for("Note", ())]
        try:
            reply = await call_json("GET", path, credential=self._data_credential(), params=params)
        except errors.Forbidden:
            # A contact token may not read a staff reply by id: the case was checked, and
            # the note is checked below to hang off it, as when reading the case's notes.
            reply = await call_json("GET", path, credential=staff_credential(), params=params)
        data = reply.get("record")
        if not isinstance(data, dict) or data.get("id") != note_id:
            raise errors.NotFound("no such record", method="GET", path=path)
        if not is_note_of_case(case.id, data):
            raise errors.NotFound("not a portal note of this case", method="GET", path=path)
        return seal(Note, data, self.scope, self.allowlist.rule("Note").fields)

    async def create_case(
        self, *, subject: str, description: str, fields: Mapping[str, str] | None = None
    ) -> CheckedRecord[Case]:
        """A new case of the contact's account, read back within the contact's scope.

        `fields`: category and priority, only those in CASE_CREATE_FIELDS; account_id and
        cust_contact_id always come from the scope."""
        extra = dict(fields or {})
        refused = sorted(set(extra) - (CASE_CREATE_FIELDS - {"name", "description"}))
        if refused:
            raise errors.NotAllowed(f"the portal does not set {', '.join(refused)[:80]} on a case")
        data = {
            **{name: value for name, value in extra.items() if value},
            "name": subject[:255],
            "description": description,
            "account_id": self.scope.account_id or "",
            "cust_contact_id": self.scope.contact_id,
        }
        reply = await self._create(api_path("data", "aCase"), {"data": data})
        case_id = reply.get("id")
        if not isinstance(case_id, str):
            raise errors.BadReply("a create reply without an id", method="POST", path="/data/aCase")
        return await self.get_record(Case, case_id)

    async def upload_file(
        self,
        *,
        filename: str,
        content_type: str,
        size: int,
        content: Callable[[], AsyncIterator[bytes]],
    ) -> str:
        """`POST /files/upload`, the body streamed from `content()`: the upload's id, to be
        referenced by a note (`add_case_note`). Contacts' uploads use the same credential
        as their writes."""
        # The reference's CONTENT_LENGTH: the size is sent, never a chunked body (which a
        # PHP server behind a plain CGI bridge would read as empty).
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(size),
            "X-OneCRM-Filename": header_filename(filename),
        }
        credential = self._data_credential()
        if credential.kind != "staff":
            try:
                reply = await upload_json(
                    "/files/upload", credential=credential, content=content, headers=headers
                )
            except errors.Forbidden:
                logger.info("CRM refused a contact upload; using the staff credential")
                reply = None
            if reply is not None:
                return _upload_id(reply)
        reply = await upload_json(
            "/files/upload", credential=staff_credential(), content=content, headers=headers
        )
        return _upload_id(reply)

    async def add_case_note(
        self,
        case: CheckedRecord[Case],
        *,
        name: str,
        description: str,
        upload_id: str | None = None,
    ) -> str:
        """A message from the contact on their checked case, marked for the portal;
        `upload_id` (from `upload_file`) makes it an attachment."""
        self._require_checked(case)
        if case.model != "aCase":
            raise errors.NotAllowed("case notes go only on a checked case")
        note: dict[str, Any] = {
            "name": name[:250],
            "description": description,
            "parent_type": self.allowlist.note_parent_type(case.model),
            "parent_id": case.id,
            "contact_id": self.scope.contact_id,
            "account_id": self.scope.account_id or "",
            "portal_flag": True,
        }
        if upload_id is not None:
            note["filename"] = check_record_id(upload_id)
        reply = await self._write(case, "POST", api_path("data", "Note"), {"data": note})
        note_id = reply.get("id")
        if not isinstance(note_id, str):
            raise errors.BadReply("a create reply without an id", method="POST", path="/data/Note")
        return note_id

    async def case_statuses(self) -> CaseStatuses:
        """Which statuses of this CRM mean closed, and what close and reopen write
        (`CaseStatuses`): `/meta/fields/aCase`'s status options in English, learned once
        per CRM by the one options learner, `crm_gateway.vocabulary` (which the stages'
        vocabularies read from the same kept entry)."""
        choices = await vocabulary.english_options("aCase", "status")
        statuses = CaseStatuses.of(choices, CASE_CLOSE_STATUS, CASE_REOPEN_STATUS)
        if statuses.known and statuses.close_to != CASE_CLOSE_STATUS:
            await note_fallback(
                "case statuses",
                "the CRM has its own case statuses: closed ones are read by their English "
                f"labels; close sets {statuses.close_to!r}, reopen {statuses.reopen_to!r}",
            )
        return statuses

    async def set_case_status(self, case: CheckedRecord[Case], *, closed: bool) -> None:
        """Close or reopen a checked case: its status, to this CRM's own closed (or open)
        status (`case_statuses`), and nothing else."""
        self._require_checked(case)
        if case.model != "aCase":
            raise errors.NotAllowed("the portal sets a status only on a checked case")
        statuses = await self.case_statuses()
        status = statuses.close_to if closed else statuses.reopen_to
        if status not in (CASE_CLOSE_STATUS, CASE_REOPEN_STATUS):
            # Not 1CRM's own key: one of the CRM's own options, as it listed them.
            if not status or statuses.is_closed(status) != closed:
                raise errors.NotAllowed("this CRM offers no status to set")
        else:
            self.allowlist.check_write(case.model, {"status": status})
        path = api_path("data", "aCase", case.id)
        await self._write(case, "PATCH", path, {"data": {"status": status}, "create": False})

    async def _create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A new record of the contact's own (no checked parent exists yet), like `_write`:
        safe with the staff credential, as the body's ids are the scope's."""
        method = "POST"
        credential = self._data_credential()
        if credential.kind != "staff":
            try:
                return await call_json(method, path, credential=credential, json=body)
            except errors.Forbidden:
                logger.info("CRM refused a contact write to %s; using the staff credential", path)
        return await call_json(method, path, credential=staff_credential(), json=body)

    # --- The contact's own record: profile and personal data (issue 16) ---------------
    # Every call here names the scope's own contact id and nothing else: no id is taken
    # from a caller. Writes are typed and allow-listed (PROFILE_EDITABLE_FIELDS, the
    # preference booleans, email1 alone, the erasable fields); with the data credential,
    # and with the staff credential when the CRM forbids the contact its own record.

    async def own_contact(self) -> CheckedRecord[Contact]:
        """The signed-in contact's own record, checked (the profile page)."""
        return await self._own_record(Contact, "Contact", self.scope.contact_id)

    async def own_account(self) -> CheckedRecord[Account]:
        """The contact's own account, checked (the statement's name and billing address).

        Its id is the scope's, never a caller's. A CRM that refuses the contact's token
        the Account model (the strict profile's `contact_account_refused`) is asked with
        the portal's credential, for this one id; NotFound for a contact without one."""
        account_id = self.scope.account_id
        if not account_id:
            raise errors.NotFound("the contact has no account")
        return await self._own_record(Account, "Account", account_id)

    async def _own_record(
        self, record_type: type[Any], model: str, record_id: str
    ) -> CheckedRecord[Any]:
        """One of the scope's own records (its contact, its account), checked.

        `record_id` is the scope's own, never a caller's: a CRM that refuses the contact's
        token the model (a token that reaches only /me) is asked with the portal's
        credential for this one id, and the reply is still checked against the scope."""
        path = api_path("data", model, record_id)
        params = [("fields[]", name) for name in self._fields_for(model, ())]
        try:
            reply = await call_json(
                "GET",
                path,
                credential=self._data_credential(),
                params=params,
                accept_language=self.scope.accept_language,
            )
        except errors.Forbidden:
            reply = await call_json("GET", path, credential=staff_credential(), params=params)
        data = reply.get("record")
        if not isinstance(data, dict):
            raise errors.BadReply("a record reply without its record", method="GET", path=path)
        checked = self._check(record_type, data)
        if checked is None:
            raise errors.NotFound("no such record", method="GET", path=path)
        return checked

    async def update_own_contact(self, fields: Mapping[str, str]) -> None:
        """Set some of the contact's own editable fields (names, title, department,
        phones), each bounded; nothing else, and on no other record."""
        values = dict(fields)
        for name, value in values.items():
            bound = PROFILE_EDITABLE_FIELDS.get(name)
            if bound is None:
                raise errors.NotAllowed(f"the portal does not set Contact.{name[:40]}")
            if not isinstance(value, str) or len(value) > bound or not value.isprintable():
                raise errors.NotAllowed(f"Contact.{name} must be printable text of <= {bound}")
            if name in PHONE_FIELDS and not set(value) <= PHONE_CHARACTERS:
                raise errors.NotAllowed(f"Contact.{name} takes only phone number characters")
        if values:
            await self._write_own("PATCH", self._own_path(), {"data": values, "create": False})

    async def set_own_preferences(self, preferences: Mapping[str, bool]) -> None:
        """The contact's own e-mail preferences (opt-outs): booleans, allow-listed."""
        values = dict(preferences)
        for name, value in values.items():
            if name not in PROFILE_PREFERENCE_FIELDS or not isinstance(value, bool):
                raise errors.NotAllowed(f"the portal does not set Contact.{name[:40]}")
        if values:
            await self._write_own("PATCH", self._own_path(), {"data": values, "create": False})

    async def set_own_email(self, email: str) -> None:
        """Write the contact's own `email1` (after they confirmed the new address)."""
        if (
            not isinstance(email, str)
            or not 3 <= len(email) <= EMAIL_MAX
            or "@" not in email
            or not email.isprintable()
            or any(char.isspace() for char in email)
        ):
            raise errors.NotAllowed("email1 must be one e-mail address")
        body = {"data": {"email1": email}, "create": False}
        await self._write_own("PATCH", self._own_path(), body)

    @contextlib.asynccontextmanager
    async def personal_data_pdf(self, record: CheckedRecord[Contact]) -> AsyncIterator[CrmStream]:
        """The CRM's personal-data print of the contact's own checked record, streamed."""
        self._require_checked(record)
        if record.model != "Contact" or record.id != self.scope.contact_id:
            raise errors.NotAllowed("only the contact's own personal data")
        self.allowlist.check_endpoint(record.model, PERSONAL_PDF)
        path = api_path("printer", "pdf", "personal", record.model, record.id)
        async with self._printed(record, path) as pdf:
            yield pdf

    async def erase_own_personal_data(self, fields: Iterable[str]) -> None:
        """`/data/erase_personal/Contact/{own id}` for exactly these personal fields."""
        names = sorted(set(fields))
        refused = sorted(set(names) - ERASABLE_CONTACT_FIELDS)
        if not names or refused:
            raise errors.NotAllowed(f"the portal does not erase {', '.join(refused)[:80]}")
        path = api_path("data", "erase_personal", "Contact", self.scope.contact_id)
        await self._write_own("POST", path, {"data": {"fields": ",".join(names)}})

    def _own_path(self) -> str:
        return api_path("data", "Contact", self.scope.contact_id)

    async def _write_own(self, method: str, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A write on the contact's own record (its path built from the scope here):
        with the data credential, or the staff credential when the CRM forbids it."""
        credential = self._data_credential()
        if credential.kind != "staff":
            try:
                return await call_json(method, path, credential=credential, json=body)
            except errors.Forbidden:
                logger.info("CRM refused a contact write to their own record; using staff")
        return await call_json(method, path, credential=staff_credential(), json=body)


def _upload_id(reply: dict[str, Any]) -> str:
    upload_id = reply.get("id")
    if not isinstance(upload_id, str) or not upload_id:
        raise errors.BadReply("an upload reply without an id", method="POST", path="/files/upload")
    return upload_id


def header_filename(name: str) -> str:
    """X-OneCRM-Filename: the name as is when printable ASCII, else percent-encoded UTF-8
    (as the CRM itself sends it on downloads; our assumption for uploads)."""
    if name.isascii() and name.isprintable():
        return name
    return quote(name, safe="")


# --- The contact sign-in's calls ---------------------------------------------------------


async def me(credential: Credential, *, accept_language: str | None = None) -> Me:
    """`/me` with a contact's (or a CRM user's) own token: who the CRM says signed in."""
    return Me.from_json(
        await call_json("GET", "/me", credential=credential, accept_language=accept_language)
    )


async def exchange_authorization_code(
    code: str, redirect_uri: str, code_verifier: str | None = None
) -> TokenSet:
    """The contact OAuth flow's last step: `authorization_code` on /auth/contact/access_token,
    with the PKCE verifier when the authorization request sent a challenge."""
    return await exchange_code("contact", code, redirect_uri, code_verifier)


__all__ = ["ContactGateway", "exchange_authorization_code", "me"]
