"""Attachments from contacts: bounded while they arrive, checked, then streamed to the CRM.

`bounded_uploads(view)` wraps a view that takes files: before the body is parsed it puts
`BoundedUploadHandler` first (the staff's size per file and files per message; a file
over the limit is skipped as it arrives, never stored whole) and spools every file to a
temporary file on disk (never to memory). CSRF is checked after that, by Django's own
CsrfViewMiddleware (it reads the form for the token, so the handlers must be in place
first: the middleware's check is moved into the view, as Django's documentation says).

`check_files()` turns what arrived into clear, translated messages: too large, too many,
a type staff do not allow (by the name's extension and the browser's stated type, both),
a hostile name (control or direction characters, a device name, only dots, too long).
`crm_source(file)` reads a checked file back in chunks for `ContactGateway.upload_file`.
"""

from __future__ import annotations

import asyncio
import functools
import mimetypes
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from portal.site_settings import SiteSettings, settings_for_request

FIELD = "attachments"
CHUNK = 64 * 1024
NAME_MAX = 200
DEVICE_NAMES = frozenset(
    {
        "con",
        "prn",
        "aux",
        "nul",
        *(f"com{n}" for n in range(1, 10)),
        *(f"lpt{n}" for n in range(1, 10)),
    }
)
# Types a browser may state for any file it does not know.
GENERIC_TYPES = frozenset({"", "application/octet-stream"})


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_files: int
    types: frozenset[str]

    @classmethod
    def of(cls, site: SiteSettings) -> UploadLimits:
        return cls(
            site.upload_max_mib * 1024 * 1024, site.upload_max_files, frozenset(site.upload_types)
        )


@dataclass
class Refusals:
    """What the handler skipped while the body arrived."""

    too_large: list[str] = field(default_factory=list)
    too_many: int = 0


class BoundedUploadHandler(FileUploadHandler):
    """Skips (never stores) a file past the size per file, and files past the count."""

    def __init__(self, request: HttpRequest, limits: UploadLimits, refusals: Refusals) -> None:
        super().__init__(request)
        self.limits = limits
        self.refusals = refusals
        self.count = 0
        self.size = 0
        self.skip = False

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        # Skipped only from the first chunk on: by then every handler has opened this
        # file, so Django's skip closes this one (from here, it would close the previous
        # handler's completed file instead).
        super().new_file(field_name, file_name, *args, **kwargs)
        self.size = 0
        self.skip = field_name != FIELD
        if not self.skip:
            self.count += 1
            if self.count > self.limits.max_files:
                self.refusals.too_many += 1
                self.skip = True

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if self.skip:
            raise SkipFile()
        self.size += len(raw_data)
        if self.size > self.limits.max_bytes:
            self.refusals.too_large.append(self.file_name or "")
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def bounded_uploads[V: Callable[..., Awaitable[HttpResponse]]](view: V) -> V:
    # Django's own check, run in the view once the handlers are in place (a sync instance:
    # its process_view answers at once, see portal/async_middleware.py).
    csrf = CsrfViewMiddleware(lambda request: HttpResponse())

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limits = UploadLimits.of(settings_for_request(request))
        refusals = Refusals()
        request.upload_handlers = [  # type: ignore[misc]
            BoundedUploadHandler(request, limits, refusals),
            TemporaryFileUploadHandler(request),
        ]
        request.upload_limits = limits  # type: ignore[attr-defined]
        request.upload_refusals = refusals  # type: ignore[attr-defined]
        # (The view argument only matters for its csrf_exempt mark, which it does not have.)
        refused = csrf.process_view(request, cast(Any, view), args, kwargs)
        if refused is not None:
            return cast(HttpResponse, refused)
        return await view(request, *args, **kwargs)

    return cast(V, csrf_exempt(wrapper))


def media_type_of(name: str) -> str:
    return (mimetypes.guess_type(name, strict=False)[0] or "").lower()


def name_problem(name: str) -> str | None:
    """Why a file name is refused, or None."""
    if not name or not name.strip() or len(name) > NAME_MAX:
        return _("%(name)s: the file name is empty or longer than %(max)d characters.") % {
            "name": name[:40] or "?",
            "max": NAME_MAX,
        }
    if any(unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"} for char in name):
        return _("A file name contains control or direction characters: please rename it.")
    if "/" in name or "\\" in name or set(name) <= {"."} or name.startswith("."):
        return _("%(name)s: please give the file an ordinary name.") % {"name": name[:40]}
    if name.split(".")[0].strip().lower() in DEVICE_NAMES:
        return _("%(name)s: please give the file an ordinary name.") % {"name": name[:40]}
    return None


@dataclass(frozen=True)
class CheckedUpload:
    """A file that may go to the CRM: its name, and the type it goes with."""

    file: UploadedFile
    name: str
    media_type: str


def check_files(request: HttpRequest) -> tuple[list[CheckedUpload], list[str]]:
    """The files that may go to the CRM, and a message for each one that may not."""
    limits: UploadLimits = request.upload_limits  # type: ignore[attr-defined]
    refusals: Refusals = request.upload_refusals  # type: ignore[attr-defined]
    problems: list[str] = []
    max_mib = limits.max_bytes // (1024 * 1024)
    for name in refusals.too_large:
        problems.append(
            _("%(name)s is larger than %(max)d MiB.") % {"name": name[:60], "max": max_mib}
        )
    if refusals.too_many:
        problems.append(
            _("At most %(max)d files can be attached to one message.") % {"max": limits.max_files}
        )
    checked: list[CheckedUpload] = []
    for upload in request.FILES.getlist(FIELD):
        if not upload.size:
            continue  # an empty file input (no file chosen) arrives as an empty part
        name = upload.name or ""
        problem = name_problem(name)
        if problem:
            problems.append(problem)
            continue
        guessed = media_type_of(name)
        stated = (upload.content_type or "").split(";")[0].strip().lower()
        if guessed not in limits.types or (stated not in GENERIC_TYPES and stated != guessed):
            problems.append(
                _("%(name)s: files of this type cannot be attached.") % {"name": name[:60]}
            )
            continue
        checked.append(CheckedUpload(upload, name, guessed))
    return checked, problems


def crm_source(upload: UploadedFile) -> Callable[[], AsyncIterator[bytes]]:
    """Chunks of a spooled upload, read off the event loop; again from the start on each
    call (the gateway resends once after a 401)."""

    async def chunks() -> AsyncIterator[bytes]:
        await asyncio.to_thread(upload.seek, 0)
        while chunk := await asyncio.to_thread(upload.read, CHUNK):
            yield chunk

    return chunks


def allowed_types_hint(site: SiteSettings) -> str:
    """The accepted extensions, for the form's `accept` attribute and its hint."""
    extensions = sorted(
        {ext for ext, kind in mimetypes.types_map.items() if kind in site.upload_types}
    )
    return ",".join(extensions)
