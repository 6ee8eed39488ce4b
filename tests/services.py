"""The Redis databases tests may empty, one set per test pass.

Tests of the Redis cache itself use databases of their own, which they clear. CI runs
several test passes at the same time on one Redis (`.ci/run`), so each pass takes its
own three: PORTAL_TEST_REDIS_DBS names the first of them (default 13: 13, 14 and 15).
The portal's own cache in a pass is CACHE_URL's database (CI gives the PostgreSQL pass
database 0, cleared by the autouse fixture in tests/conftest.py).
"""

import os

REDIS = "redis://127.0.0.1:6379"
FIRST_DB = int(os.environ.get("PORTAL_TEST_REDIS_DBS", "") or 13)
SCALE_OUT, RATE_LIMITS, SETTINGS_CACHE = range(3)  # which of the pass's three databases


def redis_test_url(which: int) -> str:
    return f"{REDIS}/{FIRST_DB + which}"
