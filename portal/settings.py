"""Settings for the 1CRM portal, read from the environment in this one place.

Production is the default: with DEBUG off, a missing SECRET_KEY, ONECRM_API_URL or
PORTAL_BASE_URL stops start-up with a one-line message. The demo and the tests switch DEBUG on.
The 1CRM emulator is a development tool, not installed here: crm_emulator/settings.py
adds it (its app, its database, its router) for the demo, the tests and the benchmark.
"""

import ipaddress
import math
import os
import sys
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import dj_database_url
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("PORTAL_DATA_DIR", BASE_DIR / "var"))

_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True}
_BOOLEANS |= {"0": False, "false": False, "no": False, "off": False}


def env_bool(name: str, default: bool = False) -> bool:
    """A boolean; unset or empty means the default, anything unrecognised stops start-up
    (a typo like DEBUG=ture must not quietly read as false)."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value not in _BOOLEANS:
        refuse_to_start(f"{name} must be one of 1, 0, true, false, yes, no, on, off.")
    return _BOOLEANS[value]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        refuse_to_start(f"{name} must be a whole number (for example {default}).")


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        refuse_to_start(f"{name} must be a number of seconds (for example {default}).")
    return number


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def refuse_to_start(message: str) -> NoReturn:
    """Stop start-up with a message an operator can act on, not a traceback."""
    sys.stderr.write(f"Configuration error: {message}\n")
    raise SystemExit(2)


DEBUG = env_bool("DEBUG")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        refuse_to_start(
            "SECRET_KEY is not set. Set it to a long random string "
            '(python -c "import secrets; print(secrets.token_urlsafe(50))").'
        )
    SECRET_KEY = "insecure-development-key-only-for-the-demo-and-tests-0123456789"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")

# The portal's public address: every absolute link (e-mailed sign-in links, the OAuth
# redirect_uri) is built from it, never from the Host header (portal/public_url.py).
PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "").strip().rstrip("/")
if not PORTAL_BASE_URL:
    if not DEBUG:
        refuse_to_start(
            "PORTAL_BASE_URL is not set. Set it to the address customers use, "
            "for example https://portal.example.com."
        )
    PORTAL_BASE_URL = "http://127.0.0.1:8000"  # where `manage.py demo` serves
_base = urlsplit(PORTAL_BASE_URL)
if (
    _base.scheme not in {"http", "https"}
    or not _base.hostname
    or _base.username
    or (_base.path or _base.query or _base.fragment)
):
    refuse_to_start(
        "PORTAL_BASE_URL must be a scheme and host only, for example https://portal.example.com."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- The 1CRM connection: secrets come from the environment, never the database.
ONECRM_API_URL = os.environ.get("ONECRM_API_URL", "").rstrip("/")
if not ONECRM_API_URL:
    if not DEBUG:
        refuse_to_start(
            "ONECRM_API_URL is not set. Set it to your CRM's API base, "
            "for example https://crm.example.com/1crm/api.php."
        )
    ONECRM_API_URL = "http://127.0.0.1:8081/1crm/api.php"
ONECRM_CLIENT_ID = os.environ.get("ONECRM_CLIENT_ID", "demo-portal" if DEBUG else "")
ONECRM_CLIENT_SECRET = os.environ.get("ONECRM_CLIENT_SECRET", "demo-portal-secret" if DEBUG else "")
ONECRM_SERVICE_CLIENT_ID = os.environ.get("ONECRM_SERVICE_CLIENT_ID", ONECRM_CLIENT_ID)
ONECRM_SERVICE_CLIENT_SECRET = os.environ.get("ONECRM_SERVICE_CLIENT_SECRET", ONECRM_CLIENT_SECRET)
# Basic authentication, for installations that still use it instead of OAuth.
ONECRM_BASIC_USERNAME = os.environ.get("ONECRM_BASIC_USERNAME", "")
ONECRM_BASIC_PASSWORD = os.environ.get("ONECRM_BASIC_PASSWORD", "")
# Which credential reads a contact's data: contact_token, portal_auth or staff.
ONECRM_DATA_ACCESS = os.environ.get("ONECRM_DATA_ACCESS", "portal_auth")
if ONECRM_DATA_ACCESS not in {"contact_token", "portal_auth", "staff"}:
    refuse_to_start("ONECRM_DATA_ACCESS must be one of contact_token, portal_auth, staff.")
# Send PUT, PATCH and DELETE as POST with X-HTTP-Method-Override.
ONECRM_METHOD_OVERRIDE = env_bool("ONECRM_METHOD_OVERRIDE")
ONECRM_TIMEOUT = env_float("ONECRM_TIMEOUT", 10)
ONECRM_CONNECT_TIMEOUT = env_float("ONECRM_CONNECT_TIMEOUT", 3)
ONECRM_DEADLINE = env_float("ONECRM_DEADLINE", 20)
# The largest JSON reply the portal reads (a page of 200 records is far below 1 MiB).
ONECRM_MAX_JSON_BYTES = env_int("ONECRM_MAX_JSON_BYTES", 8 * 1024 * 1024)
if ONECRM_MAX_JSON_BYTES < 1024:
    refuse_to_start("ONECRM_MAX_JSON_BYTES must be at least 1024 (bytes).")
ONECRM_MAX_CONNECTIONS = env_int("ONECRM_MAX_CONNECTIONS", 100)
# Downloads and PDFs hold a pooled CRM connection while the visitor reads them: at most
# this many at once per contact (counted in the shared cache), each for at most this long.
DOWNLOADS_PER_CONTACT = env_int("DOWNLOADS_PER_CONTACT", 4)
DOWNLOAD_MAX_SECONDS = env_float("DOWNLOAD_MAX_SECONDS", 900)
# The dashboard's balance and aging (every open invoice of the account) are kept per
# account in the cache this many seconds, and say "as of" when shown from it; 0: read
# on every visit (portal/statement/balance.py).
DASHBOARD_BALANCE_TTL = env_int("DASHBOARD_BALANCE_TTL", 600)
if DASHBOARD_BALANCE_TTL < 0:
    refuse_to_start("DASHBOARD_BALANCE_TTL must be 0 (no cache) or more (seconds).")
if DOWNLOADS_PER_CONTACT < 1:
    refuse_to_start("DOWNLOADS_PER_CONTACT must be at least 1.")
if not DOWNLOAD_MAX_SECONDS > 0:
    refuse_to_start("DOWNLOAD_MAX_SECONDS must be a number of seconds above 0.")

# --- Django
INSTALLED_APPS = [
    # The admin, with the portal's own site (portal/admin_site.py).
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    # TOTP for staff (portal/staff_login.py), and one-time backup codes: a superuser locked
    # out by ADMIN_REQUIRE_2FA gets one with `manage.py addstatictoken <username>`.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "portal",
    "crm_gateway",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Cross-Origin-Resource-Policy, which SecurityMiddleware does not set (portal/security.py).
    "portal.security.CrossOriginResourcePolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the staff member's TOTP.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Django's sync middleware above runs in one trip to a thread, not one per hook; the
    # rest and the views run on the event loop (portal/middleware.py).
    "portal.middleware.sync_boundary",
    "django_htmx.middleware.HtmxMiddleware",
    # request.portal_settings: the staff-edited settings, read once a request from the cache.
    "portal.site_settings.portal_settings_middleware",
    # The page's language: the contact's choice, the menu's cookie, the browser, the default
    # (portal/languages.py; instead of Django's LocaleMiddleware). Before any view or
    # process_view hook (CSRF's refusal too), on the event loop.
    "portal.languages.language_middleware",
    # Uncaught CRM gateway errors become friendly pages (portal/errors.py).
    "portal.errors.CrmErrorMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
            ],
        },
    },
]


# --- Data: SQLite under var/ by default, PostgreSQL in production.
def database(url: str, conn_max_age: int = 0) -> dj_database_url.DBConfig:
    """DATABASES entry for a URL; on SQLite, WAL and a busy timeout so that two processes
    (the demo's portal and emulator, the tests and their servers) can write at once."""
    config = dj_database_url.parse(url, conn_max_age=conn_max_age)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config.setdefault("OPTIONS", {}).update(
            {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;"}
        )
    return config


DATA_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": database(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'portal.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    ),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: local memory by default, Redis in production (shared by every process).
_cache_url = os.environ.get("CACHE_URL") or os.environ.get("REDIS_URL", "")
if _cache_url.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {
        "default": {
            # Django's RedisCache, with native async methods and one pool per process.
            "BACKEND": "portal.cache.AsyncRedisCache",
            "LOCATION": _cache_url,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "portal"),
        }
    }
elif _cache_url in {"", "locmem://"}:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    refuse_to_start("CACHE_URL must be a redis:// or rediss:// URL (or empty for local memory).")

# Tokens live server-side: database-backed sessions, never signed cookies.
# Django's cached_db sessions, read with the page's other cache entries (portal/sessions.py).
SESSION_ENGINE = "portal.sessions"
SESSION_COOKIE_AGE = env_int("SESSION_MAX_AGE", 8 * 60 * 60)
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 30 * 60)
# The e-mail link form answers no sooner than this, known address or not.
SIGNIN_LINK_MIN_SECONDS = env_float("SIGNIN_LINK_MIN_SECONDS", 0.5)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"  # Strict would drop the cookie on the OAuth return.
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "portal.errors.csrf_failure"  # the portal's own 403 page

