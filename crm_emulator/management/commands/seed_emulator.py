"""`manage.py seed_emulator [--reset] [--large-account N ...]`: create the emulator's
tables and seed demo data.

The emulator has no migrations on purpose (so it never conflicts with the portal's):
its tables come from `migrate --run-syncdb --database emulator`. `--reset` drops them
and the stored files first, so the data starts again from `build_demo_data(today)`.
Seeding an already seeded database without `--reset` does nothing.

`--large-account N` (repeatable) adds, to the demo data, an account with N invoices,
N/5 documents (at most 2,000) and N/20 support cases (at most 500), and a contact who
signs in as `buyer@bulk-N.example.com` with the demo password
(crm_emulator/large_account.py); an account of that size already there is left alone.
The benchmark's growth table (bench/growth.py) uses it.
"""

import datetime as dt
import shutil
import uuid

from django.apps import apps
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections, transaction

from crm_emulator import auth, files, store
from crm_emulator.demo_data import DEMO_PASSWORD, LARGE_DOCUMENT, build_demo_data
from crm_emulator.large_account import build_large_account, large_account_email
from crm_emulator.models import ApiClient, Credential, Link, Record, State, StoredFile
from crm_emulator.router import EMULATOR_DB

DEMO_CLIENT = ("demo-portal", "demo-portal-secret", ["http://127.0.0.1:8000/login/oauth/callback/"])


def drop_tables() -> None:
    connection = connections[EMULATOR_DB]
    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for model in apps.get_app_config("crm_emulator").get_models():
            if model._meta.db_table in existing:
                editor.delete_model(model)


class Command(BaseCommand):
    help = "Create the emulator's tables and seed its deterministic demo data."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="start from an empty database")
        parser.add_argument(
            "--large-account",
            type=int,
            action="append",
            default=[],
            metavar="INVOICES",
            help="add an account with this many invoices (repeatable)",
        )

    def handle(self, *args, reset, large_account, **options):
        if reset:
            drop_tables()
            shutil.rmtree(files.files_dir(), ignore_errors=True)
        call_command("migrate", database=EMULATOR_DB, run_syncdb=True, verbosity=0)
        today = dt.datetime.now(dt.UTC).date()
        if Record.objects.exists():
            if not large_account:
                self.stdout.write("emulator database already seeded (use --reset to start over)")
        else:
            with transaction.atomic(using=EMULATOR_DB):
                counts = seed(build_demo_data(today))
            self.stdout.write(f"emulator seeded: {_counted(counts)}")
        for invoices in large_account:
            email = large_account_email(invoices)
            if Credential.objects.filter(realm="contact", login=email).exists():
                self.stdout.write(f"the account with {invoices} invoices is already there")
                continue
            data, documents = build_large_account(today, invoices)
            with transaction.atomic(using=EMULATOR_DB):
                counts = seed_large_account(data, documents)
            self.stdout.write(f"large account ({email}): {_counted(counts)}")


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {model}" for model, n in sorted(counts.items()))


def _stored_fields(data) -> tuple[dict[tuple[str, str], dict], dict[str, int]]:
    records: dict[tuple[str, str], dict] = {}
    counts: dict[str, int] = {}
    for record in data.records:
        fields = store.derive(record.model, {**record.fields, "id": record.id})
        if fields.get("date_entered"):
            fields.setdefault("date_modified", fields["date_entered"])
        records[(record.model, record.id)] = fields
        counts[record.model] = counts.get(record.model, 0) + 1
    return records, counts


def _save_links(data) -> None:
    from crm_emulator.schema import JOIN_REVERSE, LINK_ALIASES

    links = []
    for link in data.links:
        name = LINK_ALIASES.get((link.model, link.link), link.link)
        links.append(
            Link(
                model=link.model,
                record_id=link.id,
                link=name,
                related_id=link.related_id,
                data=link.data,
            )
        )
        reverse = JOIN_REVERSE.get((link.model, name))
        if reverse:
            links.append(
                Link(
                    model=reverse[0],
                    record_id=link.related_id,
                    link=reverse[1],
                    related_id=link.id,
                    data=link.data,
                )
            )
    Link.objects.bulk_create(links, batch_size=500, ignore_conflicts=True)


