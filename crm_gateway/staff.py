"""`StaffGateway`: the CRM as the portal itself sees it, with its own (staff) credential.

For everything that is not one contact's pages: Test connection and `portal_check`,
the readiness probe, the admin's Find contact, the sign-in's contact lookups, the CRM's
locale and currencies. It goes through the same transport as `ContactGateway`
(crm_gateway.rest: deadline, retries, logging, the error tree) with the same credential
(`staff_credential()`: HTTP Basic when ONECRM_BASIC_USERNAME is set, else the
`client_credentials` token), so a staff tool can never drift from what pages use.

Staff signing in to the admin with their 1CRM user account use the two calls at the end
(`exchange_user_authorization_code`, `user_me`): the CRM user's own token, never the
portal's credential.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from crm_gateway import errors
from crm_gateway.credentials import (
    BasicCredential,
    ContactCredential,
    StaffCredential,
    TokenSet,
    exchange_code,
    staff_credential,
)
from crm_gateway.gateway import me
from crm_gateway.models import Account, Contact, Currency, Locale, Me, ModelFields, Version
from crm_gateway.query import Filter, ListQuery, check_name
from crm_gateway.replies import records_of
from crm_gateway.rest import api_path, call_json
from crm_gateway.scope import check_record_id

# What staff and the sign-in read of a contact.
CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "email1",
    "email2",
    "primary_account_id",
    "portal_active",
    "portal_name",
)
MAX_SEARCH_RESULTS = 50


class StaffGateway:
    """Typed calls with the portal's own credential. `deadline` (seconds) shortens
    ONECRM_DEADLINE for a caller that must answer sooner (the readiness probe)."""

    def __init__(self, *, deadline: float | None = None) -> None:
        self.credential: StaffCredential | BasicCredential = staff_credential()
        self.deadline = deadline

    def __repr__(self) -> str:
        return f"<StaffGateway credential={self.credential.kind}>"

    @property
    def uses_basic(self) -> bool:
        return isinstance(self.credential, BasicCredential)

    async def _get(
        self,
        path: str,
        params: list[tuple[str, str]] | None = None,
        *,
        accept_language: str | None = None,
    ) -> dict[str, Any]:
        return await call_json(
            "GET",
            path,
            credential=self.credential,
            params=params,
            accept_language=accept_language,
            deadline=self.deadline,
        )

    # --- is the CRM there, and does it take the portal's credential
    async def version(self) -> Version:
        """`/version` without a credential: the CRM answers, which version and products."""
        return Version.from_json(await call_json("GET", "/version", deadline=self.deadline))

    async def grant_token(self) -> None:
        """With OAuth, a new `client_credentials` grant now (cached like any other), so a
        token cached before the secret changed cannot hide a broken secret. With Basic
        there is nothing to grant: `signed_in_version` proves the password."""
        if isinstance(self.credential, StaffCredential):
            await self.credential.grant_now()

    async def signed_in_version(self) -> Version:
        """`/version` with the staff credential: `authenticated` says whether it is taken."""
        return Version.from_json(await self._get("/version"))

    # --- metadata
    async def locale(self, *, accept_language: str | None = None) -> Locale:
        return Locale.from_json(await self._get("/meta/locale", accept_language=accept_language))

    async def currencies(self) -> dict[str, Currency]:
        """The CRM's currencies by their CRM id (invoices name theirs by id)."""
        path = "/data/Currency"
        params = [*[("fields[]", name) for name in ("name", "iso4217", "symbol")]]
        reply = await self._get(path, [*params, ("limit", "200")])
        raw, _ = records_of(reply, path)
        return {
            data["id"]: Currency.from_json(data)
            for data in raw
            if isinstance(data.get("id"), str) and data["id"]
        }

    async def model_fields(self, model: str, *, accept_language: str | None = None) -> ModelFields:
        check_name(model, "model name")
        reply = await self._get(api_path("meta", "fields", model), accept_language=accept_language)
        return ModelFields.from_json(reply)

    # --- contacts and accounts (ids from the CRM or our own links, never from a URL)
    async def find_contacts(self, text: str, *, limit: int = 20) -> list[Contact]:
        """Staff's search: by any e-mail address when `text` has an @, else by name."""
        text = text.strip()[:254]
        limit = max(1, min(limit, MAX_SEARCH_RESULTS))
        if "@" in text:
            query = ListQuery(CONTACT_FIELDS, filters=(Filter("any_email", text),), limit=limit)
        else:
            query = ListQuery(CONTACT_FIELDS, filter_text=text, limit=limit)
        path = "/data/Contact"
        raw, _ = records_of(await self._get(path, query.params()), path)
        return [Contact.from_json(data) for data in raw if data.get("id")]

    async def find_contacts_by_email(self, email: str) -> list[Contact]:
        """The sign-in's lookup: contacts with exactly this address (`any_email` also
        matches substrings, and only an exact address identifies a person)."""
        wanted = email.strip().lower()
        if "@" not in wanted:
            return []
        return [
            contact
            for contact in await self.find_contacts(email)
            if wanted
            in {(contact.email1 or "").strip().lower(), (contact.email2 or "").strip().lower()}
        ]

    async def contact(self, contact_id: str) -> Contact | None:
        """One contact's record, or None when the CRM has none with this id."""
        try:
            contact_id = check_record_id(contact_id)
            reply = await self._get(
                api_path("data", "Contact", contact_id),
                [("fields[]", name) for name in CONTACT_FIELDS],
            )
        except errors.NotFound:
            return None
        return Contact.from_json(_record_of(reply, "Contact"))

    async def account(self, account_id: str) -> Account | None:
        """One account's record, or None when the CRM has none (or hides it)."""
        try:
            account_id = check_record_id(account_id)
            reply = await self._get(api_path("data", "Account", account_id), [("fields[]", "name")])
        except (errors.NotFound, errors.Forbidden):
            return None
        return Account.from_json(_record_of(reply, "Account"))


def _record_of(reply: dict[str, Any], model: str) -> dict[str, Any]:
    record = reply.get("record")
    if not isinstance(record, dict):
        raise errors.BadReply(f"the {model} reply has no record", status=200)
    return record


# --- Staff sign-in with their 1CRM user account -----------------------------------------


async def exchange_user_authorization_code(
    code: str, redirect_uri: str, code_verifier: str
) -> TokenSet:
    """The staff OAuth flow's last step: `authorization_code` (with the PKCE verifier) on
    /auth/user/access_token, as the portal's OAuth client. A refused code is
    `ReauthenticationRequired`; the tokens are for `user_me` only, then forgotten."""
    return await exchange_code("user", code, redirect_uri, code_verifier)


async def user_me(tokens: TokenSet) -> Me:
    """`/me` with a CRM user's own token. `Me.kind` is "Users" for a CRM user; the caller
    decides whether that user is staff here."""
    # Without a refresh token the credential never renews: a 401 stays a 401.
    credential = ContactCredential(dataclasses.replace(tokens, refresh_token=None), kind="user")
    return await me(credential)
