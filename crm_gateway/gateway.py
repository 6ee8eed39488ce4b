"""Typed calls the portal makes: `ContactGateway` for a contact's data, plus the few
service calls (version, /me, /portal/auth, metadata, sign-in lookups).

Every contact-facing call goes through the allow-list (refused before any network
call), carries the contact's scope as list filters, and checks every returned record
against the contact's account and contact ids. Which credential reads the data follows
ONECRM_DATA_ACCESS; file and PDF bytes are fetched with the staff credential, and only
from a `CheckedRecord` checked for this same contact.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from django.conf import settings

from crm_gateway import errors
from crm_gateway.allowlist import DEFAULT_ALLOWLIST, FILES, PDF, TALLY, Allowlist
from crm_gateway.credentials import (
    Credential,
    TokenSet,
    portal_token_credential,
    staff_credential,
)
from crm_gateway.models import (
    Contact,
    DocumentRevision,
    FileInfo,
    Locale,
    Me,
    ModelFields,
    Page,
    Record,
    Tally,
    Version,
)
from crm_gateway.query import PAGE_LIMIT, Filter, ListQuery, check_name
from crm_gateway.rest import api_path, call_json, open_stream
from crm_gateway.scope import (
    SCOPE_RULES,
    CheckedRecord,
    ContactScope,
    check_record_id,
    seal,
)
from crm_gateway.streaming import CrmStream

logger = logging.getLogger("crm_gateway")

DATA_ACCESS_MODES = ("contact_token", "portal_auth", "staff")
MAX_PAGES = 1000  # iter_records stops here even if the CRM keeps saying there is more


def _records(reply: dict[str, Any], path: str) -> tuple[list[dict[str, Any]], int]:
    records = reply.get("records")
    if not isinstance(records, list) or not all(isinstance(item, dict) for item in records):
        raise errors.BadReply("a list reply without records", method="GET", path=path)
    total = reply.get("total_results", len(records))
    if isinstance(total, bool) or not isinstance(total, int | str) or not str(total).isdigit():
        raise errors.BadReply("a list reply without a valid total", method="GET", path=path)
    return records, int(total)


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

    def _scoped_query(
        self, model: str, query: ListQuery, extra: Iterable[Filter] = ()
    ) -> ListQuery | None:
        own_filters = SCOPE_RULES[model].filters(self.scope)
        if own_filters is None:
            return None
        scope_filters = [*own_filters, *extra]
        reserved = {item.name for item in scope_filters}
        for item in query.filters:
            for name in item.names:
                if name in reserved:
                    raise errors.NotAllowed(f"the filter {name} is set by the portal")
                self.allowlist.check_filter(model, name)
        order_field = query.order_field
        if order_field is not None:
            self.allowlist.check_fields(model, [order_field])
        fields = self._fields_for(model, query.fields)
        # Scope filters go last: with PHP-style parsing the last duplicate would win.
        return ListQuery(
            fields=fields,
            filters=query.filters,
            filter_text=query.filter_text,
            order=query.order,
            offset=query.offset,
            limit=query.limit,
        ).with_filters(scope_filters)

    def _shown(self, model: str, data: dict[str, Any]) -> dict[str, Any]:
        allowed = self.allowlist.rule(model).fields
        return {key: value for key, value in data.items() if key in allowed or key == "_display"}

    def _check(
        self,
        cls: type[Any],
        data: dict[str, Any],
        *,
        parent: CheckedRecord[Any] | None = None,
        linked: bool = False,
    ) -> CheckedRecord[Any] | None:
        """The record sealed as checked, or None (and a warning) if it is not the contact's.

        `linked`: the record came from the contact's own account (or contact) link list,
        the CRM's statement that it is linked to them (documents have no owner field).
        """
        model = cls.MODEL
        if model == "Document" and linked:
            passed = True
        elif model == "DocumentRevision":
            passed = (
                parent is not None
                and parent.model == "Document"
                and (data.get("document_id") == parent.id)
            )
        else:
            passed = SCOPE_RULES[model].allows(self.scope, data)
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
        parent: CheckedRecord[Any] | None,
        linked: bool = False,
    ) -> Page[CheckedRecord[Any]]:
        model = cls.MODEL
        extra = [Filter("document_id", parent.id)] if model == "DocumentRevision" and parent else []
        scoped = self._scoped_query(model, query, extra)
        if scoped is None:
            return Page([], 0, query.offset, query.limit)
        reply = await call_json(
            "GET",
            path,
            credential=self._data_credential(),
            params=scoped.params(),
            accept_language=self.scope.accept_language,
        )
        raw, total = _records(reply, path)
        if model in {"Document", "DocumentRevision"}:
            checked = [self._check(cls, data, parent=parent, linked=linked) for data in raw]
            kept = [record for record in checked if record is not None]
        else:
            # The common case, hoisted out of the per-record loop (a page has up to 200).
            allows, scope = SCOPE_RULES[model].allows, self.scope
            allowed = self.allowlist.rule(model).fields
            kept = [seal(cls, data, scope, allowed) for data in raw if allows(scope, data)]
        dropped = len(raw) - len(kept)
        if dropped and model not in {"Document", "DocumentRevision"}:
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
        if not self.allowlist.rule(cls.MODEL).listable or cls.MODEL == "DocumentRevision":
            raise errors.NotAllowed(f"the portal does not list {cls.MODEL} records")
        if cls.MODEL == "Document":
            # Documents hang off accounts and contacts by join links: list the contact's own.
            owner = ("Account", self.scope.account_id) if self.scope.account_id else None
            owner = owner or ("Contact", self.scope.contact_id)
            path = api_path("data", owner[0], owner[1], "documents")
            return await self._list(cls, path, query, parent=None, linked=True)
        return await self._list(cls, api_path("data", cls.MODEL), query, parent=None)

    async def iter_records[T: Record](
        self, cls: type[T], query: ListQuery | None = None
    ) -> AsyncIterator[CheckedRecord[T]]:
        """Every matching record, fetched 200 at a time."""
        query = query or ListQuery()
        offset = query.offset
        for _ in range(MAX_PAGES):
            page = await self.list_records(
                cls,
                ListQuery(
                    fields=query.fields,
                    filters=query.filters,
                    filter_text=query.filter_text,
                    order=query.order,
                    offset=offset,
                    limit=PAGE_LIMIT,
                ),
            )
            for record in page.records:
                yield record
            offset += PAGE_LIMIT
            if offset >= page.crm_total or not page.crm_count:
                return

    async def related[T: Record](
        self,
        record: CheckedRecord[Any],
        link: str,
        cls: type[T],
        query: ListQuery | None = None,
    ) -> Page[CheckedRecord[T]]:
        """Records linked to a checked record (Invoice.payments, Document.revisions...)."""
        self._require_checked(record)
        check_name(link, "link name")
        target = self.allowlist.link_target(record.model, link)
        if target != cls.MODEL:
            raise errors.NotAllowed(f"{record.model}.{link} holds {target}, not {cls.MODEL}")
        path = api_path("data", record.model, record.id, link)
        return await self._list(cls, path, query or ListQuery(), parent=record)

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
        parent = None
        if model == "DocumentRevision":
            document_id = data.get("document_id")
            if not isinstance(document_id, str):
                raise errors.NotFound("no such record", method="GET", path=path)
            from crm_gateway.models import Document

            parent = await self.get_record(Document, document_id)
        linked = False
        if model == "Document" and not SCOPE_RULES[model].allows(self.scope, data):
            linked = await self._document_is_linked(record_id)
        checked = self._check(cls, data, parent=parent, linked=linked)
        if checked is None:
            raise errors.NotFound("no such record", method="GET", path=path)
        return checked

    async def _document_is_linked(self, document_id: str) -> bool:
        """Whether the CRM links the document to the contact's account or the contact."""
        owners = [("accounts", self.scope.account_id), ("contacts", self.scope.contact_id)]
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
            raw, _ = _records(reply, path)
            if any(item.get("id") == owner_id for item in raw):
                return True
        return False

    async def own_contact(self) -> CheckedRecord[Contact]:
        return await self.get_record(Contact, self.scope.contact_id)

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
        """The file of a checked Document, DocumentRevision or Note, as a stream."""
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

    async def me(self) -> Me:
        """Who the contact's own token says it is (contact_token sign-in)."""
        if self.scope.credential is None:
            raise errors.ReauthenticationRequired("no contact token in this session")
        return await me(self.scope.credential, accept_language=self.scope.accept_language)


