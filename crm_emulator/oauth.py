"""OAuth 2.0 for contacts and users, and `/portal/auth`.

* `/auth/{contact,user}/authorize` (GET shows a sign-in page, POST checks it):
  `response_type=code` only; `response_type=token` (the implicit flow) is refused with
  `error=unsupported_response_type` sent back to the redirect URI, as RFC 6749 says.
  PKCE S256 is enforced when the client sends a `code_challenge` (`plain` is refused).
* `/auth/{contact,user}/access_token` (POST, JSON or form body; client credentials in the
  body or HTTP Basic): `authorization_code`, `password`, `client_credentials`,
  `refresh_token`. Codes live 10 minutes and work once: a reused code is `invalid_grant`
  and revokes the refresh tokens it produced. Refresh tokens rotate: each use returns a
  new one, and reusing an old one is `invalid_grant` and revokes the whole chain.
* Redirect URIs must be registered for the client; `demo-portal` also accepts any
  `http://127.0.0.1:<port>/login/oauth/callback/` (and `localhost`), so a portal started
  on a random port in tests can sign in without registering first.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.request import QueryDict
from django.utils import translation
from django.utils.translation import gettext as _

from crm_emulator import auth, control, store
from crm_emulator.errors import ApiError, OAuthError
from crm_emulator.models import ApiClient, Grant

DEMO_CLIENT_ID = "demo-portal"
LOOPBACK_CALLBACK = re.compile(r"^http://(127\.0\.0\.1|localhost):\d{1,5}/login/oauth/callback/$")
CODE_TTL = 600
REFRESH_TTL = 30 * 24 * 3600
KNOWN_SCOPES = frozenset({"read", "write", "profile"})
REALMS = ("contact", "user")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def redirect_allowed(client: ApiClient, uri: str) -> bool:
    if uri in (client.redirect_uris or []):
        return True
    return client.client_id == DEMO_CLIENT_ID and bool(LOOPBACK_CALLBACK.match(uri))


def _with_params(uri: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(uri).query else "?"
    return uri + separator + urlencode(params)


# --- authorize ---------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;max-width:24rem;margin:3rem auto}}label{{display:block;
margin-top:1rem}}input{{width:100%;padding:.4rem}}button{{margin-top:1rem;padding:.5rem 1rem}}
.error{{color:#a00}}</style></head>
<body><h1>{title}</h1><p>1CRM emulator &mdash; client <code>{client}</code></p>{error}
<form method="post">{hidden}
<label for="login">{login_label}</label>
<input id="login" name="login" autocomplete="username" required value="{login}">
<label for="password">{password_label}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">{submit_label}</button></form></body></html>"""

