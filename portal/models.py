"""The portal's own data: staff-edited settings and their history, contact access,
e-mail sign-in links and the activity log. Customer data itself lives in the CRM."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal import request_cache, validators

# Shown translated while staff keep it (SiteSettings.display_name).
DEFAULT_PORTAL_NAME = "Customer portal"
DEFAULT_INVOICE_STAGES = ["Pending", "Partially Shipped", "Shipped", "Delivered"]
DEFAULT_QUOTE_STAGES = ["Delivered", "Negotiation", "Confirmed", "Closed Accepted", "Closed Lost"]


def default_languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def default_invoice_stages() -> list[str]:
    return list(DEFAULT_INVOICE_STAGES)


def default_quote_stages() -> list[str]:
    return list(DEFAULT_QUOTE_STAGES)


# Which profile fields contacts may edit unless staff choose otherwise: all of them, as
# the vendor's own portal allows.
DEFAULT_PROFILE_EDITABLE_FIELDS = [
    "first_name",
    "last_name",
    "title",
    "department",
    "phone_work",
    "phone_mobile",
    "phone_home",
]


def default_profile_editable_fields() -> list[str]:
    return list(DEFAULT_PROFILE_EDITABLE_FIELDS)


class ErasureMode(models.TextChoices):
    """What a contact's request to erase their personal data becomes."""

    CASE = "case", _("a support case for staff")
    NOTE = "note", _("a note on the contact and an e-mail to the support address")
    DIRECT = "direct", _("direct erasure of the listed fields")


# Support cases (issue 14): what a contact may attach, by default.
DEFAULT_UPLOAD_TYPES = [
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
    "text/csv",
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
]


def default_upload_types() -> list[str]:
    return list(DEFAULT_UPLOAD_TYPES)


def default_case_contact_fields() -> list[str]:
    return ["category", "priority"]