# --- Security headers (production values unless DEBUG).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
if not DEBUG:
    # The __Host- prefix pins cookies to this exact host over HTTPS.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_RESOURCE_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Trust X-Forwarded-Proto only when the operator says a proxy sets it.
if env_bool("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The client address behind proxies (portal/client_address.py): X-Forwarded-For is read
# only from these peers (addresses or networks), at most TRUSTED_PROXY_HOPS entries deep.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        refuse_to_start(f"TRUSTED_PROXIES: {_proxy!r} is not an IP address or network.")
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 1)
if TRUSTED_PROXY_HOPS < 1:
    refuse_to_start("TRUSTED_PROXY_HOPS must be 1 or more (the proxies in front of the portal).")
SECURE_CSP = {
    "default-src": [CSP.NONE],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "frame-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

# --- Internationalisation
LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "en")
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français")]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
# The committed catalogues (portal/catalogues.py keeps them in step with the source).
LOCALE_PATHS = [BASE_DIR / "locale"]
# The language menu's choice on this browser (portal/languages.py), kept for a year.
LANGUAGE_COOKIE_NAME = "portal_language" if DEBUG else "__Host-portal_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
USE_I18N = True
USE_TZ = True

# --- Static files: hashed names, served by whitenoise.
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- E-mail: the console in the demo, SMTP from the environment in production.
# Django 6.1's MAILERS replaces the deprecated EMAIL_* settings.
if os.environ.get("EMAIL_HOST") or not DEBUG:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": os.environ.get("EMAIL_HOST", "localhost"),
                "port": env_int("EMAIL_PORT", 587),
                "username": os.environ.get("EMAIL_HOST_USER", ""),
                "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env_bool("EMAIL_USE_TLS", True),
                "timeout": 10,
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "portal@localhost")

