"""Who may reach what (NOTES.md "What a contact token can reach" and "Our assumptions").

* A contact's own OAuth token carries only the `profile` scope: it reaches `/me` and
  nothing else (403), unless the `contact_token_reads_data` switch is on, in which case
  it reads like a `/portal/auth` token.
* A contact-scoped token (minted by `/portal/auth`, or the contact's OAuth token when
  switched on) reads only models a contact may use (others 403) and only records of the
  contact's primary account or the contact itself (others 404); notes only with
  `portal_flag`. The `leaky` switch drops the record check (not the model check), so the
  portal's own scope check can be tested.
* Users (Basic, their own OAuth token, or a client's `client_credentials` token owned by a
  user) see everything; non-admin users may not delete records or change users.
"""

from __future__ import annotations

from crm_emulator import control, schema, store
from crm_emulator.auth import Principal
from crm_emulator.errors import ApiError
from crm_emulator.filtering import truthy

MODULE_TO_MODEL = {d.module: name for name, d in schema.MODELS.items()}
MODULE_TO_MODEL.update({"Cases": "aCase", "Invoices": "Invoice", "Quotes": "Quote"})


def require(principal: Principal, scope: str) -> None:
    """Authenticated, and allowed the scope (`read`, `write` or `profile`)."""
    if principal.kind == "anonymous":
        raise ApiError(
            401,
            "unauthorized",
            "Authentication required",
            hint="Send Authorization: Bearer <access token>",
        )
    if principal.kind == "contact_oauth" and scope != "profile":
        if not control.switch("contact_token_reads_data"):
            raise ApiError(
                403,
                "forbidden",
                "A contact's access token only provides access to the contact's own profile",
                hint="Use /me, or a token from /portal/auth",
            )
        return
    if principal.kind == "basic":
        return
    if scope not in principal.scopes:
        raise ApiError(403, "insufficient_scope", f"The access token lacks the {scope!r} scope")


def contact_models() -> frozenset[str]:
    """Models a contact-scoped token may use now (`contact_account_refused` takes Account)."""
    if control.switch("contact_account_refused"):
        return schema.CONTACT_MODELS - {"Account"}
    return schema.CONTACT_MODELS


def check_model(principal: Principal, model: str, action: str = "read") -> None:
    """403 when this kind of caller may not use the model at all (or not this way)."""
    if principal.is_contact:
        if model not in contact_models():
            raise ApiError(403, "forbidden", f"Access to {model} is not allowed for contacts")
        if action != "read" and (model not in schema.CONTACT_WRITABLE or action == "delete"):
            raise ApiError(403, "forbidden", f"Contacts may not {action} {model} records")
        return
    if not principal.is_admin and (action == "delete" or (model == "User" and action != "read")):
        raise ApiError(403, "forbidden", f"Your role does not allow to {action} {model} records")


def check_links(principal: Principal, model: str, link: str) -> None:
    """`contact_links_refused`: related-record links are for users only (403)."""
    if principal.is_contact and control.switch("contact_links_refused"):
        raise ApiError(
            403,
            "forbidden",
            f"Related records ({model}/{link}) are not available to contact tokens",
        )


def require_staff_for_bytes(principal: Principal, what: str) -> None:
    """`bytes_staff_only`: PDFs and files only for a user's credential (staff, Basic)."""
    if principal.is_contact and control.switch("bytes_staff_only"):
        raise ApiError(403, "forbidden", f"Contact tokens may not fetch {what}")


def scoped(principal: Principal) -> bool:
    """Whether record-level scoping applies to this caller right now."""
    return principal.is_contact and not control.switch("leaky")


def visible(principal: Principal, model: str, record: dict) -> bool:
    if not scoped(principal):
        return True
    return _visible(principal.account_id, principal.contact_id, model, record, depth=0)


def _visible(account_id: str, contact_id: str, model: str, record: dict, depth: int) -> bool:
    if depth > 3:
        return False

    def mine(account_field: str, contact_field: str = "") -> bool:
        if account_id and str(record.get(account_field) or "") == account_id:
            return True
        return bool(contact_field) and str(record.get(contact_field) or "") == contact_id

    def parent_visible(parent_model: str, parent_id: str) -> bool:
        parent = store.get(parent_model, parent_id)
        return parent is not None and _visible(
            account_id, contact_id, parent_model, parent, depth + 1
        )

    record_id = str(record.get("id"))
    if model == "Currency":
        return True
    if model == "Account":
        return bool(account_id) and record_id == account_id
    if model == "Contact":
        return record_id == contact_id or mine("primary_account_id")
    if model in {"Invoice", "Quote"}:
        return mine("billing_account_id", "billing_contact_id")
    if model == "aCase":
        return mine("account_id", "cust_contact_id")
    if model == "Note":
        if not truthy(record.get("portal_flag")):
            return False
        if mine("account_id", "contact_id"):
            return True
        parent_model = MODULE_TO_MODEL.get(str(record.get("parent_type") or ""), "")
        parent_model = parent_model or str(record.get("parent_type") or "")
        return parent_model in schema.CONTACT_MODELS and parent_visible(
            parent_model, str(record.get("parent_id") or "")
        )
    if model == "Document":
        if mine("account_id", "contact_id"):
            return True
        linked = store.linked("Document", record_id, "accounts")
        contacts = store.linked("Document", record_id, "contacts")
        return (bool(account_id) and account_id in linked) or contact_id in contacts
    if model == "DocumentRevision":
        return parent_visible("Document", str(record.get("document_id") or ""))
    if model == "Payment":
        if mine("account_id"):
            return True
        return any(
            parent_visible("Invoice", invoice_id)
            for invoice_id in store.linked("Payment", record_id, "invoices")
        )
    for parent in ("Invoice", "Quote"):
        if model.startswith(parent) and model != parent:
            return parent_visible(parent, str(record.get(f"{parent.lower()}_id") or ""))
    return False


def get_visible(principal: Principal, model: str, record_id: str) -> dict:
    """The record, or 404 when it does not exist or is outside the caller's scope."""
    record = store.get(model, record_id)
    if record is None or not visible(principal, model, record):
        raise ApiError(404, "not_found", f"{model} record {record_id} not found")
    return record
