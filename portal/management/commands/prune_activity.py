"""Delete activity events older than the retention the staff set (or --days), and
sign-in links that can no longer be used."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portal.models import ActivityEvent, SignInLink
from portal.site_settings import get_portal_settings


class Command(BaseCommand):
    help = "Delete portal activity older than the retention period from the portal settings."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, help="Keep this many days instead of the configured retention."
        )

    def handle(self, *args, days: int | None = None, **options):
        if days is None:
            days = get_portal_settings().activity_retention_days
        if days < 1:
            raise CommandError("--days must be at least 1.")
        removed, _by_model = ActivityEvent.objects.older_than(days).delete()
        self.stdout.write(f"Removed {removed} activity event(s) older than {days} day(s).")
        # A day's grace keeps a just-expired link answering "expired", not "unknown".
        stale, _by_model = SignInLink.objects.filter(
            expires_at__lt=timezone.now() - timedelta(days=1)
        ).delete()
        self.stdout.write(f"Removed {stale} expired sign-in link(s).")