def seed_large_account(data, documents: list[str]) -> dict[str, int]:
    """Adds a large account (crm_emulator/large_account.py) to a seeded emulator."""
    records, counts = _stored_fields(data)
    if data.files:
        one = data.files[0]
        stored = files.save_bytes(one.filename, one.mimetype, one.content)
        for document_id in documents:
            document = records[("Document", document_id)]
            document["_file_id"] = stored.file_id
            records[("DocumentRevision", document["document_revision_id"])]["_file_id"] = (
                stored.file_id
            )
    Record.objects.bulk_create(
        [Record(model=m, record_id=i, data=r) for (m, i), r in records.items()], batch_size=500
    )
    _save_links(data)
    password_hash = auth.hash_password(DEMO_PASSWORD)
    Credential.objects.bulk_create(
        [
            Credential(
                realm="contact",
                login=str(record.fields["email1"]).lower(),
                record_id=record.id,
                password_hash=password_hash,
            )
            for record in data.records
            if record.model == "Contact"
        ]
    )
    State.objects.update_or_create(key="generation", defaults={"value": uuid.uuid4().hex})
    return counts


def seed(data) -> dict[str, int]:
    records, counts = _stored_fields(data)
    for user in data.users:
        records[("User", user.id)] = {
            "id": user.id,
            "user_name": user.user_name,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "name": f"{user.first_name} {user.last_name}",
            "email1": user.email,
            "is_admin": user.is_admin,
            "role": "admin" if user.is_admin else user.role,
            "status": "Active",
        }
        counts["User"] = counts.get("User", 0) + 1
    # Files: Documents share their bytes with their revision; Notes have their own.
    for demo_file in data.files:
        stored = files.save_bytes(demo_file.filename, demo_file.mimetype, demo_file.content)
        owner = records.get((demo_file.model, demo_file.id))
        if owner is None:
            continue
        owner["_file_id"] = stored.file_id
        revision = records.get(("DocumentRevision", str(owner.get("document_revision_id") or "")))
        if demo_file.model == "Document" and revision is not None:
            revision["_file_id"] = stored.file_id
    large = files.register_generated(
        LARGE_DOCUMENT.filename, LARGE_DOCUMENT.mimetype, LARGE_DOCUMENT.size
    )
    for key in (("Document", LARGE_DOCUMENT.id), ("DocumentRevision", LARGE_DOCUMENT.revision_id)):
        if key in records:
            records[key]["_file_id"] = large.file_id
    Record.objects.bulk_create(
        [Record(model=m, record_id=i, data=r) for (m, i), r in records.items()], batch_size=500
    )
    _save_links(data)
    password_hash = auth.hash_password(DEMO_PASSWORD)
    credentials = [
        Credential(
            realm="user",
            login=u.user_name.lower(),
            record_id=u.id,
            password_hash=auth.hash_password(u.password)
            if u.password != DEMO_PASSWORD
            else password_hash,
        )
        for u in data.users
    ]
    seen: set[str] = set()
    for record in data.records:
        email = (
            str(record.fields.get("email1") or "").strip().lower()
            if record.model == "Contact"
            else ""
        )
        if email and email not in seen:
            seen.add(email)
            credentials.append(
                Credential(
                    realm="contact", login=email, record_id=record.id, password_hash=password_hash
                )
            )
    Credential.objects.bulk_create(credentials)
    admin_id = next((u.id for u in data.users if u.is_admin), "1")
    client_id, secret, uris = DEMO_CLIENT
    ApiClient.objects.update_or_create(
        client_id=client_id,
        defaults={"client_secret": secret, "redirect_uris": uris, "owner_user_id": admin_id},
    )
    State.objects.update_or_create(key="generation", defaults={"value": uuid.uuid4().hex})
    StoredFile.objects.filter(file_id="").delete()
    return counts