class PortalSettings(models.Model):
    """The one row of settings staff edit in the admin (pk is always 1).

    Read it through `portal.site_settings.get_portal_settings()` /
    `aget_portal_settings()`, which serve a cached snapshot shared by every process.
    """

    SINGLETON_ID = 1

    portal_name = models.CharField(_("portal name"), max_length=80, default=DEFAULT_PORTAL_NAME)
    # The logo lives in the database, not on a disk, so every process and host serves it.
    logo_data = models.BinaryField(_("logo"), blank=True, default=b"", editable=False)
    logo_content_type = models.CharField(max_length=20, blank=True, default="", editable=False)
    primary_color = models.CharField(
        _("primary colour"),
        max_length=7,
        default="#1f5fa8",
        validators=[validators.validate_primary_color],
        help_text=_("#rrggbb; white text on it must reach a contrast of 4.5:1 (WCAG AA)."),
    )
    support_email = models.EmailField(_("support e-mail"), blank=True, default="")
    support_phone = models.CharField(_("support phone"), max_length=40, blank=True, default="")
    default_language = models.CharField(
        _("default language"), max_length=10, choices=settings.LANGUAGES, default="en"
    )
    languages = models.JSONField(
        _("languages offered"),
        default=default_languages,
        validators=[validators.validate_language_list],
        help_text=_("Languages contacts may choose from; the default language is always one."),
    )
    signin_oauth = models.BooleanField(_("sign in with the CRM (OAuth)"), default=True)
    signin_email = models.BooleanField(_("sign in with an e-mailed link"), default=True)
    contact_recheck_minutes = models.PositiveSmallIntegerField(
        _("re-check signed-in contacts every (minutes)"),
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text=_(
            "How often a signed-in contact's portal access and account are read again from "
            "the CRM, 1 to 60 minutes: a contact switched off there is signed out, one moved "
            "to another account sees that account's records, at most this long afterwards."
        ),
    )
    section_invoices = models.BooleanField(_("invoices"), default=True)
    section_quotes = models.BooleanField(_("quotes"), default=True)
    section_documents = models.BooleanField(_("documents"), default=True)
    quotes_can_decide = models.BooleanField(
        _("contacts may accept or decline quotes"), default=False
    )
    invoice_stages = models.JSONField(
        _("invoice stages contacts see"),
        default=default_invoice_stages,
        blank=True,
        validators=[validators.validate_stage_list],
        help_text=_("Invoice shipping_stage values shown to contacts."),
    )
    quote_stages = models.JSONField(
        _("quote stages contacts see"),
        default=default_quote_stages,
        blank=True,
        validators=[validators.validate_stage_list],
        help_text=_("Quote quote_stage values shown to contacts."),
    )
    # --- Support cases and the knowledge base (issue 14)
    section_cases = models.BooleanField(_("support cases"), default=True)
    section_help = models.BooleanField(_("knowledge base"), default=True)
    help_public = models.BooleanField(
        _("knowledge base open to visitors who are not signed in"), default=False
    )
    case_contact_fields = models.JSONField(
        _("case fields contacts may set"),
        default=default_case_contact_fields,
        blank=True,
        validators=[validators.validate_case_contact_fields],
        help_text=_("Besides subject and description: category, priority, both or none."),
    )
    cases_can_close = models.BooleanField(_("contacts may close their cases"), default=False)
    cases_can_reopen = models.BooleanField(_("contacts may reopen closed cases"), default=False)
    upload_max_mib = models.PositiveSmallIntegerField(
        _("largest attachment (MiB)"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    upload_max_files = models.PositiveSmallIntegerField(
        _("attachments per message"),
        default=5,
        validators=[MinValueValidator(0), MaxValueValidator(20)],
        help_text=_("0 turns attachments off."),
    )
    upload_types = models.JSONField(
        _("file types contacts may attach"),
        default=default_upload_types,
        blank=True,
        validators=[validators.validate_media_types],
        help_text=_("One media type a line, e.g. application/pdf, image/png."),
    )
    cases_per_hour = models.PositiveSmallIntegerField(
        _("new cases per contact and hour"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    comments_per_hour = models.PositiveSmallIntegerField(
        _("comments per contact and hour"),
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    page_size = models.PositiveSmallIntegerField(
        _("page size"),
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(200)],
        help_text=_("Rows per page in lists, 1 to 200 (the CRM's own limit)."),
    )
    activity_retention_days = models.PositiveIntegerField(
        _("keep activity for (days)"),
        default=180,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )
    # --- The contact's profile and personal data (issue 16)
    profile_editable_fields = models.JSONField(
        _("profile fields contacts may edit"),
        default=default_profile_editable_fields,
        blank=True,
        validators=[validators.validate_profile_fields],
        help_text=_(
            "Any of first_name, last_name, title, department, phone_work, phone_mobile, "
            "phone_home; the other details are shown read-only."
        ),
    )
    erasure_mode = models.CharField(
        _("requests to erase personal data"),
        max_length=10,
        choices=ErasureMode.choices,
        default=ErasureMode.CASE,
    )
    erasure_fields = models.JSONField(
        _("fields erased directly"),
        default=list,
        blank=True,
        validators=[validators.validate_erasure_fields],
        help_text=_("Only with direct erasure: the contact's personal fields it empties."),
    )
    # --- The statement of account and downloads in bulk (issue 15)
    section_statement = models.BooleanField(_("statement of account"), default=True)
    statement_max_records = models.PositiveIntegerField(
        _("records read for a statement, at most"),
        default=5000,
        validators=[MinValueValidator(200), MaxValueValidator(100000)],
        help_text=_("Invoices and payments together; past it the statement says it stopped."),
    )
    zip_max_files = models.PositiveSmallIntegerField(
        _("files in one zip download, at most"),
        default=200,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=_("Past it, the list asks the contact to narrow the period."),
    )
    zip_concurrency = models.PositiveSmallIntegerField(
        _("files fetched from the CRM at once for a zip"),
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(16)],
    )
    # Bumped on every save: cache keys and asset URLs (?v=) carry it.
    revision = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("portal settings")
        verbose_name_plural = _("portal settings")

    def __str__(self) -> str:
        return str(_("Portal settings"))

    def save(self, *args, **kwargs) -> None:
        self.pk = self.SINGLETON_ID
        if not self._state.adding:
            self.revision = (self.revision or 0) + 1
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "revision", "updated_at"}
        super().save(*args, **kwargs)
        # Imported here: site_settings imports this module.
        from portal.site_settings import publish_portal_settings

        publish_portal_settings(self)

    def clean(self) -> None:
        super().clean()
        errors: dict[str, str] = {}
        if self.languages and self.default_language not in self.languages:
            errors["languages"] = str(_("Offer the default language too."))
        if not (self.signin_oauth or self.signin_email):
            errors["signin_email"] = str(_("Offer at least one way to sign in."))
        if self.section_invoices and not self.invoice_stages:
            errors["invoice_stages"] = str(
                _("List at least one invoice stage, or turn the invoices section off.")
            )
        if self.section_quotes and not self.quote_stages:
            errors["quote_stages"] = str(
                _("List at least one quote stage, or turn the quotes section off.")
            )
        if self.erasure_mode == ErasureMode.NOTE and not self.support_email:
            errors["support_email"] = str(
                _("Erasure requests by note and e-mail need a support e-mail address.")
            )
        if self.erasure_mode == ErasureMode.DIRECT and not self.erasure_fields:
            errors["erasure_fields"] = str(_("Direct erasure needs the fields it erases."))
        if errors:
            raise ValidationError(errors)


class ContactLanguage(models.Model):
    """The language a contact chose in the portal, kept across sessions and devices.

    Keyed by the CRM contact id (the contact lives in the CRM; this is the portal's own
    preference). Read through `portal.languages`, which caches it.
    """

    contact_id = models.CharField(_("CRM contact id"), max_length=64, unique=True)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("contact language")

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.language}"


class CaseSeen(models.Model):
    """How far a contact has read one of their cases: the newest staff reply the case's
    page showed them, by the CRM's own timestamp (so the portal's clock never matters).
    The dashboard's open cases box marks a case whose staff replies are newer, or that
    has staff replies and was never opened. One row per contact and case."""

    contact_id = models.CharField(_("CRM contact id"), max_length=64)
    case_id = models.CharField(_("CRM case id"), max_length=64)
    replies_seen_until = models.DateTimeField(_("staff replies seen until"), null=True, blank=True)
    # The CRM's timestamps have whole seconds: the replies seen with exactly that one.
    replies_seen_ids = models.JSONField(_("staff replies seen at that time"), default=list)
    viewed_at = models.DateTimeField(_("last viewed"), auto_now=True)

    class Meta:
        verbose_name = _("case seen by a contact")
        constraints = [
            models.UniqueConstraint(fields=["contact_id", "case_id"], name="case_seen_once")
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.case_id}"


class SettingsChange(models.Model):
    """One changed field of PortalSettings: who changed it, when, from what to what."""

    portal_settings = models.ForeignKey(
        PortalSettings, on_delete=models.CASCADE, related_name="changes"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    changed_by_name = models.CharField(max_length=150, blank=True, default="")
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)
    field = models.CharField(max_length=64)
    old_value = models.TextField(blank=True, default="")
    new_value = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-changed_at", "-id"]
        verbose_name = _("settings change")

    def __str__(self) -> str:
        return f"{self.field}: {self.old_value!r} → {self.new_value!r}"


class ContactAccessManager(models.Manager["ContactAccess"]):
    def record_sign_in(self, contact_id: str, account_id: str = "") -> ContactAccess:
        access, _created = self.update_or_create(
            contact_id=contact_id,
            defaults={"account_id": account_id or "", "last_sign_in": timezone.now()},
        )
        return access

    async def arecord_sign_in(self, contact_id: str, account_id: str = "") -> ContactAccess:
        access, _created = await self.aupdate_or_create(
            contact_id=contact_id,
            defaults={"account_id": account_id or "", "last_sign_in": timezone.now()},
        )
        return access

    async def arecord_account(self, contact_id: str, account_id: str) -> None:
        """The CRM moved the contact to another account (seen while signed in)."""
        await self.filter(contact_id=contact_id).aupdate(account_id=account_id or "")

    def is_blocked(self, contact_id: str) -> bool:
        return self.filter(contact_id=contact_id, blocked=True).exists()

    async def ais_blocked(self, contact_id: str) -> bool:
        """Asked on every page, so cached (one database query and a thread hop less per
        page, measured in docs/performance.md). Every change of `blocked` goes through
        save() or delete(), which drop the entry at once and write the new value once
        committed; `add` here never overwrites that fresher value with an older read."""
        key = blocked_cache_key(contact_id)
        cached = await request_cache.aget(key)  # read with the page's other entries
        if cached is not None:
            return bool(cached)
        blocked = await self.filter(contact_id=contact_id, blocked=True).aexists()
        await cache.aadd(key, blocked, BLOCKED_CACHE_SECONDS)
        return blocked


BLOCKED_CACHE_SECONDS = 60


def blocked_cache_key(contact_id: str) -> str:
    return "portal:blocked:v1:" + hashlib.sha256(contact_id.encode()).hexdigest()[:32]


class ContactAccess(models.Model):
    """What the portal knows about a CRM contact's access; the contact itself is in the CRM."""

    contact_id = models.CharField(_("CRM contact id"), max_length=64, unique=True)
    account_id = models.CharField(_("CRM account id"), max_length=64, blank=True, default="")
    last_sign_in = models.DateTimeField(_("last sign-in"), null=True, blank=True)
    blocked = models.BooleanField(_("blocked"), default=False)
    invited_at = models.DateTimeField(_("invited"), null=True, blank=True)

    objects = ContactAccessManager()

    class Meta:
        verbose_name = _("contact access")
        verbose_name_plural = _("contact access")
        ordering = ["-last_sign_in", "contact_id"]

    def __str__(self) -> str:
        return self.contact_id

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        self._publish_blocked(self.blocked)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        result = super().delete(*args, **kwargs)
        self._publish_blocked(False)
        return result

    def _publish_blocked(self, blocked: bool) -> None:
        """Refresh ais_blocked's cache entry: now, and with the value once committed."""
        key = blocked_cache_key(self.contact_id)
        cache.delete(key)
        request_cache.forget(key)  # a page that blocks someone reads it afresh
        transaction.on_commit(lambda: cache.set(key, blocked, BLOCKED_CACHE_SECONDS))
        # (queryset.update() bypasses this: change `blocked` through save() only.)


class SignInLink(models.Model):
    """An e-mailed one-time sign-in link. Only the SHA-256 of its token is stored."""

    token_hash = models.CharField(
        max_length=64, unique=True, validators=[validators.validate_sha256_hex]
    )
    contact_id = models.CharField(max_length=64, db_index=True)
    email = models.EmailField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("sign-in link")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} ({self.created_at:%Y-%m-%d %H:%M})"


