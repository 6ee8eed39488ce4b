"""One tree of errors for everything that can go wrong between the portal and the CRM.

Views catch these, never raw httpx exceptions. No error ever carries a token, a secret
or a request header: the message is built from the method, the path (no query string)
and the CRM's own `error` / `message` / `hint`, scrubbed of any secret the gateway knows.
"""

from __future__ import annotations


class CrmError(Exception):
    """Base of every gateway error."""

    status: int | None = None

    def __init__(
        self,
        message: str = "",
        *,
        method: str = "",
        path: str = "",
        error: str = "",
        crm_message: str = "",
        hint: str = "",
        status: int | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.error = error
        self.message = crm_message
        self.hint = hint
        if status is not None:
            self.status = status
        self.detail = message
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.detail or type(self).__name__]
        if self.method or self.path:
            parts.append(f"[{' '.join(p for p in (self.method, self.path) if p)}]")
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.error:
            parts.append(f"error={self.error!r}")
        if self.message:
            parts.append(f"message={self.message!r}")
        if self.hint:
            parts.append(f"hint={self.hint!r}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._render()!r})"


# --- Refusals decided by the portal itself, before any network call.
class NotAllowed(CrmError):
    """The allow-list does not let the portal reach this on a contact's behalf."""


class InvalidQuery(CrmError, ValueError):
    """A list query that cannot be expressed safely (bad field or filter name...)."""


# --- The CRM could not be reached, or did not answer in time.
class CrmUnavailable(CrmError):
    """Connection-level trouble: the CRM is down, slow or unreachable."""


class CrmConnectionError(CrmUnavailable):
    """No HTTP answer. The subclasses say why, when the transport could tell."""


class HostNotFound(CrmConnectionError):
    """The CRM's host name does not resolve (DNS)."""


class TlsFailed(CrmConnectionError):
    """The TLS handshake failed: untrusted or wrong certificate, or no TLS on that port."""


class ConnectionRefused(CrmConnectionError):
    """Nothing listens on the CRM's port."""


class ConnectionDropped(CrmConnectionError):
    """The CRM closed the connection without a proper HTTP answer."""


class InvalidApiUrl(CrmConnectionError):
    """ONECRM_API_URL is not a URL the portal can call (no scheme, bad host...)."""


class CrmTimeout(CrmUnavailable):
    pass


class ConnectTimeout(CrmTimeout):
    """The connection itself was not established in time (not a slow answer)."""


class StreamBroken(CrmUnavailable):
    """A download failed mid-way (reset, truncation, stall): the file is incomplete."""


# --- The CRM answered, but not with what it should.
class BadReply(CrmError):
    """The body is not the JSON it should be (HTML error page, wrong shape...)."""


class NoWayHere(CrmError):
    """Every way the gateway knows to read something was refused ("not here") by this
    CRM: not a missing record (never a 404 page), something to enable in the CRM."""


# --- The CRM answered with an error status.
class CrmStatusError(CrmError):
    pass


class BadRequest(CrmStatusError):
    status = 400


class Unauthorized(CrmStatusError):
    status = 401


class ReauthenticationRequired(Unauthorized):
    """The contact's tokens cannot be refreshed any more (revoked, expired): sign in again."""


class Forbidden(CrmStatusError):
    status = 403


class NotFound(CrmStatusError):
    status = 404


class Conflict(CrmStatusError):
    status = 409


class PayloadTooLarge(CrmStatusError):
    status = 413


class RateLimited(CrmStatusError):
    status = 429

    def __init__(self, *args: object, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class ServerError(CrmStatusError):
    """Any 5xx."""


_BY_STATUS: dict[int, type[CrmStatusError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
}


def error_class_for(status: int) -> type[CrmStatusError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    return CrmStatusError
