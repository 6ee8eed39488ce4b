"""Development settings: the portal's production settings plus the 1CRM emulator.

For the demo, the test suite and the benchmark (`manage.py` picks them for `demo`,
`seed_emulator` and `run_emulator`). They add the emulator's app, its own database (the
`emulator` alias, so demo CRM data never mixes with the portal's) and the router that
sends its tables there. Production (portal/settings.py) has none of these and never
imports this package. The emulator's own server process layers server_settings.py on top.
"""

import os

os.environ.setdefault("DEBUG", "1")

from portal.settings import *  # noqa: F403
from portal.settings import DATA_DIR, DATABASES, INSTALLED_APPS, database

INSTALLED_APPS = [*INSTALLED_APPS, "crm_emulator"]
DATABASES = {
    **DATABASES,
    "emulator": database(
        os.environ.get("EMULATOR_DATABASE_URL", f"sqlite:///{DATA_DIR / 'emulator.sqlite3'}")
    ),
}
DATABASE_ROUTERS = ["crm_emulator.router.EmulatorRouter"]
