"""Files: uploads and seeded files on disk under `<data dir>/emulator/files`, streamed on
download; the large demo document is generated chunk by chunk, never stored.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

from django.core import signing
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse

from crm_emulator import store
from crm_emulator.auth import data_dir
from crm_emulator.demo_data import large_file_chunks
from crm_emulator.errors import ApiError
from crm_emulator.models import StoredFile

CHUNK = 256 * 1024
BASE64_LIMIT = 1048576
DRAIN_LIMIT = 64 * 1024 * 1024
TEMP_URL_TTL = 300
PATTERN_GENERATOR = "pattern"


def files_dir() -> Path:
    path = data_dir() / "files"
    path.mkdir(parents=True, exist_ok=True)
    return path


def valid_filename(name: str) -> str:
    name = (name or "").strip()
    if not name or "/" in name or "\\" in name or name in {".", ".."} or "\x00" in name:
        raise ApiError(400, "invalid_parameter", "A file name without path information is required")
    if len(name) > 255:
        raise ApiError(400, "invalid_parameter", "The file name is too long")
    return name


def save_bytes_stream(name: str, mimetype: str, chunks: Iterator[bytes]) -> StoredFile:
    file_id = str(uuid.uuid4())
    target = files_dir() / file_id
    size = 0
    with target.open("wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
            size += len(chunk)
    return StoredFile.objects.create(
        file_id=file_id,
        name=name,
        mimetype=mimetype or "application/octet-stream",
        size=size,
        modified=int(time.time()),
    )


def save_bytes(name: str, mimetype: str, content: bytes) -> StoredFile:
    return save_bytes_stream(name, mimetype, iter([content]))


def register_generated(name: str, mimetype: str, size: int) -> StoredFile:
    return StoredFile.objects.create(
        file_id=str(uuid.uuid4()),
        name=name,
        mimetype=mimetype,
        size=size,
        modified=int(time.time()),
        generator=PATTERN_GENERATOR,
    )


def upload(request: HttpRequest) -> JsonResponse:
    """`POST /files/upload`: the raw body is the file, X-OneCRM-Filename names it."""
    # Names that are not printable ASCII come percent-encoded (UTF-8), as on downloads.
    name = valid_filename(unquote(request.headers.get("X-OneCRM-Filename", "")))
    mimetype = (request.content_type or "application/octet-stream").split(";")[0].strip()
    if mimetype in {"", "application/x-www-form-urlencoded", "multipart/form-data"}:
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"

    def body() -> Iterator[bytes]:
        while chunk := request.read(CHUNK):
            yield chunk

    stored = save_bytes_stream(name, mimetype, body())
    return JsonResponse({"id": stored.file_id})


def upload_base64(request: HttpRequest) -> JsonResponse:
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > BASE64_LIMIT:
        # Read the body away first: answering while the client still sends it would make
        # most clients see a broken connection instead of the 413.
        drained = 0
        while drained < DRAIN_LIMIT and (chunk := request.read(CHUNK)):
            drained += len(chunk)
        raise ApiError(
            413,
            "request_too_large",
            f"The request body must not exceed {BASE64_LIMIT} bytes",
            hint="Use /files/upload for larger files",
        )
    raw = request.read(BASE64_LIMIT + 1)
    if len(raw) > BASE64_LIMIT:
        raise ApiError(413, "request_too_large", "The request body is too large")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise ApiError(400, "invalid_request", "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object")
    name = valid_filename(str(body.get("filename") or ""))
    mimetype = body.get("mimetype")
    if not isinstance(mimetype, str) or not mimetype:
        raise ApiError(400, "invalid_parameter", "mimetype is required")
    try:
        content = base64.b64decode(str(body.get("data") or ""), validate=True)
    except binascii.Error:
        raise ApiError(400, "invalid_parameter", "data is not valid base64") from None
    return JsonResponse({"id": save_bytes(name, mimetype, content).file_id})


def stored_file(file_id: str) -> StoredFile | None:
    return StoredFile.objects.filter(file_id=file_id).first() if file_id else None


def file_of(model: str, record: dict) -> StoredFile:
    """The file behind a Document, Note or DocumentRevision record (404 if it has none)."""
    stored = stored_file(str(record.get("_file_id") or ""))
    if stored is None and model == "Document":
        revision = store.get("DocumentRevision", str(record.get("document_revision_id") or ""))
        if revision is not None:
            stored = stored_file(str(revision.get("_file_id") or ""))
    if stored is None:
        raise ApiError(404, "not_found", f"{model} {record.get('id')} has no file")
    return stored


def content_disposition(name: str) -> str:
    """RFC 6266: an ASCII fallback plus `filename*` in UTF-8 when the name is not ASCII."""
    fallback = name.encode("ascii", "replace").decode().replace("?", "_")
    fallback = fallback.replace("\\", "_").replace('"', "_")
    # Control characters (CR/LF) cannot go into a header: the exact name is in filename*.
    fallback = "".join(char if char.isprintable() else "_" for char in fallback)
    header = f'attachment; filename="{fallback}"'
    if fallback != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


def header_filename(name: str) -> str:
    """X-OneCRM-Filename: the name as is when printable ASCII, else percent-encoded UTF-8."""
    if name.isascii() and name.isprintable():
        return name
    return quote(name, safe="")


def _chunks_of(stored: StoredFile) -> Iterator[bytes]:
    if stored.generator == PATTERN_GENERATOR:
        yield from large_file_chunks(stored.size, CHUNK)
        return
    with (files_dir() / stored.file_id).open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def download_response(stored: StoredFile) -> StreamingHttpResponse:
    if not stored.generator and not (files_dir() / stored.file_id).exists():
        raise ApiError(404, "not_found", "The file is missing on the server")
    response = StreamingHttpResponse(_chunks_of(stored), content_type=stored.mimetype)
    response["Content-Length"] = str(stored.size)
    response["Content-Disposition"] = content_disposition(stored.name)
    response["X-OneCRM-Filename"] = header_filename(stored.name)
    response["Cache-Control"] = "private, no-store"
    return response


def info(stored: StoredFile, temp_url: str) -> dict:
    return {
        "name": stored.name,
        "size": stored.size,
        "mimetype": stored.mimetype,
        "mime_type": stored.mimetype,
        "modified": stored.modified,
        "temp_url": temp_url,
    }


_signer = signing.TimestampSigner(salt="crm_emulator.temp_url")


def temp_token(file_id: str) -> str:
    return _signer.sign(file_id)


def file_from_temp_token(token: str) -> StoredFile:
    try:
        file_id = _signer.unsign(token, max_age=TEMP_URL_TTL)
    except signing.BadSignature:
        raise ApiError(404, "not_found", "The temporary URL is invalid or has expired") from None
    stored = stored_file(file_id)
    if stored is None:
        raise ApiError(404, "not_found", "The file no longer exists")
    return stored
