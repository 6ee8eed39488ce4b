"""The portal's sections, each declared once (see portal/sections/declaration.py).

`SECTIONS` is the order of the navigation and the dashboard; portal/urls.py routes each
one to the generic views, and the access matrix (tests/security) derives its cells from
the same declarations.
"""

from portal.sections.cases import CASES
from portal.sections.declaration import Column, Row, Section, Texts
from portal.sections.documents import DOCUMENTS
from portal.sections.invoices import INVOICES
from portal.sections.quotes import QUOTES

SECTIONS: tuple[Section, ...] = (INVOICES, QUOTES, DOCUMENTS, CASES)

__all__ = [
    "CASES",
    "DOCUMENTS",
    "INVOICES",
    "QUOTES",
    "SECTIONS",
    "Column",
    "Row",
    "Section",
    "Texts",
]
