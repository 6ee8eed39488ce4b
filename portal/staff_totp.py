"""A staff member sets up (or removes) an authenticator app for the admin's one-time code.

No JavaScript: *Set up* makes an unconfirmed TOTP device and the page shows its QR code
(an SVG image, so no inline script or style) and key; entering one current code confirms
it, replaces any older app and marks this session as verified.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.qr import write_qrcode_image

from portal.staff_login import second_factor_required

DEVICE_NAME = "Authenticator app"


def _qr_data_uri(device: TOTPDevice) -> str:
    buffer = io.BytesIO()
    write_qrcode_image(device.config_url, buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _grouped_key(device: TOTPDevice) -> str:
    key = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def page_context(user: Any) -> dict[str, Any]:
    """What *Your sign-in* shows about the user's authenticator app."""
    devices = TOTPDevice.objects.filter(user=user)
    confirmed = devices.filter(confirmed=True).first()
    pending = devices.filter(confirmed=False).first()
    return {
        "totp_device": confirmed,
        "totp_pending": pending,
        "totp_qr": _qr_data_uri(pending) if pending else "",
        "totp_key": _grouped_key(pending) if pending else "",
        "totp_required": second_factor_required(user),
    }


def start(user: Any) -> None:
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


def confirm(request: HttpRequest, user: Any) -> None:
    token = "".join(request.POST.get("otp_token", "").split())
    with transaction.atomic():
        pending = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if pending is None or not token or not pending.verify_token(token):
            messages.error(
                request,
                _(
                    "That code did not match. Enter the code your app shows now (and check "
                    "that your phone's clock is right)."
                ),
            )
            return
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()  # replaced
        pending.confirmed = True
        pending.save(update_fields=["confirmed"])
    otp_login(request, pending)
    messages.success(request, _("Your authenticator app is set up: sign in with its code."))


def remove(request: HttpRequest, user: Any) -> None:
    if second_factor_required(user):
        messages.error(
            request,
            _("A superuser must keep an authenticator app here: set up a new one instead."),
        )
        return
    TOTPDevice.objects.filter(user=user).delete()
    messages.success(request, _("Your authenticator app is removed."))
