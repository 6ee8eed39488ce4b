"""Check the connection to the CRM from the command line (deploys, cron, support)."""

import asyncio
import json

from django.core.management.base import BaseCommand, CommandError

from crm_gateway import close_http_client
from portal.connection_check import ConnectionReport, format_report, run_connection_check


async def _check_once() -> ConnectionReport:
    try:
        return await run_connection_check()
    finally:
        await close_http_client()


class Command(BaseCommand):
    help = (
        "Check that the CRM answers, which version and products it has, and that the "
        "portal's staff credential works. Exits with status 1 on any failure."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, **options):
        report = asyncio.run(_check_once())
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            self.stdout.write(format_report(report))
        if not report.ok:
            # CommandError exits with status 1 and prints one line, no traceback.
            raise CommandError(f"CRM check failed: {report.reason}", returncode=1)