class EmailChange(models.Model):
    """A contact's request to change their e-mail address, confirmed by a one-time link
    sent to the new address. Only the SHA-256 of the link's token is stored."""

    token_hash = models.CharField(
        max_length=64, unique=True, validators=[validators.validate_sha256_hex]
    )
    contact_id = models.CharField(max_length=64, db_index=True)
    old_email = models.EmailField(blank=True, default="")
    new_email = models.EmailField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("e-mail change")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.contact_id} ({self.created_at:%Y-%m-%d %H:%M})"


class ActivityKind(models.TextChoices):
    SIGN_IN = "sign_in", _("Signed in")
    SIGN_IN_FAILED = "sign_in_failed", _("Sign-in failed")
    SIGN_OUT = "sign_out", _("Signed out")
    SIGN_IN_LINK_SENT = "sign_in_link_sent", _("Sign-in link sent")
    DOCUMENT_DOWNLOAD = "document_download", _("Document downloaded")
    PDF_DOWNLOAD = "pdf_download", _("PDF downloaded")
    QUOTE_ACCEPTED = "quote_accepted", _("Quote accepted")
    QUOTE_DECLINED = "quote_declined", _("Quote declined")
    CASE_CREATED = "case_created", _("Case opened")
    CASE_COMMENTED = "case_commented", _("Case comment added")
    CASE_CLOSED = "case_closed", _("Case closed")
    CASE_REOPENED = "case_reopened", _("Case reopened")
    ACCESS_BLOCKED = "access_blocked", _("Access blocked")
    ACCESS_UNBLOCKED = "access_unblocked", _("Access unblocked")
    PROFILE_UPDATED = "profile_updated", _("Profile updated")
    EMAIL_CHANGE_REQUESTED = "email_change_requested", _("E-mail change requested")
    EMAIL_CHANGED = "email_changed", _("E-mail address changed")
    PERSONAL_DATA_PDF = "personal_data_pdf", _("Personal data downloaded")
    ERASURE_REQUESTED = "erasure_requested", _("Erasure of personal data requested")
    PERSONAL_DATA_ERASED = "personal_data_erased", _("Personal data erased")
    STATEMENT_VIEWED = "statement_viewed", _("Statement viewed")
    STATEMENT_PDF = "statement_pdf", _("Statement downloaded (PDF)")
    STATEMENT_CSV = "statement_csv", _("Statement downloaded (CSV)")
    INVOICES_ZIP = "invoices_zip", _("Invoices downloaded (zip)")
    DOCUMENTS_ZIP = "documents_zip", _("Documents downloaded (zip)")


