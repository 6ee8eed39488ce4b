"""The portal's admin site: Django's, plus *Your sign-in*, where a staff member links
(or unlinks) their own 1CRM user for the staff sign-in with the CRM."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)


class PortalAdminSite(admin.AdminSite):
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
