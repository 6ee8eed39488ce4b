"""gunicorn's access log, without the secrets some URLs carry.

An e-mailed sign-in link holds its one-time token in the path (/login/email/<token>/),
and the OAuth callback brings the authorization code and state in the query string.
Whoever reads the access log within the link's 15 minutes must not be able to sign in
as the contact, so those parts are logged as "…". The remote address is the client's
(portal/client_address.py), not the load balancer's. Enabled by gunicorn.conf.py.

A request whose client went away before the portal answered is logged with status 499
(nginx's "client closed request"), not 500: gunicorn logs 500 for any request the
application returned from without starting a response, which is also what Django does
when the client leaves (it cancels the view and sends nothing). `noting_departures`
(portal/asgi.py) watches the request's ASGI messages for the client's `http.disconnect`;
a 500 the portal itself answers, or gunicorn's own for a crash, stays 500.
"""

import re
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

from gunicorn.glogging import Logger

from portal.client_address import client_address

SECRETS_IN_URLS = [
    (re.compile(r"(/login/email/)[^/?#\s]+"), r"\1…"),
    (re.compile(r"(?i)\b(code|state|token|access_token|refresh_token)=[^&\s#]*"), r"\1=…"),
]


def redact(text: str) -> str:
    for pattern, replacement in SECRETS_IN_URLS:
        text = pattern.sub(replacement, text)
    return text


CLIENT_CLOSED_REQUEST = 499

# Whether the client of the request being served went away. gunicorn's ASGI worker serves
# each request in a task of its own, awaits the application in it and writes the access
# line in that task after the application returns: set there, it is this request's alone.
_client_left: ContextVar[bool] = ContextVar("portal_client_left", default=False)

ASGIApp = Callable[..., Awaitable[None]]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]


def noting_departures(app: ASGIApp) -> ASGIApp:
    """The HTTP application, noting for the access log whether its client went away."""

    async def application(scope: dict[str, Any], receive: Receive, send: Any) -> None:
        left = False

        async def watched_receive() -> Mapping[str, Any]:
            nonlocal left
            message = await receive()
            if message["type"] == "http.disconnect":
                left = True  # read in a task of Django's own (a closure, not the context)
            return message

        try:
            await app(scope, watched_receive, send)
        finally:
            if left:
                _client_left.set(True)

    return application


def _abandoned(resp: Any) -> bool:
    """gunicorn's own 500 (no response started, nothing sent) for a client that left."""
    return resp.status == 500 and not resp.headers and not resp.sent and _client_left.get()


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["h"] = client_address(environ) or atoms["h"]
        if _abandoned(resp):
            atoms["s"] = CLIENT_CLOSED_REQUEST
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }
