"""`manage.py translations`: update the German and French catalogues from the source and
compile them (with Babel, no GNU gettext needed). Commit the `.po` and `.mo` files."""

from django.core.management.base import BaseCommand, CommandError

from portal import catalogues


class Command(BaseCommand):
    help = "Update locale/*/LC_MESSAGES/django.po from the source and compile django.mo."

    def add_arguments(self, parser):
        parser.add_argument(
            "--compile-only", action="store_true", help="Only compile the .po files."
        )

    def handle(self, *args, compile_only: bool = False, **options):
        try:
            import babel  # noqa: F401  (a development dependency)
        except ImportError as exc:
            raise CommandError("Babel is missing: run `uv sync` (the dev dependencies).") from exc
        if not compile_only:
            catalogues.update()
        catalogues.compile_all()
        for language in catalogues.TRANSLATED:
            catalogue = catalogues.read_catalogue(language)
            missing = [m.id for m in catalogue if m.id and (not m.string or m.fuzzy)]
            count = len(catalogue) - 1  # without the header entry
            self.stdout.write(f"{language}: {count} strings, {len(missing)} to translate")
