"""Settings for the emulator's own server process (`manage.py run_emulator`).

The development settings (crm_emulator/settings.py: its database and router) with the
emulator's URLs and a bare middleware stack: the emulator is an API server, so it has no
sessions, CSRF or templates of the portal.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from crm_emulator.profiles import PROFILES
from crm_emulator.settings import *  # noqa: F403

ROOT_URLCONF = "crm_emulator.urls"
MIDDLEWARE = ["crm_emulator.middleware.ApiMiddleware"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "crm_emulator"]
ALLOWED_HOSTS = ["*"]
SECURE_SSL_REDIRECT = False
APPEND_SLASH = False
# The views enforce their own limits (1 MiB for /files/upload/base64, 10 MiB for JSON);
# /files/upload streams the body to disk.
DATA_UPLOAD_MAX_MEMORY_SIZE = None
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

EMULATOR_ADMIN_TOKEN = os.environ.get("EMULATOR_ADMIN_TOKEN", "")
EMULATOR_ALLOW_HTTP = env_bool("EMULATOR_ALLOW_HTTP")  # noqa: F405
# Which reading of the reference the server starts with (`run_emulator --profile`);
# `POST /__emulator__/reset` returns to it. See crm_emulator/profiles.py.
EMULATOR_PROFILE = os.environ.get("EMULATOR_PROFILE", "") or "default"
if EMULATOR_PROFILE not in PROFILES:
    raise ImproperlyConfigured(
        f"EMULATOR_PROFILE={EMULATOR_PROFILE!r}: one of {', '.join(sorted(PROFILES))}"
    )
# Extra API clients from `run_emulator --client ID:SECRET:REDIRECT_URI` (one per line).
EMULATOR_CLIENTS = os.environ.get("EMULATOR_CLIENTS", "")

# Quiet third-party chatter (fontTools logs every font subset at INFO); EMULATOR_QUIET=1
# (the test suite) also silences gunicorn's access log, which Django's root logger prints.
LOGGING = {
    **LOGGING,  # noqa: F405
    "loggers": {
        "django.request": {"level": "ERROR"},
        "fontTools": {"level": "WARNING"},
        "gunicorn.access": {"level": "WARNING" if env_bool("EMULATOR_QUIET") else "INFO"},  # noqa: F405
    },
}
