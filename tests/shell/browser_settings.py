"""The portal's settings with the shell's test pages mounted (browser tests only)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "tests.shell.urls"
