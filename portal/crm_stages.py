"""Stages in the CRM's own words (issue 13): the staff settings' stages as this CRM's
keys, what a quote's stage means (awaiting, accepted, declined), and the labels a
contact reads.

The settings keep the stages staff chose; a value may be one of this CRM's keys or one
of 1CRM's standard names (the shipped defaults), which stands for the CRM's key with that
name or English label (`crm_gateway.vocabulary`). `resolved(site)` gives the settings as
the pages use them: the stages as keys this CRM knows (a value it does not know stays,
and matches nothing; the admin flags it). A page calls it (or `learn()`) before it
builds rows, so the rows' badges (`label`, `quote_standard`) answer from what this
process learned, without a call.
"""

from __future__ import annotations

from dataclasses import replace

from django.utils import translation

from crm_gateway import Vocabulary, known_vocabulary, learn_vocabulary
from portal.site_settings import SiteSettings

INVOICE_STAGE = ("Invoice", "shipping_stage")
QUOTE_STAGE = ("Quote", "quote_stage")


def _language() -> str:
    return translation.get_language() or "en"


async def learn() -> tuple[Vocabulary, Vocabulary]:
    """The invoice and quote stage vocabularies, labels in the page's language."""
    language = _language()
    invoices = await learn_vocabulary(*INVOICE_STAGE, language)
    quotes = await learn_vocabulary(*QUOTE_STAGE, language)
    return invoices, quotes


async def resolved(site: SiteSettings) -> SiteSettings:
    """The settings with the stages contacts see as this CRM's keys."""
    invoices, quotes = await learn()
    return replace(
        site,
        invoice_stages=invoices.resolve(site.invoice_stages),
        quote_stages=quotes.resolve(site.quote_stages),
    )


def vocabulary(model: str, field: str) -> Vocabulary:
    return known_vocabulary(model, field, _language())


def quote_standard(key: str | None) -> str | None:
    """The standard name (`Closed Accepted`) a quote's stage key stands for."""
    return vocabulary(*QUOTE_STAGE).standard_of(key)


def label(model: str, field: str, key: str | None) -> str:
    """A stage's label in the page's language, as the CRM gives it (else the key)."""
    return vocabulary(model, field).label(key)
