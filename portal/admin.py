"""The staff side of the portal, in the Django admin: settings (with history and a
connection test), contact access (block, unblock, find a CRM contact, send a sign-in
link), sign-in links and the activity log (read-only)."""

from __future__ import annotations

import hashlib
import logging
import smtplib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from asgiref.sync import async_to_sync
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from crm_gateway import (
    ERASABLE_CONTACT_FIELDS,
    PROFILE_EDITABLE_FIELDS,
    Contact,
    CrmError,
    StaffGateway,
    Vocabulary,
    learn_vocabulary,
)
from portal import connection_check, signin_links, validators
from portal.activity import record_activity
from portal.models import (
    ActivityEvent,
    ActivityKind,
    ContactAccess,
    PortalSettings,
    SettingsChange,
    SignInLink,
    StaffCrmLink,
)

logger = logging.getLogger(__name__)

admin.site.site_header = _("Customer portal · staff")
admin.site.site_title = _("Portal staff")
admin.site.index_title = _("Configure and watch the portal")

# The fields whose changes go into SettingsChange, in form order.
TRACKED_FIELDS = [
    "portal_name",
    "primary_color",
    "support_email",
    "support_phone",
    "default_language",
    "languages",
    "signin_oauth",
    "signin_email",
    "contact_recheck_minutes",
    "section_invoices",
    "section_quotes",
    "section_documents",
    "quotes_can_decide",
    "section_cases",
    "case_contact_fields",
    "cases_can_close",
    "cases_can_reopen",
    "upload_max_mib",
    "upload_max_files",
    "upload_types",
    "cases_per_hour",
    "comments_per_hour",
    "section_help",
    "help_public",
    "invoice_stages",
    "quote_stages",
    "page_size",
    "activity_retention_days",
    "profile_editable_fields",
    "erasure_mode",
    "erasure_fields",
    "section_statement",
    "statement_max_records",
    "zip_max_files",
    "zip_concurrency",
]


class StageListField(forms.CharField):
    """A list of stage names, one a line, edited as text."""

    widget = forms.Textarea(attrs={"rows": 5, "cols": 40})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list | tuple):
            items = [str(item) for item in value]
        else:
            text = super().to_python(value) or ""
            items = text.replace(",", "\n").splitlines()
        return [item.strip() for item in items if item.strip()]

    def validate(self, value: Any) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")
        validators.validate_stage_list(value)


# How long the settings form waits for the CRM's options before offering free text.
STAGE_OPTIONS_DEADLINE = 5.0


class CrmStageField(forms.MultipleChoiceField):
    """The stages contacts see, chosen among the CRM's own options (`/meta/fields`), with
    the CRM's labels in the staff member's language. A saved value the CRM does not
    know is shown (ticked, flagged) and refused on save with what the CRM offers."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, vocabulary: Vocabulary, saved: Any, **kwargs: Any) -> None:
        self.vocabulary = vocabulary
        saved_values = [str(v) for v in saved or []] if isinstance(saved, list | tuple) else []
        self.unknown = vocabulary.unknown(saved_values)
        choices = [
            (key, label if label == key else f"{label} ({key})")
            for key, label in vocabulary.choices()
        ]
        choices += [
            (value, _("%(value)s: not a value of this CRM") % {"value": value})
            for value in self.unknown
        ]
        super().__init__(choices=choices, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):  # saved standard names tick the CRM's keys
            return list(self.vocabulary.resolve(str(item) for item in value))
        return value

    def to_python(self, value: Any) -> list[str]:
        items = [value] if isinstance(value, str) else list(value or [])
        found: list[str] = []
        for item in items:  # one a line still reads, as the free-text field took them
            known = self.vocabulary.knows(str(item).strip())  # a key may hold a comma
            for part in [str(item)] if known else str(item).replace(",", "\n").splitlines():
                part = part.strip()
                if part and part not in found:
                    found.append(part)
        return found

    def validate(self, value: Any) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")
        foreign = [item for item in value if not self.vocabulary.knows(item)]
        if foreign:
            offered = ", ".join(label for _key, label in self.vocabulary.choices())
            raise ValidationError(
                _(
                    "This CRM has no %(field)s value %(values)s. Choose among the values "
                    "it offers: %(offered)s."
                ),
                code="unknown_stage",
                params={
                    "field": self.vocabulary.field_name,
                    "values": ", ".join(f"“{item}”" for item in foreign),
                    "offered": offered,
                },
            )
        validators.validate_stage_list(value)


def crm_stage_vocabularies() -> dict[str, Vocabulary]:
    """The CRM's options for the stage settings, labels in the staff member's language
    (a CRM that does not say, or cannot be reached now, gives the fallback)."""
    language = translation.get_language() or "en"

    async def learn() -> dict[str, Vocabulary]:
        return {
            "invoice_stages": await learn_vocabulary(
                "Invoice", "shipping_stage", language, deadline=STAGE_OPTIONS_DEADLINE
            ),
            "quote_stages": await learn_vocabulary(
                "Quote", "quote_stage", language, deadline=STAGE_OPTIONS_DEADLINE
            ),
        }

    return async_to_sync(learn)()


class FieldNamesField(forms.MultipleChoiceField):
    """A list of CRM field names, chosen with checkboxes, stored as a JSON list."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, names: Any, **kwargs: Any) -> None:
        super().__init__(choices=[(name, name) for name in names], **kwargs)

    def prepare_value(self, value: Any) -> Any:
        return list(value) if isinstance(value, list | tuple) else value


