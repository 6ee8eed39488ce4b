"""The dashboard's balance box: the account's balance and aging, cached per account
(issue 18, "Cost as work grows").

The figures are the statement's (issue 15): every open invoice of the account, read by
`ledger.read_open_items` within the staff's `statement_max_records` cap, summed per
currency into the aging buckets. That reading grows with the account (16 CRM calls for
10,000 invoices), and the CRM offers no sum (the reference has none: `/reports/*` are
archived report runs, and a list's `total_results` counts, it does not add), so the
summary, and only the summary, is kept in the shared cache (Redis in production) for
`DASHBOARD_BALANCE_TTL` seconds (10 minutes by default; 0 turns the cache off):

* **whose**: the key is made of the session's account id (the contact's own id for a
  contact without an account, whose scope is their own invoices), never of anything
  in the request, with the data-access mode, the CRM's URL, the day (the aging is as of
  today) and the settings that decide the figure (the shipping stages contacts see, the
  record cap). The entry names its scope again and is used only when that matches.
  Colleagues share their account's figure: the portal shows them the same invoices.
* **how**: computed on a miss by the visiting contact's own gateway (the credential and
  scope the page has always used, in every data-access mode), by the same code as
  before. A failed reading is not kept: the box shows its error, and the next visit tries
  again. Two contacts of an account arriving together may both compute it once.
* **how old**: at most the TTL. The entry carries when its reading started, and is
  used only while younger than the TTL by this process's clock (the cache's own expiry,
  the same TTL, is the backstop across processes); the box then says "as of" that time.
  A payment entered in the CRM shows on the dashboard within the TTL; the statement
  page always reads the CRM itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from crm_gateway import ContactGateway
from portal import request_cache
from portal.site_settings import SiteSettings
from portal.statement.ledger import (
    BUCKET_KEYS,
    Budget,
    CurrencyStatement,
    OpenItem,
    Reading,
    by_currency,
    read_open_items,
)

logger = logging.getLogger(__name__)

VERSION = 1
_PREFIX = f"portal:balance:v{VERSION}:"
DATA_ACCESS_MODES = frozenset({"contact_token", "portal_auth", "staff"})


def _clock() -> float:
    """Wall-clock seconds (tests move it; entries are shared between processes)."""
    return time.time()


def ttl() -> int:
    return max(0, int(settings.DASHBOARD_BALANCE_TTL))


@dataclass(frozen=True, slots=True)
class BalanceScope:
    """Whose figure: from the signed-in contact's session, never from the request.

    With the staff credential the portal itself scopes the reading to the account, so
    the account's contacts share one figure. With a contact's own token (the
    `contact_token` and `portal_auth` modes) the CRM decides what that token sees, and
    it may see less than the whole account: the figure is then the contact's own."""

    contact_id: str  # "" when the account's contacts share the figure
    account_id: str
    data_access: str

    @classmethod
    def of(cls, contact_id: str, account_id: str, data_access: str) -> BalanceScope | None:
        mode = data_access or settings.ONECRM_DATA_ACCESS
        mode = mode if mode in DATA_ACCESS_MODES else "portal_auth"  # as crm_data does
        if account_id and mode == "staff":
            return cls("", account_id, mode)
        return cls(contact_id, account_id, mode) if contact_id else None

    def as_list(self) -> list[str]:
        return [self.contact_id, self.account_id, self.data_access]


def cache_key(scope: BalanceScope, site: SiteSettings, day: dt.date) -> str:
    """The entry of this scope's figure today, under these settings (the staff's own
    values, as saved: the same before and after the CRM's stage keys are learned)."""
    parts = (
        settings.ONECRM_API_URL,
        *scope.as_list(),
        day.isoformat(),
        str(site.statement_max_records),
        *sorted(site.invoice_stages),
    )
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return _PREFIX + digest


