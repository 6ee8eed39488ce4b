"""The admin's login: throttled per user name and per client address, and a one-time code
(TOTP, django-otp) for staff who set one up; required of superusers with ADMIN_REQUIRE_2FA.

Only failures count: after ADMIN_LOGIN_MAX_FAILURES for one user name, or
ADMIN_LOGIN_MAX_FAILURES_PER_IP from one address, within 15 minutes, the form refuses
every attempt (a 429 with a message, the password not even tried) until the window ends.
"""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_otp import match_token, user_has_device

from portal.client_address import client_address
from portal.signin import ratelimit

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 15 * 60


def _limits(request: HttpRequest, username: str) -> list[tuple[ratelimit.Limit, str | None]]:
    return [
        (
            ratelimit.Limit("admin-login-user", settings.ADMIN_LOGIN_MAX_FAILURES, WINDOW_SECONDS),
            username,
        ),
        (
            ratelimit.Limit(
                "admin-login-ip", settings.ADMIN_LOGIN_MAX_FAILURES_PER_IP, WINDOW_SECONDS
            ),
            client_address(request.META),
        ),
    ]


def login_throttled(request: HttpRequest, username: str) -> bool:
    return any(ratelimit.used_up(limit, subject) for limit, subject in _limits(request, username))


def count_failed_login(request: HttpRequest, username: str) -> None:
    for limit, subject in _limits(request, username):
        ratelimit.count_hit(limit, subject)


def second_factor_required(user: Any) -> bool:
    """Must this user have a one-time code device to sign in to the admin?"""
    return bool(settings.ADMIN_REQUIRE_2FA and user.is_superuser)


def needs_second_factor(user: Any) -> bool:
    """Does this user's admin session need a verified one-time code?"""
    return second_factor_required(user) or user_has_device(user)


class StaffLoginForm(AdminAuthenticationForm):
    otp_token = forms.CharField(
        label=_("One-time code"),
        required=False,
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text=_("From your authenticator app, if you set one up."),
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "throttled": _(
            "Too many failed sign-ins for this user name or from this address. "
            "Wait 15 minutes, then try again."
        ),
        "otp_required": _("Enter the current one-time code from your authenticator app."),
        "otp_setup_required": _(
            "A superuser signs in with a one-time code, and this account has no "
            "authenticator app set up. Ask the operator for a backup code "
            "(manage.py addstatictoken)."
        ),
    }

    def clean(self) -> dict[str, Any]:
        request, username = self.request, self.cleaned_data.get("username") or ""
        if request is None:  # not the admin's login view: nothing to count against
            return super().clean()
        if login_throttled(request, username):
            logger.warning("admin login refused: too many failures (user name or address)")
            raise ValidationError(self.error_messages["throttled"], code="throttled")
        try:
            return super().clean()
        except ValidationError:
            count_failed_login(request, username)
            raise

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)  # active staff only
        if not user_has_device(user):
            if second_factor_required(user):
                raise ValidationError(
                    self.error_messages["otp_setup_required"], code="otp_setup_required"
                )
            return
        token = "".join((self.cleaned_data.get("otp_token") or "").split())
        device = match_token(user, token) if token else None
        if device is None:
            raise ValidationError(self.error_messages["otp_required"], code="otp_required")
        # django-otp's user_logged_in handler marks the new session as verified by it.
        user.otp_device = device