# --- Service calls (not on a contact's behalf) ------------------------------------------


async def version() -> Version:
    """`/version`, unauthenticated: is the CRM there, which edition."""
    return Version.from_json(await call_json("GET", "/version"))


async def me(credential: Credential, *, accept_language: str | None = None) -> Me:
    return Me.from_json(
        await call_json("GET", "/me", credential=credential, accept_language=accept_language)
    )


async def portal_auth(contact_id: str) -> TokenSet:
    """`POST /portal/auth`: a token scoped to one contact, minted with the staff credential."""
    contact_id = check_record_id(contact_id)
    path = "/portal/auth"
    reply = await call_json(
        "POST", path, credential=staff_credential(), json={"contact_id": contact_id}
    )
    return TokenSet.from_reply(reply, path=path)


async def meta_locale(*, accept_language: str | None = None) -> Locale:
    return Locale.from_json(
        await call_json(
            "GET", "/meta/locale", credential=staff_credential(), accept_language=accept_language
        )
    )


async def meta_fields(model: str, *, accept_language: str | None = None) -> ModelFields:
    check_name(model, "model name")
    reply = await call_json(
        "GET",
        api_path("meta", "fields", model),
        credential=staff_credential(),
        accept_language=accept_language,
    )
    return ModelFields.from_json(reply)


