"""The translation catalogues: which strings are customer-facing, and keeping
`locale/<lang>/LC_MESSAGES/django.po` and its compiled `django.mo` in step with them.

Django's `makemessages`/`compilemessages` need GNU gettext (`xgettext`, `msgfmt`), which a
newcomer's machine may lack. So the portal commits the compiled `.mo` files (Django reads
them as they are: nothing to build on a fresh machine) and does the extracting and the
compiling with Babel, a pure-Python library (a test dependency: production only reads the
`.mo` files). Templates go through Django's own `templatize()`, the step `makemessages`
runs before `xgettext`, so `{% translate %}`, `{% blocktranslate %}` and `_("...")` in
filter arguments are read exactly as Django reads them.

Customer-facing means: every template and module except the staff admin's, which Django's
own catalogues translate (new code is customer-facing unless listed below as staff's).

`uv run manage.py translations` updates the catalogues and compiles them;
tests/i18n/test_catalogues.py fails when a string has no translation, an entry is fuzzy
or a `.mo` file is older than its `.po`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
LOCALE_DIR = ROOT / "locale"
DOMAIN = "django"
# The languages with a catalogue; English is the source language.
TRANSLATED = ("de", "fr")

# Where customer-facing strings live: templates, the portal's code, the emulator's
# sign-in page (the demo shows it to contacts).
TEMPLATE_DIRS = ("templates",)
PYTHON_DIRS = ("portal", "crm_emulator")
# The staff side: Django's admin and what only staff see.
STAFF_ONLY = (
    "templates/admin/",
    "portal/admin.py",
    "portal/admin_site.py",
    "portal/staff_login.py",
    "portal/staff_oauth.py",
    "portal/staff_totp.py",
    "portal/connection_check.py",
    "portal/validators.py",
    "portal/models.py",
    "portal/catalogues.py",
    "portal/migrations/",
    "portal/management/",
    "portal/templatetags/portal_admin.py",
    "crm_emulator/management/",
    "crm_emulator/migrations/",
)
# gettext's keywords as Django's makemessages passes them to xgettext.
KEYWORDS: dict[str, Any] = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "gettext_noop": None,
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "npgettext_lazy": ((1, "c"), 2, 3),
}


@dataclass
class Found:
    """One translatable string and where it is used."""

    msgid: str | tuple[str, str]
    context: str | None
    locations: list[tuple[str, int]] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        singular = self.msgid[0] if isinstance(self.msgid, tuple) else self.msgid
        return f"{self.context}\x04{singular}" if self.context else singular


def _staff_only(relative: str) -> bool:
    return relative.startswith(STAFF_ONLY)


def customer_sources() -> Iterator[tuple[str, Path]]:
    for folder in TEMPLATE_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            relative = path.relative_to(ROOT).as_posix()
            if path.suffix in {".html", ".txt"} and not _staff_only(relative):
                yield relative, path
    for folder in PYTHON_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if not _staff_only(relative):
                yield relative, path


def _python_code(relative: str, path: Path) -> str:
    source = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return source
    from django.utils.translation.template import templatize

    # templatize() writes code for xgettext, which ignores indentation; Python's
    # tokenizer (Babel's) does not, and nothing translatable depends on it.
    code = templatize(source, origin=relative)
    return "\n".join(line.lstrip() for line in code.splitlines())


def extract() -> dict[str, Found]:
    """Every customer-facing msgid, by key (context and singular)."""
    from babel.messages.extract import extract_python

    found: dict[str, Found] = {}
    for relative, path in customer_sources():
        code = io.BytesIO(_python_code(relative, path).encode("utf-8"))
        for lineno, funcname, messages, _comments in extract_python(
            code, KEYWORDS, [], {"encoding": "utf-8"}
        ):
            item = _message(messages, str(funcname))
            if item is None:
                continue
            msgid, context = item
            entry = Found(msgid, context)
            entry = found.setdefault(entry.key, entry)
            entry.locations.append((relative, lineno))
            if "%(" in entry.key or "%s" in entry.key:
                entry.flags.add("python-format")
    return found


def _message(messages: Any, funcname: str) -> tuple[str | tuple[str, str], str | None] | None:
    """babel's raw tuple into (msgid or (singular, plural), context)."""
    spec = KEYWORDS.get(funcname)
    values = messages if isinstance(messages, tuple) else (messages,)
    context = None
    if spec and isinstance(spec[0], tuple):  # pgettext family: the context comes first
        context, values = values[0], values[1:]
    texts = [value for value in values if isinstance(value, str)]
    if not texts or not texts[0]:
        return None
    if len(texts) >= 2:
        return (texts[0], texts[1]), context
    return texts[0], context


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str) -> Path:
    return po_path(language).with_suffix(".mo")


def read_catalogue(language: str) -> Any:
    from babel.messages.pofile import read_po

    with po_path(language).open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def update(languages: tuple[str, ...] = TRANSLATED) -> None:
    """Bring each `.po` in line with the source: new strings added untranslated, strings
    no longer used dropped, translations kept. No fuzzy guessing: a guess is not a
    translation, and the completeness test would refuse it anyway."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    template = Catalog(domain=DOMAIN)
    for entry in extract().values():
        template.add(
            entry.msgid, locations=entry.locations, flags=entry.flags, context=entry.context
        )
    for language in languages:
        path = po_path(language)
        if path.exists():
            catalogue = read_catalogue(language)
        else:
            catalogue = Catalog(locale=language, domain=DOMAIN)
        created = catalogue.creation_date  # not "now" on every run: diffs show real changes
        catalogue.update(template, no_fuzzy_matching=True, update_header_comment=False)
        catalogue.creation_date = created
        catalogue.obsolete.clear()
        catalogue.project = "1CRM customer portal"
        catalogue.version = ""
        catalogue.header_comment = "# The 1CRM customer portal's customer-facing texts.\n#"
        catalogue.msgid_bugs_address = ""
        catalogue.last_translator = "1CRM portal developers"
        catalogue.language_team = language
        catalogue.fuzzy = False
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            # File names without line numbers (like xgettext's --add-location=file): an
            # edit elsewhere in a file does not touch the catalogues, nor conflict in them.
            write_po(
                handle,
                catalogue,
                width=100,
                sort_output=True,
                include_previous=False,
                include_lineno=False,
            )


def compile_catalogue(language: str) -> bytes:
    """The `.mo` bytes for a `.po` (fuzzy entries left out, as msgfmt does)."""
    from babel.messages.mofile import write_mo

    buffer = io.BytesIO()
    write_mo(buffer, read_catalogue(language), use_fuzzy=False)
    return buffer.getvalue()


def compile_all(languages: tuple[str, ...] = TRANSLATED) -> None:
    for language in languages:
        mo_path(language).write_bytes(compile_catalogue(language))
