#!/usr/bin/env python
"""Django's command-line utility for the 1CRM portal."""

import os
import sys

# Commands that run the portal on a developer's machine: they may start without
# production secrets, so they switch DEBUG on unless the environment says otherwise.
DEVELOPMENT_COMMANDS = {"demo", "runserver", "run_emulator", "seed_emulator"}


def main() -> None:
    if sys.argv[1:2] and sys.argv[1] in DEVELOPMENT_COMMANDS:
        os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
