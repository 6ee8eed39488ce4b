"""Validation for what staff enter in the portal settings."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MIN_CONTRAST_WITH_WHITE = 4.5  # WCAG 2.2 AA for normal text
MAX_LOGO_BYTES = 512 * 1024
MAX_STAGES = 50
MAX_STAGE_LENGTH = 100

# Magic numbers of the raster formats we accept. SVG is refused: it can carry script.
_SIGNATURES: list[tuple[str, bytes, int]] = [
    ("image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("image/jpeg", b"\xff\xd8\xff", 0),
    ("image/webp", b"WEBP", 8),
]


def _channel(value: int) -> float:
    srgb = value / 255
    return srgb / 12.92 if srgb <= 0.04045 else ((srgb + 0.055) / 1.055) ** 2.4


def relative_luminance(hex_color: str) -> float:
    red, green, blue = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(red) + 0.7152 * _channel(green) + 0.0722 * _channel(blue)


def contrast_with_white(hex_color: str) -> float:
    return 1.05 / (relative_luminance(hex_color) + 0.05)


def validate_primary_color(value: str) -> None:
    if not isinstance(value, str) or not HEX_COLOR.match(value):
        raise ValidationError(
            _("Enter a colour as # and six hexadecimal digits, for example #1f5fa8."),
            code="invalid_color",
        )
    ratio = contrast_with_white(value)
    if ratio < MIN_CONTRAST_WITH_WHITE:
        raise ValidationError(
            _(
                "White text on %(color)s has a contrast of only %(ratio).2f:1; "
                "at least 4.5:1 is needed so everyone can read buttons and the header. "
                "Choose a darker colour."
            ),
            code="low_contrast",
            params={"color": value, "ratio": ratio},
        )


def validate_stage_list(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(_("Enter a list of stage names."), code="invalid_stages")
    if len(value) > MAX_STAGES:
        raise ValidationError(_("At most 50 stages."), code="too_many_stages")
    cleaned = [item.strip() for item in value]
    if any(not item or len(item) > MAX_STAGE_LENGTH for item in cleaned):
        raise ValidationError(
            _("Each stage needs a name of 1 to 100 characters."), code="invalid_stage"
        )
    if len({item.casefold() for item in cleaned}) != len(cleaned):
        raise ValidationError(_("A stage is listed twice."), code="duplicate_stage")


def validate_language_list(value: object) -> None:
    """The languages staff offer: codes the portal has catalogues for, each once."""
    known = {code for code, _name in settings.LANGUAGES}
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(_("Enter a list of language codes."), code="invalid_languages")
    if not value:
        raise ValidationError(_("Offer at least one language."), code="no_languages")
    unknown = [item for item in value if item not in known]
    if unknown:
        raise ValidationError(
            _("The portal has no translation for: %(codes)s."),
            code="unknown_language",
            params={"codes": ", ".join(unknown)},
        )
    if len(set(value)) != len(value):
        raise ValidationError(_("A language is listed twice."), code="duplicate_language")


def validate_sha256_hex(value: str) -> None:
    if not SHA256_HEX.match(value or ""):
        raise ValidationError(_("Expected 64 lowercase hexadecimal digits."), code="invalid_hash")


def sniff_image_type(head: bytes) -> str | None:
    """The image type the bytes really are (PNG, JPEG or WebP), whatever the file is called."""
    for content_type, signature, offset in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            if content_type == "image/webp" and not head.startswith(b"RIFF"):
                continue
            return content_type
    return None


def logo_too_large(size: int) -> ValidationError:
    return ValidationError(
        _("The logo is %(size)d KB; at most 512 KB is allowed."),
        code="logo_too_large",
        params={"size": (size + 1023) // 1024},
    )


def validate_logo(data: bytes) -> str:
    """Check an uploaded logo and answer its real content type."""
    if len(data) > MAX_LOGO_BYTES:
        raise logo_too_large(len(data))
    content_type = sniff_image_type(data[:16])
    if content_type is None:
        if b"<svg" in data[:1024].lower():
            raise ValidationError(
                _("SVG logos are not accepted (they can carry scripts). Use PNG, JPEG or WebP."),
                code="logo_svg",
            )
        raise ValidationError(
            _("This file is not a PNG, JPEG or WebP image."), code="logo_not_image"
        )
    return content_type


# --- The contact's profile and personal data (issue 16)
def _validate_names(value: object, allowed: frozenset[str], what: str) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(_("Enter a list of field names."), code="invalid_fields")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ValidationError(
            _("Not %(what)s: %(names)s. Choose from %(allowed)s."),
            code="unknown_fields",
            params={
                "what": what,
                "names": ", ".join(unknown),
                "allowed": ", ".join(sorted(allowed)),
            },
        )


def validate_profile_fields(value: object) -> None:
    from crm_gateway import PROFILE_EDITABLE_FIELDS

    _validate_names(
        value, frozenset(PROFILE_EDITABLE_FIELDS), _("a profile field contacts may edit")
    )


def validate_erasure_fields(value: object) -> None:
    from crm_gateway import ERASABLE_CONTACT_FIELDS

    _validate_names(value, ERASABLE_CONTACT_FIELDS, _("a personal field the portal erases"))


# --- Support cases (issue 14) -------------------------------------------------------------
MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")
CASE_CONTACT_FIELDS = ("category", "priority")


def validate_media_types(value: object) -> None:
    """A list of bare media types (`application/pdf`); no wildcards, no parameters."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(_("Enter a list of file types."), code="invalid_types")
    if len(value) > MAX_STAGES:
        raise ValidationError(_("At most 50 file types."), code="too_many_types")
    for item in value:
        if not MEDIA_TYPE.match(item.strip().lower()):
            raise ValidationError(
                _("%(type)s is not a file type like application/pdf.") % {"type": item[:80]},
                code="invalid_type",
            )


def validate_case_contact_fields(value: object) -> None:
    if not isinstance(value, list) or not set(value) <= set(CASE_CONTACT_FIELDS):
        raise ValidationError(_("Choose among category and priority."), code="invalid_fields")
