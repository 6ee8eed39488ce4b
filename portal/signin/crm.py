"""What sign-in asks of the CRM, through the gateway: who a contact is, whether they may
come in, and which credential will read their data afterwards."""

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from crm_gateway import errors
from crm_gateway.credentials import (
    ContactCredential,
    TokenSet,
    portal_token_credential,
    staff_credential,
)
from crm_gateway.gateway import exchange_authorization_code, find_contacts_by_email
from crm_gateway.rest import api_path, call_json

logger = logging.getLogger(__name__)

CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "email1",
    "email2",
    "primary_account_id",
    "portal_active",
)


@dataclass(frozen=True)
class Identity:
    contact_id: str
    account_id: str
    name: str
    email: str
    # False when the CRM says the contact may not use the portal (portal_active off).
    allowed: bool = True


def _contact_id(value: Any) -> str:
    """`/me` names a contact `Contacts:<id>`; records name it `<id>`."""
    text = str(value or "")
    return text.split(":", 1)[1] if ":" in text else text


def _identity(record: dict[str, Any], contact_id: str = "") -> Identity:
    name = " ".join(
        str(part) for part in (record.get("first_name"), record.get("last_name")) if part
    ) or str(record.get("name") or "")
    portal_active = record.get("portal_active", True)
    return Identity(
        contact_id=contact_id or _contact_id(record.get("id")),
        account_id=str(record.get("primary_account_id") or ""),
        name=name,
        email=str(record.get("email1") or record.get("email") or ""),
        allowed=portal_active not in (False, 0, "0", "false", "no"),
    )


async def exchange_code(code: str, redirect_uri: str, code_verifier: str) -> dict:
    """Trade the authorization code (and the PKCE verifier) for the contact's tokens."""
    tokens = await exchange_authorization_code(code, redirect_uri, code_verifier)
    return tokens.as_dict()


async def read_identity(tokens: dict) -> Identity:
    """`/me` with the contact's own token: the CRM says who signed in."""
    me = await call_json("GET", "/me", credential=ContactCredential(TokenSet.from_dict(tokens)))
    contact_id = _contact_id(me.get("id"))
    if not contact_id:
        raise errors.BadReply("/me did not name a contact", path="/me", status=200)
    if not str(me.get("id", "")).startswith(("Contacts:", "Contact:")) and ":" in str(
        me.get("id", "")
    ):
        # A CRM *user* signed in on the contact page: not a customer of this portal.
        raise errors.Forbidden("a CRM user is not a portal contact", path="/me", status=403)
    if "primary_account_id" in me or "portal_active" in me:
        return _identity(me, contact_id)
    # The CRM's /me has no account: read the contact's record with the staff credential.
    found = await get_contact_identity(contact_id)
    if found is None:
        raise errors.NotFound("the signed-in contact has no record", path="/me", status=404)
    return found


async def get_contact_identity(contact_id: str) -> Identity | None:
    """The contact's record, read with the staff credential (the id comes from the CRM
    or from our own sign-in link, never from a URL a visitor typed)."""
    try:
        reply = await call_json(
            "GET",
            api_path("data", "Contact", contact_id),
            credential=staff_credential(),
            params=[("fields[]", field) for field in CONTACT_FIELDS],
        )
    except errors.NotFound:
        return None
    record = reply.get("record")
    if not isinstance(record, dict):
        raise errors.BadReply("the contact reply has no record", status=200)
    return _identity(record, contact_id)


async def find_contact_by_email(email: str) -> Identity | None:
    """The one contact whose e-mail is exactly this address, or None: two contacts
    sharing an address are refused rather than guessed between."""
    matches = await find_contacts_by_email(email)
    if len(matches) != 1:
        if len(matches) > 1:
            logger.warning("e-mail sign-in refused: %d contacts share one address", len(matches))
        return None
    contact = matches[0]
    return _identity(
        {
            "id": contact.id,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "email1": contact.email1,
            "primary_account_id": contact.primary_account_id,
            "portal_active": contact.portal_active,
        }
    )


async def data_credential(identity: Identity, oauth_tokens: dict | None) -> tuple[str, dict]:
    """Which credential reads this contact's data, and the tokens the session keeps.

    - contact_token: the contact's own OAuth tokens (kept in the session, refreshed).
    - portal_auth: a token minted by /portal/auth; the gateway mints, caches and re-mints
      it, so the session keeps nothing. Minting once here proves it works.
    - staff: the staff credential, scoped by the gateway; nothing to keep.
    A contact who came by e-mail link has no OAuth tokens: contact_token falls back to
    portal_auth, as the vendor's own portal does.
    """
    mode = settings.ONECRM_DATA_ACCESS
    if mode == "contact_token" and oauth_tokens:
        return mode, oauth_tokens
    if mode == "staff":
        return mode, {}
    await portal_token_credential(identity.contact_id).authorization()
    return "portal_auth", {}


async def account_name(identity: Identity) -> str:
    """The contact's account name for the page header (from the CRM, not stored by us)."""
    if not identity.account_id:
        return ""
    try:
        reply = await call_json(
            "GET",
            api_path("data", "Account", identity.account_id),
            credential=staff_credential(),
            params=[("fields[]", "name")],
        )
    except (errors.NotFound, errors.Forbidden):
        return ""
    record = reply.get("record") or {}
    return str(record.get("name") or "") if isinstance(record, dict) else ""
