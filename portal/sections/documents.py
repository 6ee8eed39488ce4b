"""Documents: the declaration, the row with its file facts, and the file-info extra.

The CRM's list reply has no size or type: `with_file_info` asks `/files/info` per row
shown (at most `FILE_INFO_CONCURRENCY` at once; a failing one only blanks its cell).
Inline preview is offered, and served inline, only for `PREVIEW_TYPES`; everything else
is an attachment (the gateway's stream_response enforces its own safe list as well).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm_gateway import CheckedRecord, ContactGateway, Document, FileInfo, safe_media_type
from portal.crm_data import bounded_gather
from portal.formatting import CrmLocale, format_date
from portal.listing import ListSpec, SortKey
from portal.models import ActivityKind
from portal.sections import cells
from portal.sections.declaration import Bulk, Column, Section, Texts, fields
from portal.site_settings import SiteSettings

FILE_INFO_CONCURRENCY = 8
PREVIEW_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp"})
IMAGE_TYPES = frozenset(t for t in PREVIEW_TYPES if t.startswith("image/"))
OOXML = "application/vnd.openxmlformats-officedocument"
TYPE_LABELS = {
    "application/pdf": _("PDF"),
    "image/png": _("PNG image"),
    "image/jpeg": _("JPEG image"),
    "image/gif": _("GIF image"),
    "image/webp": _("WebP image"),
    "text/plain": _("Text"),
    "text/csv": _("CSV table"),
    f"{OOXML}.wordprocessingml.document": _("Word document"),
    f"{OOXML}.spreadsheetml.sheet": _("Excel workbook"),
    "application/zip": _("ZIP archive"),
}

SPEC = ListSpec(
    sorts={
        "name": SortKey("document_name", _("Name")),
        "date": SortKey("date_modified", _("Date"), "date"),
    },
    default_sort="date",
    default_dir="desc",
    date_field="date_modified",
    date_label=_("Date"),
)


def type_label(media_type: str, filename: str | None) -> str:
    label = TYPE_LABELS.get(media_type)
    if label:
        return str(label)
    extension = (filename or "").rpartition(".")[2]
    return extension.upper() if extension and extension != filename else gettext("File")


@dataclass(frozen=True, slots=True)
class DocumentRow:
    record: Document
    info: FileInfo | None = None  # from /files/info, when asked

    @classmethod
    def of(cls, record: Document, today: Any = None) -> DocumentRow:
        return cls(record)

    @property
    def filename(self) -> str | None:
        return (self.info.name if self.info else None) or self.record.filename

    @property
    def media_type(self) -> str:
        return safe_media_type(
            (self.info.mimetype if self.info else None) or self.record.file_mime_type
        )

    @property
    def title(self) -> str:
        record = self.record
        return record.document_name or record.name or self.filename or record.id

    @property
    def type_label(self) -> str:
        return type_label(self.media_type, self.filename)

    @property
    def size(self) -> int | None:
        return self.info.size if self.info else None

    @property
    def modified(self) -> Any:
        return self.record.date_modified or self.record.date_entered

    @property
    def previewable(self) -> bool:
        return self.media_type in PREVIEW_TYPES

    @property
    def is_image(self) -> bool:
        return self.media_type in IMAGE_TYPES

    @property
    def download_name(self) -> str:
        return self.record.filename or self.record.document_name or "document"

    @property
    def url(self) -> str:
        return reverse("document", args=[self.record.id])

    @property
    def download_url(self) -> str:
        return reverse("document-download", args=[self.record.id])

    @property
    def preview_url(self) -> str:
        return f"{self.download_url}?inline=1"


async def with_file_info(
    gateway: ContactGateway, checked: list[CheckedRecord[Document]]
) -> list[DocumentRow]:
    infos = await bounded_gather((gateway.file_info(c) for c in checked), FILE_INFO_CONCURRENCY)
    return [DocumentRow(c.record, info) for c, info in zip(checked, infos, strict=True)]


async def detail_extra(
    gateway: ContactGateway, checked: CheckedRecord[Document], site: SiteSettings
) -> dict[str, Any]:
    return {"row": DocumentRow(checked.record, await gateway.file_info(checked))}


def actions(row: DocumentRow, locale: CrmLocale) -> str:
    preview = ""
    if row.previewable:
        preview = format_html(
            ' <a href="{}">{}<span class="visually-hidden"> {}</span></a>',
            row.preview_url,
            gettext("Preview"),
            row.title,
        )
    return format_html(
        '<a href="{}" download>{}<span class="visually-hidden"> {}</span></a>{}',
        row.download_url,
        gettext("Download"),
        row.title,
        preview,
    )


def kind(row: DocumentRow, locale: CrmLocale) -> str:
    return escape(row.type_label)


def modified(row: DocumentRow, locale: CrmLocale) -> str:
    return format_date(row.modified, locale)


DOCUMENTS = Section(
    key="documents",
    one="document",
    model=Document,
    texts=Texts(
        title=_("Documents"),
        caption=_("Your documents"),
        search_hint=_("Document name"),
        all_records=_("All documents"),
        no_match=_("No documents match these filters"),
        no_match_hint=_("Try other words or a wider date range."),
        show_all=_("Show all documents"),
        empty=_("No documents yet"),
        empty_hint=_(
            "Documents we share with you (contracts, manuals, certificates) appear here. "
            "Missing one? Ask us and we will add it."
        ),
    ),
    list_fields=fields(
        "document_name name filename file_mime_type"
        " category_id status_id date_entered date_modified"
    ),
    spec=SPEC,
    columns=(
        Column(_("Name"), cells.title_link, sort="name"),
        Column(_("Type"), kind),
        Column(_("Size"), cells.size("size"), css="num"),
        Column(_("Date"), modified, sort="date"),
        Column(_("Actions"), actions, css="row-actions", label_hidden=True),
    ),
    row=DocumentRow.of,
    download=True,
    bulk=Bulk("documents.zip", lambda row: row.download_name, ActivityKind.DOCUMENTS_ZIP),
    rows_of=with_file_info,
    detail_extra=detail_extra,
)
