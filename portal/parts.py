"""A failed part is not a failed page.

A page reads its main record first (a 404 or the friendly 502/503 page when that fails);
the parts it reads beside it (a dashboard box, a detail page's items or payments) are
gathered with `return_exceptions=True`, and each one that failed with a CRM error is
shown as its own box with a retry (`portal/includes/box_error.html`), with status 200.
"""

from __future__ import annotations

import logging
from typing import Any

from crm_gateway import errors

logger = logging.getLogger("portal")


def part_failed(part: Any, name: str = "") -> bool:
    """Whether a part of a page failed with a CRM error (shown in its box). Signing in
    again, and bugs, are for the whole page (middleware, 500 page): they are raised."""
    if not isinstance(part, BaseException):
        return False
    if isinstance(part, errors.CrmError) and not isinstance(part, errors.ReauthenticationRequired):
        logger.warning("a part of the page (%s) failed, shown as its box: %s", name, part)
        return True
    raise part
