"""Who is calling: RS256 JWT access tokens, Basic authentication, sign-in checks.

The RSA key is generated once and kept in the emulator's data directory, so tokens
stay verifiable across restarts and reseeds. Passwords are hashed with PBKDF2 at a low
iteration count: this is a demo CRM, and seeding hundreds of contacts must stay fast.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.http import HttpRequest

from crm_emulator import store
from crm_emulator.errors import ApiError
from crm_emulator.models import ApiClient, Credential

HASH_ITERATIONS = 1000
ISSUER_KINDS = ("staff", "user", "contact_oauth", "portal")

_key_lock = threading.Lock()
_private_key: rsa.RSAPrivateKey | None = None


def data_dir() -> Path:
    path = Path(settings.DATA_DIR) / "emulator"
    path.mkdir(parents=True, exist_ok=True)
    return path


def private_key() -> rsa.RSAPrivateKey:
    global _private_key
    with _key_lock:
        if _private_key is None:
            path = data_dir() / "oauth-private.pem"
            if path.exists():
                loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
                assert isinstance(loaded, rsa.RSAPrivateKey)
                _private_key = loaded
            else:
                _private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                pem = _private_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(pem)
                tmp.chmod(0o600)
                tmp.replace(path)
        return _private_key


def public_key_pem() -> str:
    return (
        private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def hash_password(password: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), HASH_ITERATIONS)
    return f"pbkdf2_sha256${HASH_ITERATIONS}${salt}${digest.hex()}"


def check_password(password: str, encoded: str) -> bool:
    try:
        _, iterations, salt, expected = encoded.split("$")
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations))
    return hmac.compare_digest(digest.hex(), expected)


def check_login(realm: str, login: str, password: str) -> str | None:
    """The user's or contact's record id when the password is right, else None."""
    credential = Credential.objects.filter(realm=realm, login=login.strip().lower()).first()
    if credential is None or not check_password(password, credential.password_hash):
        return None
    return credential.record_id


@dataclass
class Principal:
    """The authenticated caller. `kind` is what the control API's request log shows."""

    kind: str  # anonymous, basic, staff, user, contact_oauth, portal
    user_id: str = ""
    contact_id: str = ""
    scopes: frozenset[str] = field(default_factory=frozenset)
    client_id: str = ""

    @property
    def is_user(self) -> bool:
        return self.kind in {"basic", "staff", "user"}

    @property
    def is_contact(self) -> bool:
        return self.kind in {"contact_oauth", "portal"}

    @property
    def user(self) -> dict:
        return store.get("User", self.user_id) or {}

    @property
    def is_admin(self) -> bool:
        user = self.user
        return str(user.get("is_admin")).lower() in {"1", "true", "yes"} or (
            user.get("role") == "admin"
        )

    @property
    def contact(self) -> dict:
        return store.get("Contact", self.contact_id) or {}

    @property
    def account_id(self) -> str:
        return str(self.contact.get("primary_account_id") or "")


ANONYMOUS = Principal("anonymous")


def issue_access_token(
    *, kind: str, subject: str, client_id: str, scopes: list[str], ttl: int
) -> str:
    now = int(time.time())
    jti = uuid.uuid4().hex
    claims = {
        "aud": client_id,
        "jti": jti,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "sub": subject,
        "scopes": scopes,
        # Not in the real CRM's tokens: lets the emulator tell its credential kinds apart.
        "onecrm_kind": kind,
    }
    return jwt.encode(claims, private_key(), algorithm="RS256", headers={"typ": "JWT", "jti": jti})


def _principal_from_claims(claims: dict) -> Principal:
    kind = claims.get("onecrm_kind", "")
    subject = str(claims.get("sub", ""))
    prefix, _, record_id = subject.partition(":")
    scopes = frozenset(claims.get("scopes") or [])
    client_id = str(claims.get("aud") or "")
    if kind in {"staff", "user"} and prefix == "Users":
        return Principal(kind, user_id=record_id, scopes=scopes, client_id=client_id)
    if kind in {"contact_oauth", "portal"} and prefix == "Contacts":
        return Principal(kind, contact_id=record_id, scopes=scopes, client_id=client_id)
    raise ApiError(401, "unauthorized", "Invalid access token")


def decode_token(token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            private_key().public_key(),
            algorithms=["RS256"],
            options={"verify_aud": False, "require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise ApiError(
            401, "unauthorized", "The access token has expired", hint="Refresh or request a new one"
        ) from None
    except jwt.InvalidTokenError:
        raise ApiError(401, "unauthorized", "Invalid access token") from None
    principal = _principal_from_claims(claims)
    if principal.is_user and store.get("User", principal.user_id) is None:
        raise ApiError(401, "unauthorized", "The token's user no longer exists")
    if principal.is_contact and store.get("Contact", principal.contact_id) is None:
        raise ApiError(401, "unauthorized", "The token's contact no longer exists")
    return principal


def claimed_kind(request: HttpRequest) -> tuple[str, str]:
    """Credential kind and contact id as claimed by the header, verified or not (for the log)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        return "basic", ""
    if scheme.lower() != "bearer":
        return "anonymous", ""
    try:
        claims = jwt.decode(value.strip(), options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return "anonymous", ""
    kind = claims.get("onecrm_kind")
    if kind not in ISSUER_KINDS:
        return "anonymous", ""
    prefix, _, record_id = str(claims.get("sub", "")).partition(":")
    return kind, record_id if prefix == "Contacts" else ""


def authenticate(request: HttpRequest, basic_enabled: bool) -> Principal:
    """The caller, ANONYMOUS without an Authorization header, ApiError(401) if it is wrong."""
    header = request.headers.get("Authorization", "")
    if not header:
        return ANONYMOUS
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return decode_token(value.strip())
    if scheme.lower() == "basic":
        if not basic_enabled:
            raise ApiError(
                401,
                "unauthorized",
                "Basic authentication is disabled on this CRM",
                hint="Use OAuth 2.0",
            )
        try:
            login, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, "unauthorized", "Malformed Basic credentials") from None
        user_id = check_login("user", login, password)
        if user_id is None:
            raise ApiError(401, "unauthorized", "Invalid user name or password")
        return Principal("basic", user_id=user_id, scopes=frozenset({"read", "write", "profile"}))
    raise ApiError(401, "unauthorized", "Unsupported Authorization header")


def find_client(client_id: str) -> ApiClient | None:
    return ApiClient.objects.filter(client_id=client_id).first()
