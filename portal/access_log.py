"""gunicorn's access log, without the secrets some URLs carry.

An e-mailed sign-in link holds its one-time token in the path (/login/email/<token>/),
and the OAuth callback brings the authorization code and state in the query string.
Whoever reads the access log within the link's 15 minutes must not be able to sign in
as the contact, so those parts are logged as "…". The remote address is the client's
(portal/client_address.py), not the load balancer's. Enabled by gunicorn.conf.py.
"""

import re
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


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["h"] = client_address(environ) or atoms["h"]
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }
