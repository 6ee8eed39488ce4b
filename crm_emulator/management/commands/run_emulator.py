"""`manage.py run_emulator --port 8081`: serve the 1CRM emulator on its own port."""

import os
import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the 1CRM API emulator under /1crm/api.php on its own port."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8081)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--threads", type=int, default=32)

    def handle(self, *args, port, host, threads, **options):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "crm_emulator.settings"}
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
            "--log-level",
            "warning",
        ]
        self.stdout.write(f"1CRM emulator on http://{host}:{port}/1crm/api.php")
        os.execve(sys.executable, argv, env)  # noqa: S606  (replace this process with the server)
