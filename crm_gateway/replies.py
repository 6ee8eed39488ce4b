"""The shape of a list reply, checked before anything reads it.

A CRM that answers badly (`records` that is not a list, a `total_results` of "²" or of
5,000 digits) is a BadReply naming the call, never an exception from deep inside a page.
"""

from __future__ import annotations

import re
from typing import Any

from crm_gateway import errors

# ASCII digits only ("²".isdigit() is true, and int() of 5,000 digits raises), and no
# more than a CRM could hold: a count beyond this is a broken reply, not a big account.
_TOTAL = re.compile(r"[0-9]{1,15}")


def records_of(reply: dict[str, Any], path: str) -> tuple[list[dict[str, Any]], int]:
    """The records and the CRM's total of a list reply, or BadReply."""
    records = reply.get("records")
    if not isinstance(records, list) or not all(isinstance(item, dict) for item in records):
        raise errors.BadReply("a list reply without records", method="GET", path=path)
    total = reply.get("total_results", len(records))
    if isinstance(total, bool) or not isinstance(total, int | str):
        raise errors.BadReply("a list reply without a valid total", method="GET", path=path)
    if not _TOTAL.fullmatch(str(total)):
        raise errors.BadReply("a list reply without a valid total", method="GET", path=path)
    return records, int(total)