LOGIN_URL = "/login/"

# --- Staff sign-in to the admin (docs/portal-shell.md, "Staff").
# Staff may sign in with their 1CRM user, once they linked it themselves; off by default.
STAFF_ONECRM_SIGNIN = env_bool("STAFF_ONECRM_SIGNIN")
# If set, only CRM users with one of these roles (/me's `role`) may sign in that way.
STAFF_ONECRM_ROLES = [role.lower() for role in env_list("STAFF_ONECRM_ROLES")]
# Superusers must sign in with a one-time code (TOTP) as well as their password.
ADMIN_REQUIRE_2FA = env_bool("ADMIN_REQUIRE_2FA")
# The admin login refuses more attempts for 15 minutes once a user name, or an address,
# has failed this many times.
ADMIN_LOGIN_MAX_FAILURES = env_int("ADMIN_LOGIN_MAX_FAILURES", 5)
ADMIN_LOGIN_MAX_FAILURES_PER_IP = env_int("ADMIN_LOGIN_MAX_FAILURES_PER_IP", 20)
OTP_TOTP_ISSUER = "1CRM portal"  # the account's name in the staff member's authenticator app
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin's device pages never show a TOTP key

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # fpdf2 subsets the statement PDF's fonts with fontTools, which logs every step.
        "fontTools": {"level": "WARNING"},
    },
}

# HSTS preload is a one-way commitment for the whole domain, so it is the operator's
# choice (SECURE_HSTS_PRELOAD=1); without it, the deploy check's reminder is silenced.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
