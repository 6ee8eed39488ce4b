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

# The test database in a file, as in production (WAL, a busy timeout: portal/settings.py),
# not Django's default shared-cache in-memory SQLite: there, two requests writing at once
# (a test of concurrent quote decisions) fail at once with "database table is locked"
# instead of one waiting for the other as they do on a real SQLite file. One file per
# test process, so that two runs on one machine do not share it.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")}  # noqa: F405
