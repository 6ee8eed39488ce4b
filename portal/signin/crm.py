"""What sign-in asks of the CRM, through the gateway: who a contact is, whether they may
come in, and which credential will read their data afterwards."""

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from crm_gateway import (
    Contact,
    ContactCredential,
    StaffGateway,
    TokenSet,
    errors,
    exchange_authorization_code,
    me,
    portal_token_credential,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    contact_id: str
    account_id: str
    name: str
    email: str
    # False when the CRM says the contact may not use the portal (portal_active off).
    allowed: bool = True


def _portal_active(value: Any) -> bool:
    """Only a contact the CRM marks portal-active may come in: a missing or empty value
    is a no, on every path (failing closed)."""
    return value is True or str(value).strip().lower() in {"1", "true", "yes", "on"}


def _identity(contact: Contact) -> Identity:
    name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    return Identity(
        contact_id=contact.id,
        account_id=contact.primary_account_id or "",
        name=name or contact.name or "",
        email=contact.email1 or "",
        allowed=_portal_active(contact.portal_active),
    )


async def exchange_code(code: str, redirect_uri: str, code_verifier: str) -> dict:
    """Trade the authorization code (and the PKCE verifier) for the contact's tokens."""
    tokens = await exchange_authorization_code(code, redirect_uri, code_verifier)
    return tokens.as_dict()


async def read_identity(tokens: dict) -> Identity:
    """`/me` with the contact's own token: the CRM says who signed in."""
    who = await me(ContactCredential(TokenSet.from_dict(tokens)))
    named = who.id or ""
    # `/me` names a contact `Contacts:<id>`; records name it `<id>`.
    contact_id = named.partition(":")[2] if ":" in named else named
    if not contact_id:
        raise errors.BadReply("/me did not name a contact", path="/me", status=200)
    if ":" in named and who.kind not in {"Contacts", "Contact"}:
        # A CRM *user* signed in on the contact page: not a customer of this portal.
        raise errors.Forbidden("a CRM user is not a portal contact", path="/me", status=403)
    if who.primary_account_id is not None and "portal_active" in who.extra:
        name = " ".join(part for part in (who.first_name, who.last_name) if part)
        return Identity(
            contact_id=contact_id,
            account_id=who.primary_account_id or "",
            name=name or who.name or "",
            email=str(who.extra.get("email1") or who.email or ""),
            allowed=_portal_active(who.extra["portal_active"]),
        )
    # 1CRM's /me names the contact but need not say whether they may use the portal (nor
    # their account): the contact's record decides, read with the staff credential. A
    # missing portal_active never admits anyone.
    found = await get_contact_identity(contact_id)
    if found is None:
        raise errors.NotFound("the signed-in contact has no record", path="/me", status=404)
    return found


async def get_contact_identity(contact_id: str) -> Identity | None:
    """The contact's record, read with the staff credential (the id comes from the CRM,
    from our own sign-in link or from the session, never from a URL a visitor typed)."""
    contact = await StaffGateway().contact(contact_id)
    return _identity(contact) if contact is not None else None


async def find_contact_by_email(email: str) -> Identity | None:
    """The one contact whose e-mail is exactly this address, or None: two contacts
    sharing an address are refused rather than guessed between."""
    matches = await StaffGateway().find_contacts_by_email(email)
    if len(matches) != 1:
        if len(matches) > 1:
            logger.warning("e-mail sign-in refused: %d contacts share one address", len(matches))
        return None
    return _identity(matches[0])


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
    account = await StaffGateway().account(identity.account_id)
    return (account.name or "") if account is not None else ""