@dataclass
class Balance:
    """What the box shows: the balance and aging per currency, the counts, whether the
    cap stopped the reading, and, when the figure came from the cache, as of when."""

    aging: list[CurrencyStatement] = field(default_factory=list)
    overdue: int = 0
    open: int = 0
    at_least: bool = False  # the cap stopped the reading: there may be more
    read: int = 0  # invoices read for it
    computed_at: float = 0.0
    cached: bool = False

    @property
    def balances(self) -> list[tuple[str, Decimal]]:
        return [(part.currency, part.total_due) for part in self.aging]

    @property
    def as_of(self) -> dt.datetime | None:
        """When the figure's reading started, if it came from the cache (UTC)."""
        if not self.cached:
            return None
        return dt.datetime.fromtimestamp(self.computed_at, dt.UTC)

    @property
    def as_of_iso(self) -> str:
        moment = self.as_of
        return moment.isoformat(timespec="seconds") if moment is not None else ""

    def to_cache(self, scope: BalanceScope) -> dict[str, Any]:
        """Plain data (pickles across versions): Decimals as strings."""
        return {
            "scope": scope.as_list(),
            "at": self.computed_at,
            "aging": [
                [part.currency, [str(part.aging[key]) for key in BUCKET_KEYS]]
                for part in self.aging
            ],
            "overdue": self.overdue,
            "open": self.open,
            "at_least": self.at_least,
            "read": self.read,
        }

    @classmethod
    def from_cache(cls, data: Any, scope: BalanceScope, now: float) -> Balance | None:
        """The cached figure, if it is this scope's and younger than the TTL."""
        if not isinstance(data, dict) or data.get("scope") != scope.as_list():
            return None
        try:
            at = float(data["at"])
            if not now - at < ttl():
                return None
            aging = []
            for currency, amounts in data["aging"]:
                if len(amounts) != len(BUCKET_KEYS):
                    return None
                part = CurrencyStatement(str(currency))
                part.aging = {key: Decimal(a) for key, a in zip(BUCKET_KEYS, amounts, strict=True)}
                aging.append(part)
            return cls(
                aging=aging,
                overdue=int(data["overdue"]),
                open=int(data["open"]),
                at_least=bool(data["at_least"]),
                read=int(data["read"]),
                computed_at=at,
                cached=True,
            )
        except (KeyError, TypeError, ValueError, InvalidOperation):
            return None


async def compute_balance(
    gateway: ContactGateway, site: SiteSettings, today: dt.date, started: float
) -> Balance:
    """The statement's open items, within its cap, summed (Decimal) per currency."""
    budget = Budget(site.statement_max_records)
    reading = await read_open_items(gateway, site, today, budget)
    return summarize(reading, read=budget.read, started=started)


def summarize(reading: Reading[OpenItem], *, read: int = 0, started: float = 0.0) -> Balance:
    """Balance per currency (Decimal sums, never float), the overdue count and the aging
    per currency for the box's one line."""
    return Balance(
        aging=by_currency(reading.items),
        overdue=sum(item.days_past_due > 0 for item in reading.items),
        open=len(reading.items),
        at_least=reading.stopped,
        read=read,
        computed_at=started,
    )


def request_scope(request: HttpRequest) -> BalanceScope | None:
    """The signed-in contact's scope (the session's ids, as `contact_required` loaded them)."""
    contact = request.contact  # type: ignore[attr-defined]
    return BalanceScope.of(contact.contact_id, contact.account_id, contact.data_access)


async def account_balance(
    request: HttpRequest,
    gateway: ContactGateway,
    saved: SiteSettings,
    site: SiteSettings,
    today: dt.date,
) -> Balance:
    """The box's figure: from the cache while it is younger than the TTL, else read
    with the contact's gateway and kept. `saved` is the staff settings as saved (the
    key), `site` the same with the stages as this CRM's keys (the reading)."""
    scope = request_scope(request)
    lifetime = ttl()
    if scope is None or not lifetime:
        return await compute_balance(gateway, site, today, _clock())
    key = cache_key(scope, saved, today)
    found = Balance.from_cache(await request_cache.aget(key), scope, _clock())
    if found is not None:
        return found
    balance = await compute_balance(gateway, site, today, _clock())
    await request_cache.aset(key, balance.to_cache(scope), timeout=lifetime)
    return balance


@functools.cache
def _dashboard_path() -> str:
    """Reversed once a process: request_state asks on every request, twice."""
    from django.urls import reverse

    return reverse("dashboard")


def prefetch_key(path: str, site: SiteSettings, scope: BalanceScope | None, today: dt.date) -> str:
    """The key the dashboard will read, for the page's one cache round trip
    (portal/request_state.py): only on the dashboard, "" elsewhere."""
    if scope is None or not ttl() or path != _dashboard_path():
        return ""
    return cache_key(scope, site, today)


__all__ = [
    "Balance",
    "BalanceScope",
    "account_balance",
    "cache_key",
    "compute_balance",
    "prefetch_key",
    "summarize",
]
