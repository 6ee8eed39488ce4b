"""Settings for the test suite: the development settings (the portal's own, plus the
1CRM emulator: crm_emulator/settings.py), with DEBUG-style defaults.

The environment still wins, so CI can point DATABASE_URL and CACHE_URL at PostgreSQL
and Redis and run the same suite again.
"""

import os
import tempfile

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("PORTAL_DATA_DIR", os.path.join(tempfile.gettempdir(), "portal-tests"))

from crm_emulator.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = DATA_DIR / "staticfiles"  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
SIGNIN_LINK_MIN_SECONDS = 0.0
PORTAL_BASE_URL = "http://testserver"  # the Django test client's origin