async def find_contacts_by_email(email: str) -> list[Contact]:
    """Sign-in lookup with the staff credential (`filters[any_email]`), exact matches only."""
    query = ListQuery(
        fields=(
            "first_name",
            "last_name",
            "email1",
            "email2",
            "primary_account_id",
            "portal_active",
            "portal_name",
        ),
        filters=(Filter("any_email", email),),
        limit=20,
    )
    path = "/data/Contact"
    reply = await call_json("GET", path, credential=staff_credential(), params=query.params())
    raw, _ = _records(reply, path)
    wanted = email.strip().lower()
    contacts = [Contact.from_json(data) for data in raw]
    # any_email matches substrings: only an exact address identifies a person.
    return [
        contact
        for contact in contacts
        if wanted
        in {(contact.email1 or "").strip().lower(), (contact.email2 or "").strip().lower()}
    ]


async def exchange_authorization_code(
    code: str, redirect_uri: str, code_verifier: str | None = None
) -> TokenSet:
    """The contact OAuth flow's last step: `authorization_code` on /auth/contact/access_token,
    with the PKCE verifier when the authorization request sent a challenge."""
    path = "/auth/contact/access_token"
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": settings.ONECRM_CLIENT_ID,
        "client_secret": settings.ONECRM_CLIENT_SECRET,
    }
    if code_verifier:
        body["code_verifier"] = code_verifier
    try:
        reply = await call_json("POST", path, json=body)
    except (errors.BadRequest, errors.Unauthorized) as exc:
        raise errors.ReauthenticationRequired(
            "the sign-in code was refused",
            method="POST",
            path=path,
            error=exc.error,
            crm_message=exc.message,
            status=exc.status,
        ) from None
    return TokenSet.from_reply(reply, path=path)


async def exchange_user_authorization_code(
    code: str, redirect_uri: str, code_verifier: str
) -> TokenSet:
    """The staff sign-in's last step: `authorization_code` (with PKCE) on
    /auth/user/access_token, for a CRM *user*. The tokens only ask /me who it is."""
    path = "/auth/user/access_token"
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": settings.ONECRM_CLIENT_ID,
        "client_secret": settings.ONECRM_CLIENT_SECRET,
        "code_verifier": code_verifier,
    }
    try:
        reply = await call_json("POST", path, json=body)
    except (errors.BadRequest, errors.Unauthorized) as exc:
        raise errors.ReauthenticationRequired(
            "the sign-in code was refused",
            method="POST",
            path=path,
            error=exc.error,
            crm_message=exc.message,
            status=exc.status,
        ) from None
    return TokenSet.from_reply(reply, path=path)


__all__ = [
    "ContactGateway",
    "DocumentRevision",
    "exchange_authorization_code",
    "exchange_user_authorization_code",
    "find_contacts_by_email",
    "me",
    "meta_fields",
    "meta_locale",
    "portal_auth",
    "version",
]