class PortalSettingsForm(forms.ModelForm):
    logo_upload = forms.FileField(
        label=_("Upload a new logo"),
        required=False,
        help_text=_("PNG, JPEG or WebP, at most 512 KB. SVG is not accepted."),
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    remove_logo = forms.BooleanField(label=_("Remove the current logo"), required=False)
    languages = forms.TypedMultipleChoiceField(
        label=_("Languages offered"),
        choices=settings.LANGUAGES,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Contacts choose among these with the language menu; the browser's language "
            "picks among them before a contact chooses. Include the default language."
        ),
    )
    invoice_stages = StageListField(
        label=_("Invoice stages contacts see"),
        required=False,
        help_text=_("One shipping_stage value a line, e.g. Pending, Shipped."),
    )
    quote_stages = StageListField(
        label=_("Quote stages contacts see"),
        required=False,
        help_text=_("One quote_stage value a line, e.g. Delivered, Closed Accepted."),
    )

    profile_editable_fields = FieldNamesField(
        PROFILE_EDITABLE_FIELDS,
        label=_("Profile fields contacts may edit"),
        required=False,
        help_text=_("The others are shown read-only on the contact's profile page."),
    )
    erasure_fields = FieldNamesField(
        sorted(ERASABLE_CONTACT_FIELDS),
        label=_("Fields erased directly"),
        required=False,
        help_text=_("Only with direct erasure: the contact's personal fields it empties."),
    )

    case_contact_fields = forms.MultipleChoiceField(
        label=_("Case fields contacts may set"),
        required=False,
        choices=[("category", _("Category")), ("priority", _("Priority"))],
        widget=forms.CheckboxSelectMultiple,
    )
    upload_types = StageListField(
        label=_("File types contacts may attach"),
        required=False,
        help_text=_("One media type a line, e.g. application/pdf, image/png."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stage_warnings: list[str] = []
        for name, vocabulary in crm_stage_vocabularies().items():
            text_field = self.fields[name]
            if not vocabulary.answered:
                text_field.help_text = _(
                    "%(hint)s The CRM did not list this field's options: type its values "
                    "exactly as the CRM stores them."
                ) % {"hint": text_field.help_text}
                continue
            saved = self.initial.get(name)
            field = CrmStageField(
                vocabulary,
                saved,
                label=text_field.label,
                required=False,
                help_text=_("The values this CRM offers, with its labels."),
            )
            self.fields[name] = field
            if field.unknown:
                self.stage_warnings.append(
                    _("%(label)s: the CRM no longer knows %(values)s.")
                    % {"label": field.label, "values": ", ".join(field.unknown)}
                )

    def clean_upload_types(self) -> list[str]:
        types = [item.lower() for item in self.cleaned_data.get("upload_types") or []]
        validators.validate_media_types(types)
        return types

    class Meta:
        model = PortalSettings
        fields = TRACKED_FIELDS
        widgets = {"primary_color": forms.TextInput(attrs={"type": "color"})}

    def clean_primary_color(self) -> str:
        value = (self.cleaned_data.get("primary_color") or "").strip().lower()
        validators.validate_primary_color(value)
        return value

    def clean_logo_upload(self) -> Any:
        upload = self.cleaned_data.get("logo_upload")
        self.logo_bytes: bytes | None = None
        self.logo_type = ""
        if not upload:
            return upload
        if upload.size is not None and upload.size > validators.MAX_LOGO_BYTES:
            raise validators.logo_too_large(upload.size)  # without reading it all
        data = upload.read(validators.MAX_LOGO_BYTES + 1)
        self.logo_type = validators.validate_logo(data)
        self.logo_bytes = data
        return upload

    def save(self, commit: bool = True) -> PortalSettings:
        instance = super().save(commit=False)
        if self.cleaned_data.get("remove_logo"):
            instance.logo_data, instance.logo_content_type = b"", ""
        if getattr(self, "logo_bytes", None):
            instance.logo_data, instance.logo_content_type = self.logo_bytes, self.logo_type
        if commit:
            instance.save()
        return instance


def _describe_logo(row: PortalSettings) -> str:
    if not row.logo_content_type:
        return "(none)"
    data = bytes(row.logo_data)
    digest = hashlib.sha256(data).hexdigest()[:12]
    return f"{row.logo_content_type}, {len(data)} bytes, sha256 {digest}…"


def _value_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def settings_changes(before: PortalSettings, after: PortalSettings) -> list[tuple[str, str, str]]:
    """(field, old, new) for every tracked field that differs."""
    changes = []
    for name in TRACKED_FIELDS:
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            changes.append((name, _value_text(old), _value_text(new)))
    old_logo, new_logo = _describe_logo(before), _describe_logo(after)
    if old_logo != new_logo:
        changes.append(("logo", old_logo, new_logo))
    return changes


class SettingsChangeInline(admin.TabularInline):
    model = SettingsChange
    fk_name = "portal_settings"
    extra = 0
    can_delete = False
    fields = ("changed_at", "changed_by_name", "field", "old_value", "new_value")
    readonly_fields = ("changed_at", "changed_by_name", "field", "old_value", "new_value")
    verbose_name_plural = _("history of changes")
    classes = ["collapse"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PortalSettings)
class PortalSettingsAdmin(admin.ModelAdmin):
    form = PortalSettingsForm
    inlines = [SettingsChangeInline]
    change_form_template = "admin/portal/portalsettings/change_form.html"
    readonly_fields = ["current_logo", "colour_check", "revision", "updated_at"]
    fieldsets = [
        (
            _("Look"),
            {
                "fields": [
                    "portal_name",
                    "current_logo",
                    "logo_upload",
                    "remove_logo",
                    "primary_color",
                    "colour_check",
                    "default_language",
                    "languages",
                ]
            },
        ),
        (
            _("Support contact (shown in the footer)"),
            {"fields": ["support_email", "support_phone"]},
        ),
        (
            _("Sign-in"),
            {"fields": ["signin_oauth", "signin_email", "contact_recheck_minutes"]},
        ),
        (
            _("Sections"),
            {
                "fields": [
                    "section_invoices",
                    "invoice_stages",
                    "section_quotes",
                    "quote_stages",
                    "quotes_can_decide",
                    "section_documents",
                ]
            },
        ),
        (
            _("Support cases"),
            {
                "fields": [
                    "section_cases",
                    "case_contact_fields",
                    "cases_can_close",
                    "cases_can_reopen",
                    "upload_max_mib",
                    "upload_max_files",
                    "upload_types",
                    "cases_per_hour",
                    "comments_per_hour",
                ]
            },
        ),
        (_("Knowledge base"), {"fields": ["section_help", "help_public"]}),
        (
            _("Statement and downloads in bulk"),
            {
                "fields": [
                    "section_statement",
                    "statement_max_records",
                    "zip_max_files",
                    "zip_concurrency",
                ]
            },
        ),
        (_("Lists and records"), {"fields": ["page_size", "activity_retention_days"]}),
        (
            _("Profile and personal data"),
            {"fields": ["profile_editable_fields", "erasure_mode", "erasure_fields"]},
        ),
        (_("Version"), {"fields": ["revision", "updated_at"], "classes": ["collapse"]}),
    ]

    @admin.display(description=_("Saved colour"))
    def colour_check(self, obj: PortalSettings) -> str:
        ratio = validators.contrast_with_white(obj.primary_color)
        return _("%(color)s: white text on it has a contrast of %(ratio).2f:1 (4.5:1 needed)") % {
            "color": obj.primary_color,
            "ratio": ratio,
        }

    @admin.display(description=_("Current logo"))
    def current_logo(self, obj: PortalSettings) -> str:
        return _describe_logo(obj) if obj.pk else "(none)"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        PortalSettings.objects.get_or_create(pk=PortalSettings.SINGLETON_ID)
        return super().get_object(request, object_id, from_field)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # One row only: go straight to it.
        PortalSettings.objects.get_or_create(pk=PortalSettings.SINGLETON_ID)
        return HttpResponseRedirect(
            reverse("admin:portal_portalsettings_change", args=[PortalSettings.SINGLETON_ID])
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "environment": connection_check.environment_summary(),
            "test_connection_url": reverse("admin:portal_portalsettings_test_connection"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        form = getattr(context.get("adminform"), "form", None)
        if request.method == "GET":  # flag saved stages the CRM no longer knows
            for warning in getattr(form, "stage_warnings", ()):
                messages.warning(request, warning)
        return super().render_change_form(request, context, *args, **kwargs)

    def save_model(
        self, request: HttpRequest, obj: PortalSettings, form: Any, change: bool
    ) -> None:
        with transaction.atomic():
            before = PortalSettings.objects.select_for_update().get(pk=obj.pk)
            obj.revision = before.revision  # save() bumps it
            obj.save()
            who = request.user if request.user.is_authenticated else None
            SettingsChange.objects.bulk_create(
                SettingsChange(
                    portal_settings=obj,
                    changed_by=who,
                    changed_by_name=who.get_username() if who else "",
                    field=name,
                    old_value=old,
                    new_value=new,
                )
                for name, old, new in settings_changes(before, obj)
            )

    def get_urls(self) -> list:
        return [
            path(
                "test-connection/",
                self.admin_site.admin_view(self.test_connection_view),
                name="portal_portalsettings_test_connection",
            ),
            *super().get_urls(),
        ]

    def test_connection_view(self, request: HttpRequest) -> HttpResponse:
        """GET shows what is configured; POST runs the checks against the CRM."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        report = None
        if request.method == "POST":
            report = async_to_sync(connection_check.run_connection_check)()
            logger.info("staff connection test: %s", "ok" if report.ok else report.reason)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Test the connection to the CRM"),
            "opts": self.opts,
            "environment": connection_check.environment_summary(),
            "report": report,
        }
        return TemplateResponse(
            request, "admin/portal/portalsettings/test_connection.html", context
        )


@admin.register(SettingsChange)
class SettingsChangeAdmin(admin.ModelAdmin):
    list_display = ["changed_at", "changed_by_name", "field", "old_value", "new_value"]
    list_filter = ["field"]
    search_fields = ["field", "changed_by_name"]
    date_hierarchy = "changed_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Contact access


def send_sign_in_link(contact_id: str, request: HttpRequest) -> bool:
    """True when a link was mailed (the CRM knows the contact, who may come in). A CRM
    that cannot be asked raises the gateway's `CrmError` (`link_not_sent` tells staff),
    a mail relay that fails `signin_links.MailNotSent` (`link_not_mailed`)."""
    return async_to_sync(signin_links.send_sign_in_link)(contact_id, request)


def link_not_sent(request: HttpRequest, contact_id: str, error: CrmError) -> None:
    """The CRM could not be asked who the contact is: say why, in the admin's words and
    Test connection's reasons, and log one line the operator can act on (the reason and
    what to check; scrubbed of secrets, no stack trace)."""
    problem = connection_check.problem_for(error)
    logger.warning(
        "staff sign-in link for contact %s not sent: the CRM could not be used (%s: %s)",
        contact_id,
        problem.reason,
        problem.message,
    )
    messages.error(request, _("No sign-in link sent: %(problem)s") % {"problem": problem.message})


def relay_problem(error: Exception) -> str:
    """What staff are told when the mail relay failed, by what failed (the operator's
    log line has the relay's own answer)."""
    # smtplib turns a read that timed out into SMTPServerDisconnected: look beneath.
    causes = [error, error.__cause__, error.__context__]
    if any(isinstance(cause, TimeoutError) for cause in causes):
        return str(_("the mail server did not answer in time"))
    if isinstance(error, ConnectionRefusedError):
        return str(_("the mail server refused the connection"))
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return str(_("the mail server did not accept the portal's user name and password"))
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return str(_("the mail server refused the contact's address"))
    if isinstance(error, smtplib.SMTPResponseException):
        return str(_("the mail server refused the message (%(code)s)") % {"code": error.smtp_code})
    if isinstance(error, smtplib.SMTPException):
        return str(_("the mail server broke off the connection"))
    return str(_("the mail server could not be reached"))


def link_not_mailed(request: HttpRequest, failure: signin_links.MailNotSent) -> None:
    """The mail relay failed a staff invite (signin_links logged it for the operator):
    say so in the admin, and who to ask."""
    messages.error(
        request,
        _(
            "No sign-in link sent: %(problem)s. Please try again later; if it keeps "
            "failing, ask whoever runs the portal to check its mail settings."
        )
        % {"problem": relay_problem(failure.error)},
    )


def _set_blocked(request: HttpRequest, accesses: Any, blocked: bool) -> int:
    kind = ActivityKind.ACCESS_BLOCKED if blocked else ActivityKind.ACCESS_UNBLOCKED
    count = 0
    for access in accesses:
        if access.blocked != blocked:
            access.blocked = blocked
            access.save(update_fields=["blocked"])
            record_activity(request, kind, contact_id=access.contact_id)
            count += 1
    return count


class ContactSearchForm(forms.Form):
    q = forms.CharField(
        label=_("E-mail address or name"),
        min_length=2,
        max_length=100,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )


@dataclass
class FoundContact:
    """One row of Find contact: the CRM's contact and what the portal knows of them."""

    contact: Contact
    access: ContactAccess | None

    @property
    def id(self) -> str:
        return self.contact.id

    @property
    def email1(self) -> str:
        return self.contact.email1 or ""

    @property
    def primary_account_id(self) -> str:
        return self.contact.primary_account_id or ""

    @property
    def display_name(self) -> str:
        full = " ".join(part for part in (self.contact.first_name, self.contact.last_name) if part)
        return self.contact.display or full or self.contact.name or self.contact.id


def search_crm_contacts(query: str) -> list[FoundContact]:
    """Contacts by e-mail or name, through the gateway with the staff credential."""
    contacts = async_to_sync(StaffGateway().find_contacts)(query)
    known = ContactAccess.objects.in_bulk([c.id for c in contacts], field_name="contact_id")
    return [FoundContact(contact, known.get(contact.id)) for contact in contacts]


@admin.register(ContactAccess)
class ContactAccessAdmin(admin.ModelAdmin):
    list_display = [
        "contact_id",
        "account_id",
        "last_sign_in",
        "blocked",
        "invited_at",
        "activity_link",
    ]
    list_filter = ["blocked", ("last_sign_in", admin.EmptyFieldListFilter)]
    search_fields = ["=contact_id", "=account_id"]
    readonly_fields = ["last_sign_in", "invited_at"]
    fields = ["contact_id", "account_id", "blocked", "last_sign_in", "invited_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The CRM's ids identify the record: fixed once it exists.
        return [*self.readonly_fields, "contact_id", "account_id"] if obj else self.readonly_fields

    actions = ["block", "unblock", "send_link"]
    change_list_template = "admin/portal/contactaccess/change_list.html"

    @admin.display(description=_("activity"))
    def activity_link(self, obj: ContactAccess) -> str:
        url = reverse("admin:portal_activityevent_changelist")
        return format_html(
            '<a href="{}?{}">{}</a>', url, urlencode({"q": obj.contact_id}), _("activity")
        )

    @admin.action(description=_("Block the selected contacts"))
    def block(self, request: HttpRequest, queryset: Any) -> None:
        count = _set_blocked(request, queryset, True)
        self.message_user(request, _("%(count)d contact(s) blocked.") % {"count": count})

    @admin.action(description=_("Unblock the selected contacts"))
    def unblock(self, request: HttpRequest, queryset: Any) -> None:
        count = _set_blocked(request, queryset, False)
        self.message_user(request, _("%(count)d contact(s) unblocked.") % {"count": count})

    @admin.action(description=_("Send a sign-in link"))
    def send_link(self, request: HttpRequest, queryset: Any) -> None:
        sent = 0
        for access in queryset.filter(blocked=False):
            try:
                if not send_sign_in_link(access.contact_id, request):
                    continue
            except CrmError as error:
                link_not_sent(request, access.contact_id, error)
                break  # the next contacts would meet the same CRM
            except signin_links.MailNotSent as failure:
                link_not_mailed(request, failure)
                break  # and the same mail relay
            access.invited_at = timezone.now()
            access.save(update_fields=["invited_at"])
            sent += 1
        self.message_user(request, _("%(count)d sign-in link(s) sent.") % {"count": sent})

    def get_urls(self) -> list:
        return [
            path(
                "find-contact/",
                self.admin_site.admin_view(self.find_contact_view),
                name="portal_contactaccess_find",
            ),
            *super().get_urls(),
        ]

    def find_contact_view(self, request: HttpRequest) -> HttpResponse:
        """Find a CRM contact by e-mail or name (staff credential), then act on it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST" and self.has_change_permission(request):
            return self._act_on_contact(request)
        form = ContactSearchForm(request.GET or None)
        results: list[FoundContact] = []
        problem = ""
        if form.is_valid():
            try:
                results = search_crm_contacts(form.cleaned_data["q"])
            except CrmError as error:
                # The same reasons and sentences as Test connection.
                problem = connection_check.problem_for(error).message
                logger.warning("staff contact search failed: %s", type(error).__name__)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Find a CRM contact"),
            "opts": self.opts,
            "form": form,
            "results": results,
            "searched": form.is_valid(),
            "problem": problem,
        }
        return TemplateResponse(request, "admin/portal/contactaccess/find_contact.html", context)

    def _act_on_contact(self, request: HttpRequest) -> HttpResponse:
        contact_id = request.POST.get("contact_id", "").strip()[:64]
        account_id = request.POST.get("account_id", "").strip()[:64]
        action = request.POST.get("action", "")
        back = request.POST.get("q", "")
        if not contact_id or action not in {"block", "unblock", "send_link"}:
            messages.error(request, _("Choose a contact and an action."))
        else:
            access, _created = ContactAccess.objects.get_or_create(
                contact_id=contact_id, defaults={"account_id": account_id}
            )
            if action in {"block", "unblock"}:
                _set_blocked(request, [access], action == "block")
                messages.success(request, _("Saved."))
            else:
                self._send_link_to(request, access)
        url = reverse("admin:portal_contactaccess_find")
        return HttpResponseRedirect(f"{url}?{urlencode({'q': back})}" if back else url)

    def _send_link_to(self, request: HttpRequest, access: ContactAccess) -> None:
        try:
            sent = send_sign_in_link(access.contact_id, request)
        except CrmError as error:
            link_not_sent(request, access.contact_id, error)
            return
        except signin_links.MailNotSent as failure:
            link_not_mailed(request, failure)
            return
        if sent:
            access.invited_at = timezone.now()
            access.save(update_fields=["invited_at"])
            messages.success(request, _("Sign-in link sent."))
        else:
            messages.warning(
                request,
                _(
                    "No link sent: the CRM has no e-mail address for this contact, "
                    "or they may not use the portal."
                ),
            )


# --- Read-only records


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SignInLink)
class SignInLinkAdmin(ReadOnlyAdmin):
    list_display = ["email", "contact_id", "created_at", "expires_at", "used_at", "state"]
    list_filter = [("used_at", admin.EmptyFieldListFilter)]
    search_fields = ["email", "=contact_id"]
    date_hierarchy = "created_at"
    exclude = ["token_hash"]  # a hash, but still nothing staff need to see

    @admin.display(description=_("state"))
    def state(self, obj: SignInLink) -> str:
        if obj.used_at:
            return str(_("used"))
        if obj.expires_at <= timezone.now():
            return str(_("expired"))
        return str(_("open"))


@admin.register(ActivityEvent)
class ActivityEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "kind", "contact_id", "record_model", "record_id", "record_count", "ip"]
    list_filter = ["kind", "record_model"]
    search_fields = ["=contact_id", "=record_id"]
    date_hierarchy = "at"
    list_per_page = 100


@admin.register(StaffCrmLink)
class StaffCrmLinkAdmin(ReadOnlyAdmin):
    """Who may sign in with which 1CRM user. Staff link their own (*Your sign-in*); here a
    superuser sees them all and may remove one (someone who left, a mistaken link)."""

    list_display = ["user", "crm_user_name", "crm_user_id", "linked_at"]
    search_fields = ["=crm_user_id", "user__username"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)
