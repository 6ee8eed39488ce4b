"""`manage.py run_emulator --port 8081`: serve the 1CRM emulator on its own port.

One gunicorn worker with threads, on purpose: the control API's switches, faults and
request log live in that one process's memory.
"""

import os
import sys

from django.core.management.base import BaseCommand, CommandError

from crm_emulator.profiles import PROFILES


class Command(BaseCommand):
    help = "Serve the 1CRM API emulator under /1crm/api.php on its own port."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8081)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--threads", type=int, default=32)
        parser.add_argument(
            "--profile",
            choices=sorted(PROFILES),
            default=os.environ.get("EMULATOR_PROFILE") or "default",
            help="how the emulator reads the reference's silences (docs/emulator.md, Profiles)",
        )
        parser.add_argument(
            "--client",
            action="append",
            default=[],
            metavar="ID:SECRET:REDIRECT_URI",
            help="register one more API client (repeatable; owned by the admin user)",
        )

    def handle(self, *args, port, host, threads, client, profile, **options):
        for spec in client:
            parts = spec.split(":", 2)
            if len(parts) < 2 or not parts[0]:
                raise CommandError(f"--client needs ID:SECRET[:REDIRECT_URI], got {spec!r}")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "crm_emulator.server_settings",
            "EMULATOR_CLIENTS": "\n".join(client),
            "EMULATOR_PROFILE": profile,
        }
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "crm_emulator.wsgi:application",
            "--bind",
            f"{host}:{port}",
            "--worker-class",
            "gthread",
            "--workers",
            "1",
            "--threads",
            str(threads),
            "--timeout",
            "0",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ]
        self.stdout.write(f"1CRM emulator ({profile} profile) on http://{host}:{port}/1crm/api.php")
        self.stdout.flush()
        os.execve(sys.executable, argv, env)  # noqa: S606  (replace this process with the server)
