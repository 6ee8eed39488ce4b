"""The portal's admin site: Django's, with a throttled login that asks staff who set up an
authenticator app for its one-time code (portal/staff_login.py), and *Your sign-in*,
where a staff member sets up that app and links (or unlinks) their own 1CRM user."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _

from portal import staff_totp
from portal.staff_login import StaffLoginForm, needs_second_factor

logger = logging.getLogger(__name__)


class PortalAdminSite(admin.AdminSite):
    login_form = StaffLoginForm

    def has_permission(self, request: HttpRequest) -> bool:
        """Active staff, and verified by their one-time code when they need one."""
        if not super().has_permission(request):
            return False
        user = request.user
        return not needs_second_factor(user) or bool(getattr(user, "is_verified", bool)())

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if form is not None and form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429  # the login page, with the message, not a 500
        return response

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        return {
            **super().each_context(request),
            "staff_onecrm_signin": settings.STAFF_ONECRM_SIGNIN,
        }

    def get_urls(self) -> list:
        return [
            path("my-sign-in/", self.admin_view(self.my_sign_in_view), name="my-sign-in"),
            path(
                "my-sign-in/unlink-crm-user/",
                self.admin_view(self.unlink_crm_user_view),
                name="my-sign-in-unlink-crm-user",
            ),
            path(
                "my-sign-in/authenticator/<str:action>/",
                self.admin_view(self.authenticator_view),
                name="my-sign-in-authenticator",
            ),
            *super().get_urls(),
        ]

    def my_sign_in_view(self, request: HttpRequest) -> HttpResponse:
        from portal.models import StaffCrmLink
        from portal.staff_oauth import SIGNED_IN_WITH_CRM_KEY

        user = request.user
        if not user.is_authenticated:
            raise PermissionDenied  # admin_view signs anonymous visitors in first
        context = {
            **self.each_context(request),
            **staff_totp.page_context(user),
            "title": _("Your sign-in"),
            "crm_link": StaffCrmLink.objects.filter(user=user).first(),
            "signed_in_with_crm": bool(request.session.get(SIGNED_IN_WITH_CRM_KEY)),
        }
        return TemplateResponse(request, "admin/portal/my_sign_in.html", context)

    def unlink_crm_user_view(self, request: HttpRequest) -> HttpResponse:
        from portal.models import StaffCrmLink

        user = request.user
        if not user.is_authenticated:
            raise PermissionDenied  # admin_view signs anonymous visitors in first
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        deleted, _counts = StaffCrmLink.objects.filter(user=user).delete()
        if deleted:
            logger.info("staff user %s unlinked their CRM user", user.pk)
            messages.success(request, _("Your 1CRM user is no longer linked."))
        return HttpResponseRedirect(reverse("admin:my-sign-in"))

    def authenticator_view(self, request: HttpRequest, action: str) -> HttpResponse:
        """POST start, confirm or remove: the staff member's own authenticator app."""
        user = request.user
        if not user.is_authenticated:
            raise PermissionDenied  # admin_view signs anonymous visitors in first
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if action == "start":
            staff_totp.start(user)
        elif action == "confirm":
            staff_totp.confirm(request, user)
        elif action == "remove":
            staff_totp.remove(request, user)
        else:
            raise PermissionDenied
        logger.info("staff user %s: authenticator %s", user.pk, action)
        return HttpResponseRedirect(reverse("admin:my-sign-in") + "#authenticator")
