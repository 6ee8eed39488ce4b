"""Finds customer-facing English left in a page, by the catalogues themselves.

The English strings to look for are every msgid extracted from the source
(`portal.catalogues.extract`) whose translation differs from it ("PDF" stays "PDF" in
every language, so it proves nothing). A page leaks one when a text node or a
customer-facing attribute reads as that msgid: short msgids must be the whole text of a
node ("Open", "To"), longer ones (three words or more) may sit inside a node; a msgid with
placeholders matches with anything in their place.
"""

from __future__ import annotations

import functools
import html.parser
import re

from portal import catalogues

ATTRIBUTES = ("aria-label", "title", "placeholder", "alt", "content")
TRIM = " :·()."  # "E-mail: <a>…</a>": a label's text node ends in its punctuation
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd]")


class _Text(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "style"}:
            self._skip += 1
        for name, value in attrs:
            if name in ATTRIBUTES and value and not (tag == "meta" and name == "content"):
                self.nodes.append(value)
            if tag == "input" and name == "value" and dict(attrs).get("type") == "submit":
                self.nodes.append(value or "")

    def handle_endtag(self, tag):
        if tag in {"script", "style"} and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.nodes.append(data)


def _normal(text: str) -> str:
    return " ".join(text.split())


def _same_in(language: str) -> set[str]:
    """The msgids whose catalogue translation is the English itself ("PDF", "Total")."""
    same = set()
    for message in catalogues.read_catalogue(language):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        same.update(msgid for msgid, string in zip(ids, strings, strict=False) if msgid == string)
    return same


@functools.cache
def _english(language: str) -> tuple[tuple[str, re.Pattern[str], bool], ...]:
    """(msgid, pattern, may sit inside a node) for every customer-facing msgid, except
    those the catalogue translates as themselves. Read from the source and the `.po`
    file, not from the running translation: a string missing from the compiled catalogue
    shows in English and must be found."""
    same = _same_in(language)
    found = []
    for entry in catalogues.extract().values():
        for msgid in entry.msgid if isinstance(entry.msgid, tuple) else (entry.msgid,):
            literal = _normal(PLACEHOLDER.sub(" ", msgid))
            if msgid in same or not literal:
                continue
            parts = [re.escape(re.sub(r"\s+", " ", p)) for p in PLACEHOLDER.split(msgid)]
            pattern = re.compile(r"\S.*?".join(parts).replace(r"\ ", r"\s+"))
            found.append((msgid, pattern, len(literal.split()) >= 3))
    return tuple(found)


def untranslated(page: str, language: str, *, text: bool = False) -> list[str]:
    """The msgids a page (HTML, or plain text with `text=True`) shows in English."""
    if text:
        nodes = [_normal(line) for line in page.splitlines()]
    else:
        parser = _Text()
        parser.feed(page)
        nodes = [_normal(node) for node in parser.nodes]
    nodes = [node for node in nodes if node]
    whole = "\n".join(nodes)
    leaks = []
    for msgid, pattern, inside in _english(language):
        if inside:
            if pattern.search(whole):
                leaks.append(msgid)
        elif any(pattern.fullmatch(node) or pattern.fullmatch(node.strip(TRIM)) for node in nodes):
            leaks.append(msgid)
    return leaks