class ActivityEventQuerySet(models.QuerySet["ActivityEvent"]):
    def older_than(self, days: int) -> ActivityEventQuerySet:
        return self.filter(at__lt=timezone.now() - timedelta(days=days))


class ActivityEvent(models.Model):
    """What a contact did in the portal. Never tokens, never document contents."""

    kind = models.CharField(max_length=32, choices=ActivityKind.choices, db_index=True)
    contact_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    record_model = models.CharField(max_length=64, blank=True, default="")
    record_id = models.CharField(max_length=64, blank=True, default="")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True, default="")
    # How many records an event covered (a statement's items, a zip's files), if several.
    record_count = models.PositiveIntegerField(null=True, blank=True)

    objects = ActivityEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("activity event")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.contact_id} {self.at:%Y-%m-%d %H:%M}"


class StaffCrmLink(models.Model):
    """A staff member's own 1CRM user, linked by them while signed in with their password.

    The only way a CRM user reaches the admin (portal/staff_oauth.py): by this id, never
    by e-mail address, which a CRM user may be able to change in the CRM.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="crm_link",
        verbose_name=_("staff user"),
    )
    crm_user_id = models.CharField(_("1CRM user id"), max_length=64, unique=True)
    crm_user_name = models.CharField(_("1CRM user name"), max_length=150, blank=True, default="")
    linked_at = models.DateTimeField(_("linked"), default=timezone.now)

    class Meta:
        verbose_name = _("link to a 1CRM user")
        verbose_name_plural = _("links to 1CRM users")
        ordering = ["-linked_at"]

    def __str__(self) -> str:
        return f"{self.crm_user_name or self.crm_user_id} → {self.user_id}"


class QuoteDecision(models.Model):
    """A contact's decision on one version of a quote, claimed here BEFORE the CRM is
    written (portal.quote_decisions): the unique constraint is the compare-and-set that
    lets exactly one of two decisions sent at the same moment, from any process, reach
    the CRM. Keyed by the quote's id and the `date_modified` the decision was based on,
    so a quote staff reopen in the CRM (a new version) can be decided again."""

    quote_id = models.CharField(max_length=64)
    quote_modified = models.CharField(max_length=40, blank=True, default="")
    accepted = models.BooleanField()
    contact_id = models.CharField(max_length=64)
    claimed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("quote decision")
        constraints = [
            models.UniqueConstraint(
                fields=["quote_id", "quote_modified"], name="one_decision_per_quote_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.quote_id} {'accepted' if self.accepted else 'declined'}"