ERROR_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Sign-in error</title></head><body><h1>Sign-in error</h1><p>{message}</p></body></html>"""

AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)


def _error_page(message: str, status: int = 400) -> HttpResponse:
    return HttpResponse(
        ERROR_PAGE.format(message=escape(message)),
        status=status,
        content_type="text/html; charset=utf-8",
    )


def _sign_in_page(
    realm: str, client: ApiClient, params: dict[str, str], login: str, *, wrong: bool
) -> str:
    contact = realm == "contact"
    error = ""
    if wrong:
        message = _("Wrong e-mail or password.") if contact else _("Wrong user name or password.")
        error = f'<p class="error" role="alert">{escape(message)}</p>'
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{escape(value)}">'
        for name, value in params.items()
        if value
    )
    return PAGE.format(
        lang=translation.get_language() or "en",
        title=escape(_("Customer sign in") if contact else _("Sign in")),
        client=escape(client.client_id),
        error=error,
        hidden=hidden,
        login_label=escape(_("E-mail") if contact else _("User name")),
        password_label=escape(_("Password")),
        submit_label=escape(_("Sign in")),
        login=escape(login),
    )


def authorize(request: HttpRequest, realm: str) -> HttpResponse:
    if request.method not in {"GET", "POST"}:
        raise ApiError(405, "method_not_allowed", "Use GET or POST")
    source = request.GET if request.method == "GET" else request.POST
    params = {name: source.get(name, "") for name in AUTHORIZE_PARAMS}
    if request.method == "POST":  # the form posts back to the same URL with the query
        params = {name: request.POST.get(name) or request.GET.get(name, "") for name in params}
    client = auth.find_client(params["client_id"])
    if client is None:
        return _error_page("Unknown client_id.")
    redirect_uri = params["redirect_uri"] or (client.redirect_uris or [""])[0]
    if not redirect_uri or not redirect_allowed(client, redirect_uri):
        return _error_page("The redirect_uri is not registered for this client.")

    def back(**values: str) -> HttpResponseRedirect:
        if params["state"]:
            values["state"] = params["state"]
        return HttpResponseRedirect(_with_params(redirect_uri, values))

    if params["response_type"] != "code":
        return back(
            error="unsupported_response_type",
            error_description="Only response_type=code is supported by this server",
        )
    scopes = params["scope"].split() if params["scope"] else ["profile"]
    if not set(scopes) <= KNOWN_SCOPES:
        return back(error="invalid_scope", error_description="Unknown scope requested")
    if params["code_challenge"] and params["code_challenge_method"] != "S256":
        return back(error="invalid_request", error_description="code_challenge_method must be S256")
    if params["code_challenge"] and not re.fullmatch(
        r"[A-Za-z0-9_-]{43}", params["code_challenge"]
    ):
        return back(error="invalid_request", error_description="Malformed code_challenge")

    error = ""
    login = ""
    if request.method == "POST":
        login = request.POST.get("login", "")
        subject_id = auth.check_login(realm, login, request.POST.get("password", ""))
        if subject_id is not None:
            code = secrets.token_urlsafe(32)
            Grant.objects.create(
                kind="code",
                token_hash=_hash(code),
                family=secrets.token_hex(16),
                expires_at=time.time() + CODE_TTL,
                data={
                    "realm": realm,
                    "subject_id": subject_id,
                    "client_id": client.client_id,
                    "redirect_uri": params["redirect_uri"],
                    "scopes": scopes,
                    "code_challenge": params["code_challenge"],
                },
            )
            return back(code=code)
        error = "wrong"
    # Like the CRM's own sign-in page, in the browser's language (en, de or fr).
    with translation.override(translation.get_language_from_request(request)):
        page = _sign_in_page(realm, client, params, login, wrong=bool(error))
    response = HttpResponse(
        page, content_type="text/html; charset=utf-8", status=200 if not error else 401
    )
    response["Cache-Control"] = "no-store"
    response["X-Frame-Options"] = "DENY"
    return response


# --- tokens --------------------------------------------------------------------------------


def request_body(request: HttpRequest) -> dict[str, Any]:
    """JSON or form-encoded body as a flat dict."""
    content_type = request.content_type or ""
    if "json" in content_type:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            raise OAuthError("invalid_request", "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise OAuthError("invalid_request", "The request body must be a JSON object")
        return body
    form = QueryDict(request.body) if request.body else request.POST
    return {key: form.get(key) for key in form}


def _client_from(request: HttpRequest, body: dict[str, Any]) -> tuple[ApiClient, bool]:
    """The client and whether it proved its secret."""
    client_id, secret = body.get("client_id"), body.get("client_secret")
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Malformed client credentials", 401) from None
        client_id, _, secret = decoded.partition(":")
    if not isinstance(client_id, str) or not client_id:
        raise OAuthError("invalid_request", "client_id is required")
    client = auth.find_client(client_id)
    if client is None:
        raise OAuthError("invalid_client", "Client authentication failed", 401)
    if secret is not None and not hmac.compare_digest(str(secret), client.client_secret or ""):
        raise OAuthError("invalid_client", "Client authentication failed", 401)
    return client, secret is not None and bool(client.client_secret)


def _scopes(body: dict[str, Any], default: list[str]) -> list[str]:
    raw = body.get("scope")
    if raw is None or raw == "":
        return default
    scopes = raw if isinstance(raw, list) else str(raw).split()
    if not set(scopes) <= KNOWN_SCOPES:
        raise OAuthError("invalid_scope", "Unknown scope requested")
    return scopes


def _grant_scopes(realm: str, kind: str, requested: list[str]) -> list[str]:
    # A contact's own token never carries more than `profile` (vendor's client docs).
    return ["profile"] if kind == "contact_oauth" else requested


def _token_response(
    *,
    realm: str,
    kind: str,
    subject_id: str,
    client_id: str,
    scopes: list[str],
    family: str | None,
    refresh: bool = True,
    state: str = "",
) -> JsonResponse:
    ttl = int(control.switch("access_token_ttl"))
    prefix = "Contacts" if kind in {"contact_oauth", "portal"} else "Users"
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": ttl,
        "access_token": auth.issue_access_token(
            kind=kind,
            subject=f"{prefix}:{subject_id}",
            client_id=client_id,
            scopes=scopes,
            ttl=ttl,
        ),
    }
    if refresh:
        token = secrets.token_urlsafe(48)
        Grant.objects.create(
            kind="refresh",
            token_hash=_hash(token),
            family=family or secrets.token_hex(16),
            expires_at=time.time() + REFRESH_TTL,
            data={
                "realm": realm,
                "kind": kind,
                "subject_id": subject_id,
                "client_id": client_id,
                "scopes": scopes,
            },
        )
        body["refresh_token"] = token
    if state:
        body["state"] = state
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store"
    return response


def _take_grant(kind: str, token: str, client_id: str) -> Grant:
    """Mark a code or refresh token used; a second use revokes everything it led to."""
    label = "authorization code" if kind == "code" else "refresh token"
    grant = Grant.objects.filter(kind=kind, token_hash=_hash(token)).first()
    if grant is None:
        raise OAuthError("invalid_grant", f"The {label} is invalid")
    if grant.data.get("client_id") != client_id:
        raise OAuthError("invalid_grant", f"The {label} was issued to another client")
    if grant.expires_at < time.time() and not grant.used:
        raise OAuthError("invalid_grant", f"The {label} has expired")
    # One conditional UPDATE: of two concurrent uses, exactly one wins.
    won = Grant.objects.filter(pk=grant.pk, used=False, revoked=False).update(used=True)
    if not won:
        Grant.objects.filter(family=grant.family).update(revoked=True)
        raise OAuthError("invalid_grant", f"The {label} has already been used or revoked")
    return grant


def access_token(request: HttpRequest, realm: str) -> JsonResponse:
    if request.method != "POST":
        raise ApiError(405, "method_not_allowed", "Use POST")
    try:
        return _access_token(request, realm)
    except OAuthError as error:
        return error.response()


def _access_token(request: HttpRequest, realm: str) -> JsonResponse:
    body = request_body(request)
    grant_type = body.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    client, confidential = _client_from(request, body)
    user_kind = "contact_oauth" if realm == "contact" else "user"

    if grant_type == "client_credentials":
        if not confidential:
            raise OAuthError("invalid_client", "client_credentials needs the client secret", 401)
        scopes = _scopes(body, ["read", "write", "profile"])
        return _token_response(
            realm="user",
            kind="staff",
            subject_id=client.owner_user_id,
            client_id=client.client_id,
            scopes=scopes,
            family=None,
            refresh=False,
        )
    if client.client_secret and not confidential:
        raise OAuthError("invalid_client", "Client authentication failed", 401)

    if grant_type == "password":
        login, password = body.get("username"), body.get("password")
        if not isinstance(login, str) or not isinstance(password, str) or not login:
            raise OAuthError("invalid_request", "username and password are required")
        subject_id = auth.check_login(realm, login, password)
        if subject_id is None:
            raise OAuthError("invalid_grant", "The user credentials were incorrect")
        scopes = _grant_scopes(realm, user_kind, _scopes(body, ["read", "write", "profile"]))
        return _token_response(
            realm=realm,
            kind=user_kind,
            subject_id=subject_id,
            client_id=client.client_id,
            scopes=scopes,
            family=None,
        )

    if grant_type == "authorization_code":
        code = body.get("code")
        if not isinstance(code, str) or not code:
            raise OAuthError("invalid_request", "code is required")
        grant = _take_grant("code", code, client.client_id)
        data = grant.data
        if data.get("realm") != realm:
            raise OAuthError("invalid_grant", "The authorization code is for another endpoint")
        if data.get("redirect_uri") and body.get("redirect_uri") != data["redirect_uri"]:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization")
        verifier = body.get("code_verifier")
        if data.get("code_challenge"):
            if not isinstance(verifier, str) or not verifier:
                raise OAuthError("invalid_grant", "code_verifier is required (PKCE)")
            digest = hashlib.sha256(verifier.encode()).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not hmac.compare_digest(expected, data["code_challenge"]):
                raise OAuthError("invalid_grant", "code_verifier does not match the challenge")
        elif verifier:
            raise OAuthError("invalid_grant", "code_verifier sent but no challenge was")
        scopes = _grant_scopes(realm, user_kind, list(data.get("scopes") or ["profile"]))
        return _token_response(
            realm=realm,
            kind=user_kind,
            subject_id=data["subject_id"],
            client_id=client.client_id,
            scopes=scopes,
            family=grant.family,
        )

    if grant_type == "refresh_token":
        token = body.get("refresh_token")
        if not isinstance(token, str) or not token:
            raise OAuthError("invalid_request", "refresh_token is required")
        grant = _take_grant("refresh", token, client.client_id)
        data = grant.data
        if data.get("realm") != realm:
            raise OAuthError("invalid_grant", "The refresh token is for another endpoint")
        model = "Contact" if data["kind"] in {"contact_oauth", "portal"} else "User"
        if store.get(model, data["subject_id"]) is None:
            raise OAuthError("invalid_grant", "The token's subject no longer exists")
        return _token_response(
            realm=realm,
            kind=data["kind"],
            subject_id=data["subject_id"],
            client_id=client.client_id,
            scopes=list(data["scopes"]),
            family=grant.family,
        )
    raise OAuthError("unsupported_grant_type", f"Unsupported grant_type {grant_type!r}")


def portal_auth(request: HttpRequest, principal: auth.Principal) -> JsonResponse:
    """Mint a contact-scoped token; only a client's staff credential may."""
    if principal.kind != "staff":
        raise ApiError(
            403,
            "forbidden",
            "Only an API client's staff credential may create portal tokens",
            hint="Use a client_credentials token",
        )
    try:
        body = request_body(request)
    except OAuthError as error:
        raise ApiError(400, "invalid_request", error.description) from None
    contact_id = body.get("contact_id")
    if not isinstance(contact_id, str) or not contact_id:
        raise ApiError(400, "invalid_parameter", "contact_id is required")
    if store.get("Contact", contact_id) is None:
        raise ApiError(404, "not_found", f"Contact {contact_id} not found")
    return _token_response(
        realm="contact",
        kind="portal",
        subject_id=contact_id,
        client_id=principal.client_id,
        scopes=["read", "write", "profile"],
        family=None,
        refresh=False,
    )
