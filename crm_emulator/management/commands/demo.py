"""`manage.py demo`: the portal and a 1CRM emulator with demo data, on this machine.

Migrates, seeds the emulator (once; `--reseed` starts over), starts the emulator and
the portal under gunicorn's ASGI worker, prints the URL and the demo sign-in details,
and stops both on Ctrl-C. A development command, so it lives with the emulator (and runs
under the development settings); the portal it starts runs the production settings,
DEBUG on, without the emulator installed.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from crm_emulator.demo_data import DEMO_PASSWORD

DEMO_CLIENT_ID = "demo-portal"
DEMO_CLIENT_SECRET = "demo-portal-secret"  # noqa: S105


class Command(BaseCommand):
    help = "Run the portal with a built-in 1CRM emulator and demo data."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="the portal's port")
        parser.add_argument("--emulator-port", type=int, default=8081)
        parser.add_argument("--reseed", action="store_true", help="reset the demo data")
        parser.add_argument(
            "--data-access",
            choices=["contact_token", "portal_auth", "staff"],
            default=settings.ONECRM_DATA_ACCESS,
        )

    def handle(self, *args, port, emulator_port, reseed, data_access, **options):
        if not settings.DEBUG:
            raise CommandError("The demo runs with DEBUG=1 only; it is not for production.")
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        api_url = f"http://127.0.0.1:{emulator_port}/1crm/api.php"
        env = {
            **os.environ,
            # The emulator's commands need it installed; the portal is started without it.
            "DJANGO_SETTINGS_MODULE": "crm_emulator.settings",
            "DEBUG": "1",
            "EMULATOR_ALLOW_HTTP": "1",
            "ONECRM_API_URL": api_url,
            "ONECRM_CLIENT_ID": DEMO_CLIENT_ID,
            "ONECRM_CLIENT_SECRET": DEMO_CLIENT_SECRET,
            "ONECRM_DATA_ACCESS": data_access,
            "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
        }

        self.stdout.write("Preparing the portal database…")
        call_command("migrate", verbosity=0)
        self._ensure_staff_user()
        # seed_emulator is a no-op on an emulator that is already seeded.
        self.stdout.write("Preparing the 1CRM emulator's demo data…")
        reset = ["--reset"] if reseed else []
        subprocess.run([*manage, "seed_emulator", *reset], env=env, check=True)

        processes = [
            subprocess.Popen([*manage, "run_emulator", "--port", str(emulator_port)], env=env),
        ]
        try:
            self._wait_for(f"{api_url}/version", "the emulator")
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "portal.asgi:application",
                        "--worker-class",
                        "asgi",
                        "--bind",
                        f"127.0.0.1:{port}",
                        "--workers",
                        "1",
                        "--log-level",
                        "warning",
                    ],
                    env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
                    cwd=settings.BASE_DIR,  # so gunicorn reads the project's gunicorn.conf.py
                )
            )
            portal_url = f"http://127.0.0.1:{port}/"
            self._wait_for(f"{portal_url}healthz", "the portal")
            self._print_welcome(portal_url, api_url)
            self._wait_until_one_exits(processes)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()

    def _ensure_staff_user(self) -> None:
        users = get_user_model().objects
        if not users.filter(username="admin").exists():
            users.create_superuser("admin", "admin@example.com", DEMO_PASSWORD)

    def _wait_for(self, url: str, what: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise CommandError(f"{what} did not start within 60 seconds ({url})")

    def _wait_until_one_exits(self, processes: list[subprocess.Popen]) -> None:
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        raise CommandError("a demo process stopped unexpectedly; see the output above")

    def _print_welcome(self, portal_url: str, api_url: str) -> None:
        contact = self._demo_contact_email(api_url)
        self.stdout.write(
            self.style.SUCCESS(f"\n  The portal is running at {portal_url}\n")
            + f"\n  Contacts sign in with any seeded contact's e-mail, e.g. {contact},"
            f"\n  and the password {DEMO_PASSWORD} (on the emulator's sign-in page)."
            f"\n  Staff: {portal_url}admin/  user admin, password {DEMO_PASSWORD}"
            f"\n  1CRM emulator: {api_url}  (client {DEMO_CLIENT_ID} / {DEMO_CLIENT_SECRET})"
            "\n  E-mailed sign-in links are printed here. Press Ctrl-C to stop.\n"
        )

    def _demo_contact_email(self, api_url: str) -> str:
        try:
            token = httpx.post(
                f"{api_url}/auth/user/access_token",
                json={
                    "grant_type": "client_credentials",
                    "client_id": DEMO_CLIENT_ID,
                    "client_secret": DEMO_CLIENT_SECRET,
                },
                timeout=5,
            ).json()["access_token"]
            records = httpx.get(
                f"{api_url}/data/Contact",
                params={"fields[]": ["email1"], "order": "last_name", "limit": "1"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            ).json()["records"]
            return records[0]["email1"]
        except (httpx.HTTPError, KeyError, IndexError, ValueError):
            return "(see `manage.py seed_emulator` output)"
