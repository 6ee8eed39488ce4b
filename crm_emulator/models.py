"""The emulator's tables: a generic record store plus OAuth, files and webhooks.

No migrations package on purpose: `seed_emulator` creates these tables with
`migrate --run-syncdb --database emulator`, so the emulator never adds migrations
that could conflict with the portal's. Records are kept as JSON and filtered in Python
(see `store.py`), which is plenty for a few thousand demo records.
"""

from django.db import models


class Record(models.Model):
    """One CRM record of any model (Account, Invoice, ...), fields as 1CRM names them."""

    model = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict)

    class Meta:
        unique_together = [("model", "record_id")]

    def __str__(self) -> str:
        return f"{self.model} {self.record_id}"


class Link(models.Model):
    """A many-to-many relationship (`/data/{model}/{id}/{link}`), with optional join data."""

    model = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    link = models.CharField(max_length=64)
    related_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict)

    class Meta:
        unique_together = [("model", "record_id", "link", "related_id")]

    def __str__(self) -> str:
        return f"{self.model} {self.record_id} {self.link} {self.related_id}"


class Credential(models.Model):
    """Who may sign in: realm `user` (user name) or `contact` (e-mail)."""

    realm = models.CharField(max_length=16)
    login = models.CharField(max_length=255)
    record_id = models.CharField(max_length=64)
    password_hash = models.CharField(max_length=255)

    class Meta:
        unique_together = [("realm", "login")]

    def __str__(self) -> str:
        return f"{self.realm} {self.login}"


class ApiClient(models.Model):
    client_id = models.CharField(max_length=255, unique=True)
    client_secret = models.CharField(max_length=255, blank=True)
    redirect_uris = models.JSONField(default=list)
    owner_user_id = models.CharField(max_length=64)

    def __str__(self) -> str:
        return self.client_id


class Grant(models.Model):
    """An authorization code or refresh token; single use, kept by its hash only."""

    kind = models.CharField(max_length=16)  # "code" or "refresh"
    token_hash = models.CharField(max_length=64, unique=True)
    family = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    used = models.BooleanField(default=False)
    revoked = models.BooleanField(default=False)
    expires_at = models.FloatField()

    def __str__(self) -> str:
        return f"{self.kind} {self.family}"


class StoredFile(models.Model):
    """An uploaded or seeded file on disk (or generated on demand when `generator` is set)."""

    file_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    mimetype = models.CharField(max_length=255)
    size = models.BigIntegerField()
    modified = models.BigIntegerField()
    generator = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return self.name


class Webhook(models.Model):
    webhook_id = models.CharField(max_length=64, unique=True)
    type = models.CharField(max_length=16)
    url = models.TextField()
    model = models.CharField(max_length=64)
    filters = models.JSONField(null=True)
    assigned_user_id = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.type} {self.model}"


class State(models.Model):
    """Key/value state; `generation` changes on every reseed so the server drops its cache."""

    key = models.CharField(max_length=64, unique=True)
    value = models.TextField()

    def __str__(self) -> str:
        return self.key
