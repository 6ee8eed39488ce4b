#!/usr/bin/env python
"""Django's command-line utility for the 1CRM portal."""

import importlib.util
import os
import sys

# Commands that run the portal on a developer's machine: they may start without
# production secrets, so they switch DEBUG on unless the environment says otherwise.
DEVELOPMENT_COMMANDS = {"demo", "runserver", "run_emulator", "seed_emulator"}
# Of those, the ones of the 1CRM emulator (a development tool): they run under the
# development settings, which add it. Every other command runs the production settings.
EMULATOR_COMMANDS = {"demo", "run_emulator", "seed_emulator"}


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command in DEVELOPMENT_COMMANDS:
        os.environ.setdefault("DEBUG", "1")
    if command in EMULATOR_COMMANDS:
        if importlib.util.find_spec("crm_emulator") is None:  # a deployment (the image)
            sys.exit(f"manage.py {command}: the 1CRM emulator is not part of this installation.")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_emulator.settings")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
