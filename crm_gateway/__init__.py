"""crm_gateway: the one road from the portal to the CRM.

Everything outside this package imports from here (and the error tree from
`crm_gateway.errors`), never from the other modules and never httpx2: a lint rule
(pyproject.toml, ruff TID251) fails CI otherwise. See docs/gateway.md and
docs/architecture.md ("The road to the CRM").

- `ContactGateway`: one signed-in contact's data (scoped reads, allow-listed writes).
- `StaffGateway`: the portal's own calls (Test connection, readiness, Find contact,
  sign-in lookups, locale and currencies), with the staff credential.
- The sign-in calls: `exchange_authorization_code` and `me` (contacts),
  `exchange_user_authorization_code` and `user_me` (staff with their CRM user).
"""

from crm_gateway.allowlist import DEFAULT_ALLOWLIST, QUOTE_DECISION_STAGES, Allowlist
from crm_gateway.calllog import CallLog, CallRecord
from crm_gateway.client import close_http_client
from crm_gateway.credentials import (
    BasicCredential,
    ContactCredential,
    TokenSet,
    forget_cached_tokens,
    portal_token_credential,
    staff_credential,
)
from crm_gateway.errors import (
    BadReply,
    BadRequest,
    Conflict,
    ConnectionDropped,
    ConnectionRefused,
    ConnectTimeout,
    CrmConnectionError,
    CrmError,
    CrmStatusError,
    CrmTimeout,
    CrmUnavailable,
    Forbidden,
    HostNotFound,
    InvalidApiUrl,
    InvalidQuery,
    NotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ReauthenticationRequired,
    ServerError,
    StreamBroken,
    TlsFailed,
    Unauthorized,
)
from crm_gateway.gateway import ContactGateway, exchange_authorization_code, me
from crm_gateway.models import (
    Account,
    Contact,
    Currency,
    Document,
    FileInfo,
    Invoice,
    Locale,
    Me,
    ModelFields,
    Note,
    Page,
    Payment,
    Quote,
    Record,
    Tally,
    Version,
    to_date,
    to_decimal,
)
from crm_gateway.query import PAGE_LIMIT, DateFilter, DateOperator, Filter, ListQuery
from crm_gateway.responses import stream_response
from crm_gateway.scope import CheckedRecord, ContactScope
from crm_gateway.staff import StaffGateway, exchange_user_authorization_code, user_me
from crm_gateway.streaming import CrmStream, safe_media_type

__all__ = [
    "DEFAULT_ALLOWLIST",
    "PAGE_LIMIT",
    "QUOTE_DECISION_STAGES",
    "Account",
    "Allowlist",
    "BadReply",
    "BadRequest",
    "BasicCredential",
    "CallLog",
    "CallRecord",
    "CheckedRecord",
    "Conflict",
    "ConnectTimeout",
    "ConnectionDropped",
    "ConnectionRefused",
    "Contact",
    "ContactCredential",
    "ContactGateway",
    "ContactScope",
    "CrmConnectionError",
    "CrmError",
    "CrmStatusError",
    "CrmStream",
    "CrmTimeout",
    "CrmUnavailable",
    "Currency",
    "DateFilter",
    "DateOperator",
    "Document",
    "FileInfo",
    "Filter",
    "Forbidden",
    "HostNotFound",
    "InvalidApiUrl",
    "InvalidQuery",
    "Invoice",
    "ListQuery",
    "Locale",
    "Me",
    "ModelFields",
    "NotAllowed",
    "NotFound",
    "Note",
    "Page",
    "PayloadTooLarge",
    "Payment",
    "Quote",
    "RateLimited",
    "ReauthenticationRequired",
    "Record",
    "ServerError",
    "StaffGateway",
    "StreamBroken",
    "Tally",
    "TlsFailed",
    "TokenSet",
    "Unauthorized",
    "Version",
    "close_http_client",
    "exchange_authorization_code",
    "exchange_user_authorization_code",
    "forget_cached_tokens",
    "me",
    "portal_token_credential",
    "safe_media_type",
    "staff_credential",
    "stream_response",
    "to_date",
    "to_decimal",
    "user_me",
]
