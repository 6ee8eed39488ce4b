"""The catalogues are complete, current and compiled: a customer-facing string without a
German or French translation, a fuzzy entry, a stale entry or a `.mo` file that does not
match its `.po` fails here. Fix with `uv run manage.py translations`, then translate."""

from __future__ import annotations

import ast
import gettext
import io
import re

import pytest

from portal import catalogues

LANGUAGES = catalogues.TRANSLATED
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd]")


@pytest.fixture(scope="module")
def source() -> dict[str, catalogues.Found]:
    return catalogues.extract()


def _where(entry: catalogues.Found) -> str:
    return ", ".join(f"{path}:{line}" for path, line in entry.locations[:3])


def test_the_source_has_customer_facing_strings_from_templates_and_code(source):
    """The extraction reads what it should (a broken extraction would pass everything)."""
    assert len(source) > 200
    places = {path for entry in source.values() for path, _ in entry.locations}
    assert "templates/base.html" in places
    assert "templates/portal/email/sign_in_link.txt" in places
    assert "portal/views/signin.py" in places
    assert "crm_emulator/oauth.py" in places
    assert not any(path.startswith("templates/admin/") for path in places)
    assert "Skip to main content" in source
    assert "Sign in to %(name)s" in source  # from a {% blocktranslate %}
    assert "file size\x04KB" in source  # pgettext keeps its context


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_customer_facing_string_is_translated(source, language):
    catalogue = catalogues.read_catalogue(language)
    missing = []
    for key, entry in source.items():
        message = catalogue.get(
            entry.msgid[0] if isinstance(entry.msgid, tuple) else entry.msgid, entry.context
        )
        strings = message.string if message and isinstance(message.string, tuple) else None
        if message is None or not (all(strings) if strings else message.string):
            missing.append(f"{key!r} ({_where(entry)})")
    assert not missing, f"no {language} translation for: " + "; ".join(missing)


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_entry_is_fuzzy_or_stale(source, language):
    catalogue = catalogues.read_catalogue(language)
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy {language} entries (check, then drop the flag): {fuzzy}"
    assert not catalogue.obsolete, f"obsolete {language} entries: {list(catalogue.obsolete)}"
    keys = set(source)
    stale = [
        m.id
        for m in catalogue
        if m.id
        and (f"{m.context}\x04" if m.context else "")
        + (m.id[0] if isinstance(m.id, tuple) else m.id)
        not in keys
    ]
    assert not stale, f"{language} entries no longer in the source: {stale}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_every_placeholder(language):
    catalogue = catalogues.read_catalogue(language)
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) <= wanted, (message.id, string)
            assert set(PLACEHOLDER.findall(ids[0])) - {"%(counter)s"} <= set(
                PLACEHOLDER.findall(string)
            ), (message.id, string)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_committed_mo_file_is_the_compiled_po_file(language):
    """Django reads the committed `.mo`; it must say exactly what the `.po` says."""
    committed = gettext.GNUTranslations(io.BytesIO(catalogues.mo_path(language).read_bytes()))
    compiled = gettext.GNUTranslations(io.BytesIO(catalogues.compile_catalogue(language)))
    assert committed._catalog == compiled._catalog, (  # type: ignore[attr-defined]
        f"locale/{language}/LC_MESSAGES/django.mo is out of date: "
        "run `uv run manage.py translations --compile-only` and commit it"
    )


def test_translation_functions_go_by_names_the_extraction_knows():
    """`from django.utils.translation import gettext as _now` would hide every `_now(...)`
    from the extraction (and from makemessages): only gettext's own names are allowed."""
    strangers = []
    for relative, path in catalogues.customer_sources():
        if path.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "django.utils.translation":
                for alias in node.names:
                    name = alias.asname or alias.name
                    if "gettext" in alias.name and name not in catalogues.KEYWORDS:
                        strangers.append(f"{relative}: {alias.name} as {name}")
    assert not strangers, strangers
